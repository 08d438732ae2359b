"""Verdicts: the rules of a ruleset applied to what the registry knows of a person.
Functions take the session and never commit."""

from datetime import date

from sqlalchemy.orm import Session

from registry.audit import record_event
from registry.bans.services import is_barred
from registry.credentials.services import certificates_of, held
from registry.identity import IdentityNumber
from registry.people.models import Person
from registry.people.services import find_person, person_subject

from .rules import Period, Record, Verdict, evaluate
from .rulesets import Ruleset, current_rulesets


def ruleset_for(institution) -> Ruleset:
    """The ruleset of the institution's district, or the national baseline."""
    rulesets = current_rulesets()
    return rulesets.baseline if institution is None else rulesets.for_district(institution.district)


def record_of(session: Session, person: Person | None, barred: bool) -> Record:
    if person is None:
        return Record(registered=False, barred=barred)
    return Record(
        registered=True,
        education=person.education,
        major=person.major,
        experience=tuple(
            Period(field=e.field, management=e.management, start=e.start, end=e.end)
            for e in person.experience
        ),
        certificates=tuple(held(c) for c in certificates_of(session, person.id)),
        barred=barred,
    )


def verdict_for(
    session: Session, identity: IdentityNumber, role: str, as_of: date, ruleset: Ruleset
) -> tuple[Verdict, Person | None]:
    """The verdict on ``role`` for the person with this number on ``as_of``.

    A number nobody registered is judged on an empty record: every rule that needs a
    record fails and says so, and a ban still shows, since bans are kept for numbers,
    not for registered people.
    """
    person = find_person(session, identity)
    barred = is_barred(session, identity, as_of, date.today())
    verdict = evaluate(ruleset, role, record_of(session, person, barred), as_of)
    return verdict, person


def check_eligibility(
    session: Session, actor, identity: IdentityNumber, role: str, as_of: date, institution
) -> tuple[Verdict, Person | None]:
    """``verdict_for`` under the institution's ruleset, in the audit log: the answer
    says whether the person is barred, so asking is a check like any other."""
    verdict, person = verdict_for(session, identity, role, as_of, ruleset_for(institution))
    record_event(
        session,
        actor,
        "eligibility.checked",
        person_subject(person, identity),
        {
            "role": role,
            "as_of": as_of.isoformat(),
            "ruleset": verdict.ruleset.id,
            "institution": institution.code if institution is not None else None,
            "eligible": verdict.eligible,
            "barred": verdict.barred,
        },
    )
    return verdict, person


def describe(verdict: Verdict, person: Person | None) -> dict:
    """A verdict as ``VerdictSchema`` dumps it."""
    return {
        "role": verdict.role,
        "as_of": verdict.as_of,
        "eligible": verdict.eligible,
        "barred": verdict.barred,
        "person_id": person.id if person is not None else None,
        "ruleset": verdict.ruleset,
        "reasons": verdict.reasons,
    }
