"""Alerts: raised when something touches a current employee (a ban, a certificate
revoked or about to expire), listed for the bureau (all) and the employer (the own),
acknowledged once. Functions take the session and never commit.

An employee is current when the employment has not ended before today (a hire that
starts later is current too). A certificate's alert is raised once per institution.
"""

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from registry.audit import record_event
from registry.auth.models import User
from registry.bans.models import Ban
from registry.credentials.models import Certificate
from registry.db import utcnow
from registry.errors import Conflict, NotFound
from registry.institutions.models import Institution
from registry.messages import _
from registry.paging import Page
from registry.people.models import Person
from registry.people.services import name_of
from registry.staffing.models import Employment
from registry.vocabulary import BAN_CATEGORIES, CERTIFICATE_KINDS, STAFF_ROLES, USER_ROLES

from .models import Alert

# Days before its expiry that a certificate of a current employee raises an alert.
EXPIRING_WITHIN = 30

# What an alert says, Chinese first and the English beside it, from the rows it points
# at. ``{role_zh}`` and ``{kind_zh}`` are the Chinese names of the role and the kind.
MESSAGES = {
    "ban": (
        "{institution_name}在岗{role_zh}{name}已被列入禁止从业名单，请立即停止其从事托育工作，"
        "并联系卫生健康部门。"
        "（{name}, {role} at {institution_name}, is barred from working with children: "
        "take the person off duty now and contact the health bureau.）"
    ),
    "certificate_revoked": (
        "{institution_name}在岗{role_zh}{name}的{kind_zh}（编号 {number}）已于{revoked_on}被撤销，"
        "请核实其是否仍符合岗位要求。"
        "（The {kind} certificate {number} of {name}, {role} at {institution_name}, was "
        "revoked on {revoked_on}: check that the person still qualifies for the post.）"
    ),
    "certificate_expiring": (
        "{institution_name}在岗{role_zh}{name}的{kind_zh}（编号 {number}）将于{expires_on}到期，"
        "请及时办理换证或复审。"
        "（The {kind} certificate {number} of {name}, {role} at {institution_name}, "
        "expires on {expires_on}: have it renewed in time.）"
    ),
    "lookup_misses": (
        "用户 {username}（{user_role_zh}{at_zh}）{day}按证件号码查询人员，已有 {misses} 次未找到，"
        "超过每日提醒阈值，可能在逐个试探证件号码，请核实并视情况停用该账号。"
        "（User {username}, {user_role}{at}, looked up {misses} identity numbers that found "
        "nobody on {day}, more than a day's threshold: someone may be guessing numbers; "
        "check, and deactivate the account if need be.）"
    ),
}


def _current(day: date):
    return sa.or_(Employment.end.is_(None), Employment.end >= day)


def raise_for_ban(session: Session, ban: Ban, employments: list[Employment]) -> list[Alert]:
    """An alert of kind ``ban`` for each of ``employments`` of the banned person."""
    alerts = [
        Alert(kind="ban", ban_id=ban.id, employment_id=e.id, institution_id=e.institution_id)
        for e in employments
    ]
    session.add_all(alerts)
    session.flush()
    return alerts


def _raise_for_certificates(session: Session, kind: str, query: sa.Select) -> list[Alert]:
    """One alert of ``kind`` for each (certificate id, institution id, employment id) row
    of ``query`` that has none yet."""
    query = query.where(
        ~sa.exists().where(
            Alert.kind == kind,
            Alert.certificate_id == Certificate.id,
            Alert.institution_id == Employment.institution_id,
        )
    ).group_by(Certificate.id, Employment.institution_id)
    alerts = [
        Alert(kind=kind, certificate_id=c, institution_id=i, employment_id=e)
        for c, i, e in session.execute(query)
    ]
    session.add_all(alerts)
    session.flush()
    return alerts


def raise_for_lookup_misses(session: Session, user, misses: int, day: date) -> Alert:
    """The bureau's alert that ``user``'s lookups missed ``misses`` times on ``day`` (a
    China day), past the threshold: raised once per user and day, audited; a later miss
    that day only brings its count up to date."""
    alert = session.scalar(
        sa.select(Alert).where(
            Alert.kind == "lookup_misses", Alert.user_id == user.id, Alert.day == day
        )
    )
    if alert is not None:
        alert.misses = misses
        session.flush()
        return alert
    alert = Alert(kind="lookup_misses", user_id=user.id, day=day, misses=misses)
    session.add(alert)
    session.flush()
    record_event(
        session,
        user,
        "alert.raised",
        f"alert:{alert.id}",
        {"kind": "lookup_misses", "user_id": user.id, "day": day.isoformat(), "misses": misses},
    )
    return alert


def _certificate_posts() -> sa.Select:
    # The certificate, each institution employing its holder, and one employment there
    # (the earliest) to name the role.
    return sa.select(Certificate.id, Employment.institution_id, sa.func.min(Employment.id)).join(
        Employment, Employment.person_id == Certificate.person_id
    )


def raise_for_revoked(session: Session, certificate: Certificate, today: date) -> list[Alert]:
    """An alert to each institution employing the holder of a certificate just revoked."""
    return _raise_for_certificates(
        session,
        "certificate_revoked",
        _certificate_posts().where(Certificate.id == certificate.id, _current(today)),
    )


def sweep_expiring(session: Session, actor, today: date) -> list[Alert]:
    """An alert, once, for every valid certificate of an employee in post ``today`` that
    expires within ``EXPIRING_WITHIN`` days (and is not followed by a renewal). Meant
    to run daily; a second run the same day, or any later day, raises nothing again."""
    alerts = _raise_for_certificates(
        session,
        "certificate_expiring",
        _certificate_posts().where(
            Employment.in_post_on(today),
            Certificate.status == "valid",
            Certificate.expires_on >= today,
            Certificate.expires_on <= today + timedelta(days=EXPIRING_WITHIN),
            Certificate.not_superseded(),
        ),
    )
    record_event(
        session,
        actor,
        "alerts.swept",
        f"sweep:{today.isoformat()}",
        {"within": EXPIRING_WITHIN, "alerts": len(alerts)},
    )
    return alerts


# -- reading ------------------------------------------------------------------------------


def _scope(user) -> list:
    """The conditions on ``Alert`` of the alerts ``user`` may read."""
    if getattr(user, "role", None) == "director":
        # The bureau's alerts about users are never an institution's.
        return [Alert.institution_id == user.institution_id, Alert.kind != "lookup_misses"]
    return []


def _query(user, chosen=None) -> sa.Select:
    # One statement for a page: the employment, the person (name), the institution, the
    # certificate and the ban (when the alert is theirs), and who acknowledged it.
    # A lookup_misses alert has no employment: the user it names, and that user's
    # institution, instead. With ``chosen`` (a page of alert ids, already in its order and
    # cut to its length) the joins are made for those alerts only.
    acknowledged_by, subject, subject_at = aliased(User), aliased(User), aliased(Institution)
    query = sa.select(
        Alert,
        Employment,
        Person,
        Institution,
        Certificate,
        Ban,
        acknowledged_by.username,
        subject,
        subject_at,
    )
    if chosen is not None:
        query = query.select_from(chosen).join(Alert, Alert.id == chosen.c.id)
    query = (
        query.outerjoin(Employment, Alert.employment_id == Employment.id)
        .outerjoin(Person, Employment.person_id == Person.id)
        .outerjoin(Institution, Alert.institution_id == Institution.id)
        .outerjoin(Certificate, Alert.certificate_id == Certificate.id)
        .outerjoin(Ban, Alert.ban_id == Ban.id)
        .outerjoin(acknowledged_by, Alert.acknowledged_by_id == acknowledged_by.id)
        .outerjoin(subject, Alert.user_id == subject.id)
        .outerjoin(subject_at, subject.institution_id == subject_at.id)
    )
    if chosen is None:
        query = query.where(*_scope(user)).order_by(Alert.raised_at.desc(), Alert.id.desc())
    else:
        query = query.order_by(chosen.c.rank, chosen.c.raised_at.desc(), chosen.c.id.desc())
    return query


def _newest(conditions: list, rank: int, rows: int | None) -> sa.Subquery:
    """The ids of the alerts meeting ``conditions``, newest first, at most ``rows`` of
    them: read from the newest end of an index on ``(raised_at, id)`` (one for the
    alerts not yet acknowledged, one for the others), not sorted."""
    query = (
        sa.select(Alert.id, Alert.raised_at, sa.literal(rank).label("rank"))
        .where(*conditions)
        .order_by(Alert.raised_at.desc(), Alert.id.desc())
    )
    return (query if rows is None else query.limit(rows)).subquery()


def _chosen(conditions: list, unacknowledged_first: bool, offset: int, rows: int) -> sa.Subquery:
    """The ids of one page of alerts, in the list's order. Unacknowledged first is two
    runs, each of at most ``offset + rows`` alerts read from its own index, put together
    and cut: the page costs its own rows (and those before it), not the district's."""
    if unacknowledged_first:
        parts = [
            _newest([*conditions, Alert.acknowledged_at.is_(None)], 0, offset + rows),
            _newest([*conditions, Alert.acknowledged_at.is_not(None)], 1, offset + rows),
        ]
        both = sa.union_all(*(sa.select(part) for part in parts)).subquery()
        query = sa.select(both).order_by(both.c.rank, both.c.raised_at.desc(), both.c.id.desc())
    else:
        part = _newest(conditions, 0, None)
        query = sa.select(part).order_by(part.c.raised_at.desc(), part.c.id.desc())
    return query.limit(rows).offset(offset).subquery()


def _describe_lookup_misses(alert: Alert, subject: User, at: Institution | None) -> dict:
    facts = {
        "username": subject.username,
        "user_role": subject.role,
        "user_role_zh": USER_ROLES[subject.role],
        "at_zh": f"，{at.name}" if at else "",
        "at": f" at {at.name}" if at else "",
        "day": alert.day,
        "misses": alert.misses,
        "ban_id": None,
        "ban_category": None,
        "ban_category_name": None,
        "certificate_id": None,
        "certificate_kind": None,
        "certificate_number": None,
        "expires_on": None,
        "revoked_on": None,
    }
    return {
        "message": MESSAGES["lookup_misses"].format(**facts),
        "institution": None,
        "institution_name": None,
        "employment_id": None,
        "person_id": None,
        "name": None,
        "role": None,
        "user": subject.username,
        "user_role": subject.role,
        "user_institution": at and at.code,
        "user_institution_name": at and at.name,
        "day": alert.day,
        "misses": alert.misses,
    }


def _describe(row, user) -> dict:
    alert, employment, person, institution, certificate, ban, acknowledged_by, subject, at = row
    common = {
        "id": alert.id,
        "kind": alert.kind,
        "raised_at": alert.raised_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": acknowledged_by,
    }
    if alert.kind == "lookup_misses":
        return common | _describe_lookup_misses(alert, subject, at)
    director = getattr(user, "role", None) == "director"
    name = name_of(person)
    facts = {
        "name": name,
        "role": employment.role,
        "role_zh": STAFF_ROLES[employment.role],
        "institution_name": institution.name,
    }
    if certificate is not None:
        facts |= {
            "kind": certificate.kind,
            "kind_zh": CERTIFICATE_KINDS[certificate.kind],
            "number": certificate.number,
            "revoked_on": certificate.revoked_on,
            "expires_on": certificate.expires_on,
        }
    return {
        "id": alert.id,
        "kind": alert.kind,
        "message": MESSAGES[alert.kind].format(**facts),
        "raised_at": alert.raised_at,
        "institution": institution.code,
        "institution_name": institution.name,
        "employment_id": employment.id,
        "person_id": person.public_id,
        "name": name,
        "role": employment.role,
        # The employer is told whom, not why: a ban's details are the bureau's.
        "ban_id": None if director else alert.ban_id,
        "ban_category": None if director or ban is None else ban.category,
        "ban_category_name": None if director or ban is None else BAN_CATEGORIES[ban.category],
        "certificate_id": alert.certificate_id,
        "certificate_kind": certificate and certificate.kind,
        "certificate_number": certificate and certificate.number,
        "expires_on": certificate and certificate.expires_on,
        "revoked_on": certificate and certificate.revoked_on,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": acknowledged_by,
    }


def list_alerts(
    session: Session,
    user,
    *,
    acknowledged: bool | None = None,
    institution: Institution | None = None,
    kind: str | None = None,
    unacknowledged_first: bool = False,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """Alerts, newest first: all for the bureau, the own institution's for a director;
    only the (un)acknowledged ones, or those of one institution or kind, when asked;
    those not yet acknowledged before the others with ``unacknowledged_first``."""
    conditions = _scope(user)
    if acknowledged is not None:
        conditions.append(
            Alert.acknowledged_at.is_not(None) if acknowledged else Alert.acknowledged_at.is_(None)
        )
    if institution is not None:
        conditions.append(Alert.institution_id == institution.id)
    if kind is not None:
        conditions.append(Alert.kind == kind)
    if page is None:
        query = _query(user).where(*conditions)
        if unacknowledged_first:
            query = query.order_by(None).order_by(
                Alert.acknowledged_at.is_not(None), Alert.raised_at.desc(), Alert.id.desc()
            )
        rows = session.execute(query).all()
        return Page([_describe(row, user) for row in rows], len(rows))
    # Two statements: the count (of the alerts alone: every join is to one row or none),
    # then the page's ids chosen first and joined to what they name.
    total = session.scalar(sa.select(sa.func.count()).select_from(Alert).where(*conditions)) or 0
    offset, rows = (page - 1) * page_size, []
    if offset < total:
        chosen = _chosen(conditions, unacknowledged_first, offset, page_size)
        rows = session.execute(_query(user, chosen)).all()
    return Page([_describe(row, user) for row in rows], total, page, page_size)


def describe_alert(session: Session, user, alert_id: int) -> dict:
    row = session.execute(_query(user).where(Alert.id == alert_id)).first()
    if row is None:
        raise NotFound(_("no alert with id {alert_id}", alert_id=alert_id))
    return _describe(row, user)


def acknowledge(session: Session, user, alert_id: int) -> Alert:
    """Mark an alert as seen, with who and when; a director only the own institution's."""
    alert = session.get(Alert, alert_id)
    director = getattr(user, "role", None) == "director"
    if alert is None or (director and alert.institution_id != user.institution_id):
        raise NotFound(_("no alert with id {alert_id}", alert_id=alert_id))
    if alert.acknowledged_at is not None:
        raise Conflict(_("alert {alert} was already acknowledged", alert=alert.id))
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by_id = getattr(user, "id", None)
    session.flush()
    record_event(
        session,
        user,
        "alert.acknowledged",
        f"alert:{alert.id}",
        {"kind": alert.kind, "ban_id": alert.ban_id, "certificate_id": alert.certificate_id},
    )
    return alert
