"""Certification rates (从业人员持证率) per institution and district, computed in SQL.
Functions take the session and never commit.

No official formula exists; this is ours (README, Certification rates): staff in post
on the date in the roles that require a qualification certificate, and of those, how
many hold at least one certificate that counts for their role, valid on the date. A
person in two roles counts once per employment. An institution with no such staff has no rate.
"""

from datetime import date
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from registry.credentials.models import Certificate
from registry.credentials.services import describe_certificate, state_on
from registry.eligibility.rulesets import Ruleset, current_rulesets, district_key
from registry.errors import Invalid
from registry.institutions.models import Institution
from registry.messages import _
from registry.people.services import masked_number, name_of
from registry.staffing.models import Employment

# The roles counted, and for each the certificates that count. Health
# certificates and the training certificates not named here do not count.
COUNTED = {
    "director": ("director_training",),
    "caregiver": (
        "childcare_worker",
        "infant_nurturer",
        "infant_development_guide",
        "kindergarten_teacher",
    ),
    "care_assistant": ("childcare_worker",),
    "nurse": ("health_care_training", "nurse_license", "physician_license"),
    "security_guard": ("security_guard",),
}


def _counts(role, kind):
    """SQL: a certificate of ``kind`` counts for ``role``."""
    return sa.or_(*(sa.and_(role == r, kind.in_(kinds)) for r, kinds in COUNTED.items()))


def _district_name(ruleset: Ruleset, district: str) -> str:
    """The name a district is reported under: an overlay's own name, so that 西湖区 and
    杭州市西湖区 are one district; otherwise the district as registered."""
    return ruleset.name if ruleset.districts else district


def registered_spellings(session: Session, district: str) -> list[str]:
    """The districts, as institutions are registered under them, that ``district`` names
    in any spelling its ruleset knows (NFKC, spaces ignored). ``Invalid`` naming the
    value for a district that neither a ruleset nor an institution knows."""
    key = district_key(district)
    ruleset = current_rulesets().by_district.get(key)
    keys = {district_key(d) for d in ruleset.districts} if ruleset else {key}
    registered = session.scalars(sa.select(Institution.district).distinct())
    spellings = [d for d in registered if district_key(d) in keys]
    if not spellings and ruleset is None:
        raise Invalid(
            _(
                "unknown district {district!r}: no ruleset names it and no institution is in it",
                district=district,
            ),
            {"district": [_("unknown district {district!r}", district=district)]},
        )
    return spellings


def _rate(staff: int, certified: int, ruleset: Ruleset, day: date) -> dict:
    target = ruleset.certification_target
    rate = Fraction(certified, staff) if staff else None
    figure = {
        "staff": staff,
        "certified": certified,
        "rate": None if rate is None else round(float(rate), 4),
        "target": None if target is None else target.rate,
        # Compared exactly: 9 of 10 meets a target of 0.9, whatever floats make of it.
        "meets_target": (
            None if rate is None or target is None else rate >= Fraction(str(target.rate))
        ),
    }
    if target is not None:
        # 到2025年 is by the end of 2025: before 31 December of its year a rate below the
        # target is not yet a shortfall.
        figure["due"] = target.is_due(day)
        figure["due_on"] = target.due_on()
    return figure


def missed(figure: dict) -> bool:
    """A target that is due on the date and not met."""
    return figure["meets_target"] is False and figure.get("due") is True


def counts(session: Session, day: date, which=None):
    """One query: for each institution (or those meeting ``which``, a condition on
    ``Institution``), its staff counted on ``day`` and how many of them are certified."""
    holds = (
        sa.select(Certificate.id)
        .where(
            Certificate.person_id == Employment.person_id,
            _counts(Employment.role, Certificate.kind),
            Certificate.valid_on(day),
        )
        .exists()
    )
    staff = (
        sa.select(
            Employment.institution_id,
            sa.func.count().label("staff"),
            sa.func.sum(sa.case((holds, 1), else_=0)).label("certified"),
        )
        .where(Employment.in_post_on(day), Employment.role.in_(COUNTED))
        .group_by(Employment.institution_id)
    )
    if which is not None:
        staff = staff.where(Employment.institution_id.in_(sa.select(Institution.id).where(which)))
    staff = staff.subquery()
    query = (
        sa.select(
            Institution.id,
            Institution.code,
            Institution.name,
            Institution.district,
            sa.func.coalesce(staff.c.staff, 0),
            sa.func.coalesce(staff.c.certified, 0),
        )
        .outerjoin(staff, staff.c.institution_id == Institution.id)
        .order_by(Institution.district, Institution.code)
    )
    if which is not None:
        query = query.where(which)
    return session.execute(query)


def rates(session: Session, day: date, district: str | None = None) -> dict:
    """Every institution's rate on ``day`` (those of ``district``, in any spelling its
    ruleset knows), and the roll-up of each district, with the targets of their rulesets."""
    which = None
    if district is not None:
        which = Institution.district.in_(registered_spellings(session, district))
    rulesets = current_rulesets()
    institutions, rollup = [], {}
    for _id, code, name, district_, staff, certified in counts(session, day, which):
        ruleset = rulesets.for_district(district_)
        institutions.append(
            {
                "code": code,
                "name": name,
                "district": district_,
                **_rate(staff, certified, ruleset, day),
            }
        )
        total = rollup.setdefault(
            _district_name(ruleset, district_),
            {"ruleset": ruleset, "institutions": 0, "staff": 0, "certified": 0},
        )
        total["institutions"] += 1
        total["staff"] += staff
        total["certified"] += certified
    if district is not None and not rollup:
        # A district a ruleset knows but nobody is registered in yet: say so, with its target.
        ruleset = rulesets.for_district(district)
        rollup[_district_name(ruleset, district)] = {
            "ruleset": ruleset,
            "institutions": 0,
            "staff": 0,
            "certified": 0,
        }
    return {
        "as_of": day,
        "institutions": institutions,
        "districts": [
            {
                "district": name,
                "institutions": total["institutions"],
                **_rate(total["staff"], total["certified"], total["ruleset"], day),
            }
            for name, total in sorted(rollup.items())
        ],
    }


def institution_rate(session: Session, institution: Institution, day: date) -> dict:
    """One institution's figure, as ``rates`` gives it."""
    _, _, _, _, staff, certified = counts(session, day, Institution.id == institution.id).one()
    return _rate(staff, certified, current_rulesets().for_district(institution.district), day)


def explain(session: Session, institution: Institution, day: date) -> dict:
    """The staff counted for one institution on ``day``, each with the certificate that
    counts, or the certificates of the right kinds and why none counts; the figure
    they add up to is ``institution_rate``'s."""
    employments = session.scalars(
        sa.select(Employment)
        .where(
            Employment.institution_id == institution.id,
            Employment.in_post_on(day),
            Employment.role.in_(COUNTED),
        )
        .options(selectinload(Employment.person))
        .order_by(Employment.role, Employment.start, Employment.id)
    ).all()
    people = {e.person_id for e in employments}
    held: dict[int, list[Certificate]] = {}
    for certificate in session.scalars(
        sa.select(Certificate)
        .where(Certificate.person_id.in_(people))
        .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
    ):
        held.setdefault(certificate.person_id, []).append(certificate)
    staff = []
    for employment in employments:
        kinds = COUNTED[employment.role]
        relevant = [c for c in held.get(employment.person_id, []) if c.kind in kinds]
        counting = next((c for c in relevant if state_on(c, day) == "valid"), None)
        staff.append(
            {
                "employment_id": employment.id,
                "person_id": employment.person.public_id,
                "name": name_of(employment.person),
                "id_number": masked_number(employment.person),
                "role": employment.role,
                "start": employment.start,
                "certified": counting is not None,
                "certificate": None if counting is None else describe_certificate(counting, day),
                "reason": None if counting is not None else _why_none(relevant, kinds, day),
            }
        )
    return {
        "institution": institution.code,
        "name": institution.name,
        "district": institution.district,
        "as_of": day,
        **_rate(
            len(staff),
            sum(s["certified"] for s in staff),
            current_rulesets().for_district(institution.district),
            day,
        ),
        "counted": staff,
    }


def _why_none(relevant: list[Certificate], kinds: tuple[str, ...], day: date) -> str:
    if not relevant:
        return _("no certificate of the kinds that count ({kinds})", kinds=", ".join(kinds))
    states = {
        "expired": lambda c: _("{kind} {number}: expired on {day}", day=c.expires_on, **_named(c)),
        "revoked": lambda c: _("{kind} {number}: revoked on {day}", day=c.revoked_on, **_named(c)),
        "not_yet_valid": lambda c: _(
            "{kind} {number}: issued on {day}, after the date", day=c.issued_on, **_named(c)
        ),
    }
    return "; ".join(states[state_on(c, day)](c) for c in relevant)


def _named(certificate: Certificate) -> dict:
    return {"kind": certificate.kind, "number": certificate.number}


# The CSV of ``registry rates`` and of the rates page: institutions, then the districts'
# roll-ups, one table; ``level`` tells which. Values as the JSON has them, empty for none.
CSV_COLUMNS = (
    "level",
    "district",
    "code",
    "name",
    "institutions",
    "staff",
    "certified",
    "rate",
    "target",
    "meets_target",
    "due",
)


def csv_rows(report: dict) -> list[dict]:
    """The rows of the CSV of a report as ``RatesSchema`` dumps it."""
    rows = []
    parts = (("institution", report["institutions"]), ("district", report["districts"]))
    for level, entries in parts:
        for entry in entries:
            row = {"level": level, "code": "", "name": "", "institutions": ""}
            row |= {name: entry[name] for name in CSV_COLUMNS if name in entry}
            row["due"] = entry.get("due")
            rows.append({k: "" if v is None else v for k, v in row.items()})
    return rows
