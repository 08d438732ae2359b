"""The blacklist: bans, hiring checks, who checked whom, alerts and the yearly
re-screen. Functions take the session and never commit.

A ban is found only through the keyed blind index of the normalised identity number
(under every loaded key, so a rotation under way changes no answer): ``find_ban`` is
the one lookup behind a hiring check, a hire and an eligibility verdict.
"""

import functools
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import clock
from registry.alerts import services as alert_services
from registry.alerts.models import Alert
from registry.audit import record_event
from registry.auth.models import User
from registry.crypto import current_keyring, sealed_identity
from registry.db import utcnow
from registry.errors import Conflict, NotFound
from registry.identity import IdentityNumber
from registry.institutions.models import Institution
from registry.messages import _
from registry.paging import Page, page_of
from registry.people.models import Person
from registry.staffing.models import Employment

from . import receipts
from .models import Ban, BanCheck

NUMBER_CONTEXT = "ban.id_number"
NAME_CONTEXT = "ban.name"


def _indexes(identity: IdentityNumber) -> list[bytes]:
    return list(current_keyring().blind_indexes(identity.canonical).values())


def in_force(*days):
    """An active ban in force on any of ``days`` (dates, or bound parameters for them)."""
    return sa.and_(
        Ban.status == "active",
        sa.or_(
            *(
                sa.and_(Ban.effective_on <= day, sa.or_(Ban.until.is_(None), Ban.until >= day))
                for day in days
            )
        ),
    )


@functools.cache
def _ban_query(what, days: int) -> sa.Select:
    # Built once per shape: a hiring check runs it on every request, and building the
    # expression cost more than the database took to answer it.
    day = [sa.bindparam(f"day{n}", type_=sa.Date()) for n in range(days)]
    return (
        sa.select(what)
        .where(Ban.id_index.in_(sa.bindparam("indexes", expanding=True)), in_force(*day))
        .order_by(Ban.id)
        .limit(1)
    )


def _ban_parameters(identity: IdentityNumber, days: tuple[date, ...]) -> dict:
    return {"indexes": _indexes(identity)} | {f"day{n}": day for n, day in enumerate(days)}


def find_ban(session: Session, identity: IdentityNumber, *days: date) -> Ban | None:
    """An active ban on this number in force on any of ``days``.

    Callers pass the date asked about and today: a ban recorded since a past date
    still bars now, and one that starts later already bars a hire starting then.
    """
    query = _ban_query(Ban, len(days))
    return session.scalars(query, _ban_parameters(identity, days)).first()


def find_ban_id(session: Session, identity: IdentityNumber, *days: date) -> int | None:
    """The id of the ban ``find_ban`` finds, without loading it."""
    query = _ban_query(Ban.__table__.c.id, len(days))
    return session.connection().execute(query, _ban_parameters(identity, days)).scalar()


def is_barred(session: Session, identity: IdentityNumber, *days: date) -> bool:
    return find_ban(session, identity, *days) is not None


# -- bans -------------------------------------------------------------------------------


def add_ban(session: Session, actor, data: dict) -> tuple[Ban, list[Alert]]:
    """Record a ban from validated ``BanSchema`` data, and raise an alert for every
    current employment of the person at once. 409 with the existing id when the number
    is already under an active ban."""
    identity = data["identity"]
    existing = session.scalar(
        sa.select(Ban.id).where(Ban.id_index.in_(_indexes(identity)), Ban.status == "active")
    )
    if existing is not None:
        raise Conflict(_("this number is already under an active ban"), id=existing)
    ban = Ban(
        **sealed_identity(identity, data["name"], NUMBER_CONTEXT, NAME_CONTEXT),
        category=data["category"],
        authority=data["authority"],
        decision_no=data["decision_no"],
        effective_on=data["effective_on"],
        until=data.get("until"),
        created_by_id=getattr(actor, "id", None),
    )
    session.add(ban)
    session.flush()
    alerts = _raise_alerts(session, ban, identity, clock.today())
    record_event(
        session,
        actor,
        "ban.added",
        f"ban:{ban.id}",
        {
            "category": ban.category,
            "authority": ban.authority,
            "decision_no": ban.decision_no,
            "effective_on": ban.effective_on.isoformat(),
            "until": ban.until and ban.until.isoformat(),
            "alerts": [a.id for a in alerts],
        },
    )
    return ban, alerts


def get_ban(session: Session, ban_id: int) -> Ban:
    ban = session.get(Ban, ban_id)
    if ban is None:
        raise NotFound(_("no ban with id {ban_id}", ban_id=ban_id))
    return ban


def revoke_ban(session: Session, actor, ban: Ban, reason: str) -> Ban:
    """Revoke with a reason; the row stays, and checks answer ``clear`` again."""
    if ban.status == "revoked":
        raise Conflict(
            _("ban {ban} was already revoked on {day:%Y-%m-%d}", ban=ban.id, day=ban.revoked_at)
        )
    ban.status = "revoked"
    ban.revoked_at = utcnow()
    ban.revoked_by_id = getattr(actor, "id", None)
    ban.revoked_reason = reason
    session.flush()
    record_event(session, actor, "ban.revoked", f"ban:{ban.id}", {"reason": reason})
    return ban


def describe_ban(ban: Ban, alerts: int | None = None) -> dict:
    """A ban as ``BanSchema`` dumps it, for the bureau: name and masked number decrypted."""
    keyring = current_keyring()
    number = keyring.decrypt(ban.id_number_enc, NUMBER_CONTEXT)
    return {
        "id": ban.id,
        "name": keyring.decrypt(ban.name_enc, NAME_CONTEXT),
        "id_type": ban.id_type,
        "id_number_masked": IdentityNumber(ban.id_type, number).masked,
        "category": ban.category,
        "authority": ban.authority,
        "decision_no": ban.decision_no,
        "effective_on": ban.effective_on,
        "until": ban.until,
        "status": ban.status,
        "revoked_at": ban.revoked_at,
        "revoked_reason": ban.revoked_reason,
        "alerts": alerts,
    }


# -- hiring checks ----------------------------------------------------------------------


@functools.cache
def _insert_check() -> sa.Insert:
    # Built once: every hiring check runs it.
    return sa.insert(BanCheck.__table__).returning(BanCheck.__table__.c.id)


@dataclass(frozen=True)
class StoredCheck:
    """A hiring check as stored (``BanCheck``), what its answer and receipt tell."""

    id: int
    result: str
    checked_at: datetime
    ban_id: int | None


def check(
    session: Session,
    user,
    identity: IdentityNumber,
    *,
    purpose: str | None,
    institution: Institution | None,
    days: tuple[date, ...] = (),
) -> tuple[StoredCheck, str]:
    """Check a number against the bans (on ``days`` and today), store the check (the
    blind index, never the number) and sign a receipt. Returns the check and receipt."""
    ban_id = find_ban_id(session, identity, *days, clock.today())
    row = record_check(session, user, identity, ban_id, purpose=purpose, institution=institution)
    return row, sign_receipt(row, institution, identity)


def record_check(
    session: Session,
    user,
    identity: IdentityNumber,
    ban_id: int | None,
    *,
    purpose: str | None,
    institution: Institution | None,
) -> StoredCheck:
    """Store and audit a check whose answer is ``ban_id`` (None: clear)."""
    keyring = current_keyring()
    result, checked_at = ("barred" if ban_id is not None else "clear"), utcnow()
    check_id = (
        session.connection()
        .execute(
            _insert_check(),
            {
                "user_id": getattr(user, "id", None),
                "institution_id": institution.id if institution is not None else None,
                "id_index": keyring.blind_index(identity.canonical),
                "id_index_kid": keyring.active_blind_kid,
                "purpose": purpose,
                "result": result,
                "ban_id": ban_id,
                "checked_at": checked_at,
                "id_number_masked": identity.masked,
            },
        )
        .scalar_one()
    )
    record_event(
        session,
        user,
        "ban.checked",
        f"check:{check_id}",
        {
            "institution": institution.code if institution is not None else None,
            "purpose": purpose,
            "result": result,
        },
    )
    return StoredCheck(check_id, result, checked_at, ban_id)


def sign_receipt(
    row: StoredCheck, institution: Institution | None, identity: IdentityNumber
) -> str:
    """The signed receipt of a stored check."""
    code = institution.code if institution is not None else None
    return receipts.issue(row, code, identity.masked)


def checks_of(
    session: Session,
    identity: IdentityNumber,
    *,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """The checks made of this number, newest first: who checked the person."""
    found = page_of(
        session,
        sa.select(BanCheck, Institution.code, Institution.name, User.username)
        .outerjoin(Institution, BanCheck.institution_id == Institution.id)
        .outerjoin(User, BanCheck.user_id == User.id)
        .where(BanCheck.id_index.in_(_indexes(identity)))
        .order_by(BanCheck.checked_at.desc(), BanCheck.id.desc()),
        page,
        page_size,
    )
    items = [
        {
            "check_id": c.id,
            "checked_at": c.checked_at,
            "institution": code,
            "institution_name": name,
            "user": username,
            "purpose": c.purpose,
            "result": c.result,
        }
        for c, code, name, username in found.items
    ]
    return Page(items, found.total, page, page_size)


# -- alerts and the yearly re-screen ------------------------------------------------------


def _raise_alerts(session: Session, ban: Ban, identity: IdentityNumber, day: date) -> list[Alert]:
    """An alert for every employment of the banned number not ended before ``day`` (a
    hire that starts later is current too) that has none for this ban yet."""
    employments = session.scalars(
        sa.select(Employment)
        .join(Person, Employment.person_id == Person.id)
        .where(
            Person.id_index.in_(_indexes(identity)),
            sa.or_(Employment.end.is_(None), Employment.end >= day),
            ~sa.exists().where(Alert.ban_id == ban.id, Alert.employment_id == Employment.id),
        )
    ).all()
    return alert_services.raise_for_ban(session, ban, employments)


def rescreen(session: Session, actor, as_of: date) -> dict:
    """The yearly check of 未成年人保护法 art. 62: every employment in post on ``as_of``
    against the bans in force then (or today); an alert for each hit that has none yet.

    A fixed number of statements whatever the number of hits: the count of employments in
    post, one query of the report's columns (with the alert already raised, if any), one
    multi-row insert of the missing alerts (sent in pages of a thousand rows by the
    driver), and the audit event. No ORM object is loaded.
    """
    in_post = session.scalar(
        sa.select(sa.func.count()).select_from(Employment).where(Employment.in_post_on(as_of))
    )
    rows = session.execute(
        sa.select(
            Employment.id,
            Employment.institution_id,
            Institution.code,
            Person.public_id,
            Employment.role,
            Ban.id,
            Alert.id,
        )
        .join(Person, Employment.person_id == Person.id)
        .join(Institution, Employment.institution_id == Institution.id)
        .join(Ban, Ban.id_index == Person.id_index)
        .outerjoin(Alert, sa.and_(Alert.ban_id == Ban.id, Alert.employment_id == Employment.id))
        .where(Employment.in_post_on(as_of), in_force(as_of, clock.today()))
    ).all()
    # Sorted here, not by the database: the hits are few, and an ORDER BY would lead
    # SQLite to walk every employment in institution order instead of starting from
    # the bans in force and reaching the few barred employments through the blind index.
    rows.sort(key=lambda r: (r[1], r[0], r[5], r[6] or 0))
    barred, institution_of = {}, {}
    for employment_id, institution_id, code, public_id, role, ban_id, alert_id in rows:
        # A pair with two alerts (nothing in the schema forbids it: two re-screens at
        # once could raise both) comes back as two rows; the report names the first.
        if (employment_id, ban_id) in barred:
            continue
        institution_of[employment_id] = institution_id
        barred[employment_id, ban_id] = {
            "employment_id": employment_id,
            "institution": code,
            "person_id": public_id,
            "role": role,
            "ban_id": ban_id,
            "alert_id": alert_id,
            "new_alert": alert_id is None,
        }
    missing = [hit for hit in barred.values() if hit["new_alert"]]
    if missing:
        # Matched back by their pair, not by position: ordered RETURNING would make
        # SQLite send the rows one at a time.
        raised = session.execute(
            sa.insert(Alert).returning(Alert.employment_id, Alert.ban_id, Alert.id),
            [
                {
                    "kind": "ban",
                    "ban_id": hit["ban_id"],
                    "employment_id": hit["employment_id"],
                    "institution_id": institution_of[hit["employment_id"]],
                }
                for hit in missing
            ],
        )
        for employment_id, ban_id, alert_id in raised:
            barred[employment_id, ban_id]["alert_id"] = alert_id
    report = {"as_of": as_of.isoformat(), "employments": in_post, "barred": list(barred.values())}
    record_event(
        session,
        actor,
        "rescreen.completed",
        f"rescreen:{as_of.isoformat()}",
        {"employments": in_post, "barred": len(barred), "new_alerts": len(missing)},
    )
    return report


# -- the blacklist, for the bureau ---------------------------------------------------------


def list_bans(
    session: Session,
    *,
    status: str | None = None,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """Bans, newest decision first, as ``describe_ban`` gives them: only the page's rows
    are decrypted."""
    query = sa.select(Ban).order_by(Ban.effective_on.desc(), Ban.id.desc())
    if status is not None:
        query = query.where(Ban.status == status)
    found = page_of(session, query, page, page_size, scalars=True)
    return Page([describe_ban(b) for b in found.items], found.total, page, page_size)
