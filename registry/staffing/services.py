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
from registry.eligibility.services import Answer, ruleset_for, verdict_for
from registry.errors import Conflict, Invalid, NotFound
from registry.institutions.models import Institution
from registry.paging import Page, page_of
from registry.people.services import find_person, name_of, person_subject
from registry.rates.services import institution_rate, registered_spellings
from registry.vocabulary import CLASS_TYPES

from .models import Employment


def hire(
    session: Session, actor, institution: Institution, data: dict
) -> tuple[Employment | None, Answer]:
    """Hire from validated ``HireSchema`` data, if the verdict on ``start`` under the
    institution's ruleset allows it. The hiring check behind the verdict is stored and
    receipted, like one made on its own.

    A refusal comes back as ``(None, answer)`` and is in the audit log (the caller
    commits it and answers 409): a refused hire is a check like any other.
    """
    identity, role, start = data["identity"], data["role"], data["start"]
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
                f"this person already holds the role {role} here (employment {overlapping})",
                id=overlapping,
            )
    answer = verdict_for(
        session, actor, identity, role, start, institution, purpose=f"hiring: {role}"
    )
    verdict = answer.verdict
    event = {
        "institution": institution.code,
        "role": role,
        "start": start.isoformat(),
        "ruleset": verdict.ruleset.id,
        "check_id": answer.check.id,
    }
    if not verdict.eligible:
        failed = [r.rule for r in verdict.reasons if not r.ok]
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
        raise NotFound(f"no employment with id {employment_id}")
    return employment


def end_employment(session: Session, actor, employment: Employment, end: date) -> Employment:
    if employment.end is not None:
        raise Conflict(f"employment {employment.id} already ended on {employment.end}")
    if end < employment.start:
        raise Invalid(
            "an employment cannot end before it starts",
            {"end": [f"must be on or after start ({employment.start})"]},
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
        "person_id": employment.person_id,
        "name": name_of(employment.person),
        "role": employment.role,
        "full_time": employment.full_time,
        "start": employment.start,
        "end": employment.end,
    }


# -- compliance -----------------------------------------------------------------------


def _shortfall(rule: str, zh: str, en: str, source: str) -> dict:
    return {"rule": rule, "message": f"{zh}（{en}）", "source": source}


def compliance(session: Session, institution: Institution, day: date) -> dict:
    """The institution against its ruleset's staffing rules on ``day``: class sizes,
    caregivers for the children enrolled, health staff, cooks; every shortfall with
    its source.

    Staff are not assigned to classes, so caregivers are compared with the sum the
    classes need, each class needing ``ceil(children / ratio)``.
    """
    ruleset = ruleset_for(institution)
    rules = ruleset.institution
    in_post = list(
        session.execute(
            sa.select(Employment.role, Employment.full_time).where(
                Employment.institution_id == institution.id, Employment.in_post_on(day)
            )
        )
    )
    shortfalls = []
    classes = []
    children = sum(c.children for c in institution.classes)
    for class_type in CLASS_TYPES:
        of_type = [c for c in institution.classes if c.type == class_type]
        if not of_type:
            continue
        rule = ruleset.classes[class_type]
        oversized = [c for c in of_type if c.children > rule.max_children]
        needed = sum(math.ceil(c.children / rule.children_per_caregiver) for c in of_type)
        classes.append(
            {
                "type": class_type,
                "classes": len(of_type),
                "children": sum(c.children for c in of_type),
                "max_children": rule.max_children,
                "oversized": len(oversized),
                "children_per_caregiver": rule.children_per_caregiver,
                "caregivers_required": needed,
            }
        )
        for c in oversized:
            shortfalls.append(
                _shortfall(
                    "class_size",
                    f"{CLASS_TYPES[class_type]}有{c.children}名婴幼儿，超过{rule.max_children}人",
                    f"a {class_type} class has {c.children} children, over {rule.max_children}",
                    rule.source,
                )
            )

    def count(roles, full_time_only=False):
        return sum(1 for r, ft in in_post if r in roles and (ft or not full_time_only))

    caregivers = count(rules["caregiver_roles"])
    caregivers_required = sum(c["caregivers_required"] for c in classes)
    if caregivers < caregivers_required:
        sources = "；".join(ruleset.classes[c["type"]].source for c in classes)
        shortfalls.append(
            _shortfall(
                "caregiver_ratio",
                f"在岗保育人员{caregivers}名，按各班比例应不少于{caregivers_required}名",
                f"{caregivers} caregivers in post, the classes need {caregivers_required}",
                sources,
            )
        )

    health = rules["health_staff"]
    health_staff = count(rules["health_roles"])
    health_full_time = count(rules["health_roles"], full_time_only=True)
    # At least one, children or not; and one full-time per 150 children (151 need two).
    per = health["children_per_full_time"]
    health_required = health["at_least"]
    full_time_required = 0 if children < per else math.ceil(children / per)
    if health_staff < health_required:
        shortfalls.append(
            _shortfall(
                "health_staff",
                f"在岗卫生保健人员{health_staff}名，应不少于{health_required}名",
                f"{health_staff} health staff in post, at least {health_required} needed",
                health["source"],
            )
        )
    if health_full_time < full_time_required:
        shortfalls.append(
            _shortfall(
                "health_staff_full_time",
                f"收托{children}名婴幼儿，专职卫生保健人员{health_full_time}名，应不少于{full_time_required}名",
                f"{children} children: {health_full_time} full-time health staff, "
                f"{full_time_required} needed",
                health["source"],
            )
        )

    cooks_rule = rules["cooks"]
    cooks = count(rules["cook_roles"])
    cooks_required = (
        math.ceil(children / cooks_rule["children_per_cook"]) if institution.meals_on_site else 0
    )
    if cooks < cooks_required:
        shortfalls.append(
            _shortfall(
                "cooks",
                f"在园内制作膳食，{children}名婴幼儿需炊事人员{cooks_required}名，在岗{cooks}名",
                f"meals cooked on site for {children} children need {cooks_required} cooks, "
                f"{cooks} in post",
                cooks_rule["source"],
            )
        )

    certification = institution_rate(session, institution, day)
    if certification["meets_target"] is False:
        target = ruleset.certification_target
        shortfalls.append(
            _shortfall(
                "certification_rate",
                f"持证率{certification['rate']:.1%}（{certification['certified']}/"
                f"{certification['staff']}），低于{target.rate:.0%}的目标",
                f"{certification['certified']} of {certification['staff']} staff certified "
                f"({certification['rate']:.1%}), below the target of {target.rate:.0%}",
                target.source,
            )
        )

    return {
        "institution": institution.code,
        "as_of": day,
        "ruleset": ruleset,
        "compliant": not shortfalls,
        "certification": certification,
        "children": children,
        "classes": classes,
        "staff": {
            "caregivers": caregivers,
            "caregivers_required": caregivers_required,
            "health_staff": health_staff,
            "health_staff_full_time": health_full_time,
            "health_staff_required": health_required,
            "health_staff_full_time_required": full_time_required,
            "cooks": cooks,
            "cooks_required": cooks_required,
        },
        "shortfalls": shortfalls,
    }


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
                "person_id": c.person_id,
                "name": name_of(c.person),
                "roles": sorted(roles[c.person_id, institution_id]),
                "certificate": describe_certificate(c, today),
                "expires_on": expires_on,
                "days_left": None if expired else (expires_on - today).days,
                "days_expired": (today - expires_on).days if expired else None,
            }
        )
    return Page(rows, found.total, page, page_size)
