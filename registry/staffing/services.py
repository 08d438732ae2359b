"""Staff in post: hiring through the eligibility rules, ending employments, the roster,
the institution's compliance with the staffing rules, and expiring certificates.
Functions take the session and never commit."""

import math
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from registry.audit import record_event
from registry.credentials.models import Certificate
from registry.credentials.services import describe_certificate
from registry.db import utcnow
from registry.eligibility.services import Answer, advisories, ruleset_for, verdict_for
from registry.errors import Conflict, Invalid, NotFound
from registry.institutions.models import Institution
from registry.messages import _
from registry.paging import Page, page_of
from registry.people.services import find_person, name_of, person_subject
from registry.rates.services import institution_rate, registered_spellings
from registry.vocabulary import CLASS_TYPES, STAFF_ROLES

from .models import Employment
from .rules import Staffing, check_all


def hire(
    session: Session, actor, institution: Institution, data: dict
) -> tuple[Employment | None, Answer]:
    """Hire from validated ``HireSchema`` data, if the verdict on ``start`` under the
    institution's ruleset allows it. The hiring check behind the verdict is stored and
    receipted, like one made on its own.

    A refusal comes back as ``(None, answer)`` and is in the audit log (the caller
    commits it and answers 409): a refused hire is a check like any other. Only
    required rules refuse; advisory ones unmet are in the answer and the audit log.
    A security guard's dispatching company and licence are kept on the employment.
    """
    identity, role, start = data["identity"], data["role"], data["start"]
    given = [f for f in ("dispatch_company", "dispatch_licence") if data.get(f)]
    if given and role != "security_guard":
        raise Invalid(
            _("only a security_guard is dispatched"),
            {
                f: [
                    _(
                        "only for the role security_guard, not {role}",
                        role=role,
                        role_name=STAFF_ROLES.get(role, role),
                    )
                ]
                for f in given
            },
        )
    person = find_person(session, identity)
    if person is not None:
        overlapping = session.scalar(
            sa.select(Employment.id).where(
                Employment.person_id == person.id,
                Employment.institution_id == institution.id,
                Employment.role == role,
                sa.or_(Employment.end.is_(None), Employment.end >= start),
            )
        )
        if overlapping is not None:
            raise Conflict(
                _(
                    "this person already holds the role {role} here (employment {employment})",
                    role=role,
                    role_name=STAFF_ROLES.get(role, role),
                    employment=overlapping,
                ),
                id=overlapping,
            )
    dispatch = {"company": data.get("dispatch_company"), "licence": data.get("dispatch_licence")}
    answer = verdict_for(
        session,
        actor,
        identity,
        role,
        start,
        institution,
        purpose=f"hiring: {role}",
        dispatch=dispatch,
    )
    verdict = answer.verdict
    event = {
        "institution": institution.code,
        "role": role,
        "start": start.isoformat(),
        "ruleset": verdict.ruleset.id,
        "check_id": answer.check.id,
    }
    event["advisories"] = [r.rule for r in advisories(verdict)]
    if not verdict.eligible:
        failed = [r.rule for r in verdict.reasons if not r.ok and r.severity == "required"]
        record_event(
            session,
            actor,
            "employment.refused",
            person_subject(person, identity),
            {**event, "failed": failed},
        )
        return None, answer
    employment = Employment(
        person=person,
        institution=institution,
        role=role,
        full_time=data["full_time"],
        start=start,
        declaration_at=utcnow(),
        declared_by_id=getattr(actor, "id", None),
        dispatch_company=dispatch["company"],
        dispatch_licence=dispatch["licence"],
    )
    session.add(employment)
    session.flush()
    record_event(
        session,
        actor,
        "employment.started",
        f"employment:{employment.id}",
        {**event, "person_id": person.id, "full_time": employment.full_time, "declaration": True},
    )
    return employment, answer


def get_employment(session: Session, employment_id: int, user) -> Employment:
    """The employment, if ``user`` may see it: to a director another institution's
    employment does not exist (a 403 would tell which ids are in use elsewhere)."""
    employment = session.get(Employment, employment_id)
    if employment is None or (
        user.role == "director" and employment.institution_id != user.institution_id
    ):
        raise NotFound(_("no employment with id {employment_id}", employment_id=employment_id))
    return employment


def end_employment(session: Session, actor, employment: Employment, end: date) -> Employment:
    if employment.end is not None:
        raise Conflict(
            _(
                "employment {employment} already ended on {end}",
                employment=employment.id,
                end=employment.end,
            )
        )
    if end < employment.start:
        raise Invalid(
            _("an employment cannot end before it starts"),
            {"end": [_("must be on or after start ({start})", start=employment.start)]},
        )
    employment.end = end
    employment.ended_by_id = getattr(actor, "id", None)
    session.flush()
    record_event(
        session, actor, "employment.ended", f"employment:{employment.id}", {"end": end.isoformat()}
    )
    return employment


def roster(
    session: Session,
    institution: Institution,
    day: date,
    *,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """Who is in post at the institution on ``day``, by role and start."""
    found = page_of(
        session,
        sa.select(Employment)
        .where(Employment.institution_id == institution.id, Employment.in_post_on(day))
        .options(selectinload(Employment.person))
        .order_by(Employment.role, Employment.start, Employment.id),
        page,
        page_size,
        scalars=True,
    )
    return Page([describe_employment(e) for e in found.items], found.total, page, page_size)


def describe_employment(employment: Employment) -> dict:
    return {
        "id": employment.id,
        "person_id": employment.person.public_id,
        "name": name_of(employment.person),
        "role": employment.role,
        "full_time": employment.full_time,
        "start": employment.start,
        "end": employment.end,
        "dispatch_company": employment.dispatch_company,
        "dispatch_licence": employment.dispatch_licence,
    }


# -- compliance -----------------------------------------------------------------------


def compliance(session: Session, institution: Institution, day: date) -> dict:
    """The institution against its ruleset's institution rules on ``day`` (class sizes,
    caregivers for the children enrolled, health staff, cooks, the certification-rate
    target): every rule's finding with its severity and source, and the shortfalls.
    Only required findings make it not ``compliant``; a rate below a target not yet due
    is advisory."""
    ruleset = ruleset_for(institution)
    staffing = Staffing(
        day=day,
        classes=tuple((c.type, c.children) for c in institution.classes),
        meals_on_site=bool(institution.meals_on_site),
        in_post=tuple(
            session.execute(
                sa.select(Employment.role, Employment.full_time).where(
                    Employment.institution_id == institution.id, Employment.in_post_on(day)
                )
            )
        ),
        certification=institution_rate(session, institution, day),
    )
    findings = [
        {
            "rule": f.rule,
            "ok": f.ok,
            "severity": f.severity,
            "message": f.message,
            "source": f.source,
            "note": f.note,
            **f.figures,
        }
        for f in check_all(staffing, ruleset)
    ]
    shortfalls = [f for f in findings if not f["ok"]]
    rules = ruleset.institution
    return {
        "institution": institution.code,
        "as_of": day,
        "ruleset": ruleset,
        "compliant": all(f["severity"] != "required" for f in shortfalls),
        "certification": staffing.certification,
        "children": staffing.children,
        "classes": _classes(staffing, ruleset),
        "staff": {
            "caregivers": staffing.count(rules["caregiver_roles"]),
            "caregivers_required": staffing.caregivers_required(ruleset),
            "health_staff": staffing.count(rules["health_roles"]),
            "health_staff_full_time": staffing.count(rules["health_roles"], full_time_only=True),
            "health_staff_required": rules["health_staff"]["at_least"],
            "health_staff_full_time_required": staffing.full_time_health_required(ruleset),
            "cooks": staffing.count(rules["cook_roles"]),
            "cooks_required": staffing.cooks_required(ruleset),
        },
        "checks": findings,
        "shortfalls": shortfalls,
    }


def _classes(staffing: Staffing, ruleset) -> list[dict]:
    """The classes by type, with what the ruleset asks of them."""
    summary = []
    for class_type in CLASS_TYPES:
        sizes = [n for t, n in staffing.classes if t == class_type]
        if not sizes:
            continue
        rule = ruleset.classes[class_type]
        summary.append(
            {
                "type": class_type,
                "classes": len(sizes),
                "children": sum(sizes),
                "max_children": rule.max_children,
                "oversized": sum(1 for n in sizes if n > rule.max_children),
                "children_per_caregiver": rule.children_per_caregiver,
                "caregivers_required": sum(
                    math.ceil(n / rule.children_per_caregiver) for n in sizes
                ),
            }
        )
    return summary


# -- expiring certificates ------------------------------------------------------------


def expiring(
    session: Session,
    within: int,
    today: date,
    *,
    institution: Institution | None = None,
    district: str | None = None,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """Certificates of staff in post today that have expired or expire within ``within``
    days, one row per certificate and institution, soonest first: those already expired
    (``state`` ``expired``, with ``days_expired``) before those about to (``expiring``,
    with ``days_left``). A certificate followed by a later one of the same kind (a
    renewal, the next health certificate) is left out: nothing needs doing about it.
    ``district`` in any spelling its ruleset knows, as rates match it."""
    pairs = (
        sa.select(Certificate.expires_on, Certificate.id, Employment.institution_id)
        .join(Employment, Employment.person_id == Certificate.person_id)
        .where(
            Employment.in_post_on(today),
            Certificate.status == "valid",
            Certificate.expires_on <= today + timedelta(days=within),
            Certificate.not_superseded(),
        )
        .distinct()
        .order_by(Certificate.expires_on, Certificate.id, Employment.institution_id)
    )
    if institution is not None:
        pairs = pairs.where(Employment.institution_id == institution.id)
    if district is not None:
        spellings = registered_spellings(session, district)
        pairs = pairs.join(Institution, Employment.institution_id == Institution.id).where(
            Institution.district.in_(spellings)
        )
    found = page_of(session, pairs, page, page_size)
    if not found.items:
        return Page([], found.total, page, page_size)
    # What the page's rows refer to, each in one statement.
    certificates = {
        c.id: c
        for c in session.scalars(
            sa.select(Certificate)
            .where(Certificate.id.in_({c for _, c, _ in found.items}))
            .options(selectinload(Certificate.person))
        )
    }
    institution_ids = {i for _, _, i in found.items}
    institutions = {
        i.id: i
        for i in session.scalars(sa.select(Institution).where(Institution.id.in_(institution_ids)))
    }
    roles: dict[tuple[int, int], set[str]] = {}
    for person_id, institution_id, role in session.execute(
        sa.select(Employment.person_id, Employment.institution_id, Employment.role).where(
            Employment.in_post_on(today),
            Employment.person_id.in_({c.person_id for c in certificates.values()}),
            Employment.institution_id.in_(institution_ids),
        )
    ):
        roles.setdefault((person_id, institution_id), set()).add(role)
    rows = []
    for expires_on, certificate_id, institution_id in found.items:
        c, where = certificates[certificate_id], institutions[institution_id]
        expired = expires_on < today
        rows.append(
            {
                "state": "expired" if expired else "expiring",
                "institution": where.code,
                "institution_name": where.name,
                "person_id": c.person.public_id,
                "name": name_of(c.person),
                "roles": sorted(roles[c.person_id, institution_id]),
                "certificate": describe_certificate(c, today),
                "expires_on": expires_on,
                "days_left": None if expired else (expires_on - today).days,
                "days_expired": (today - expires_on).days if expired else None,
            }
        )
    return Page(rows, found.total, page, page_size)
