"""People: registration, lookup by identity number, experience. Functions take the
session and never commit.

The identity number and the name are stored only encrypted. A person is found by the
keyed blind index of the normalised number, under every loaded key, so lookups keep
working while a key rotation is under way.
"""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from registry.audit import record_event
from registry.credentials.services import certificates_of, describe_certificate
from registry.crypto import current_keyring, sealed_identity
from registry.errors import Conflict, NotFound
from registry.identity import IdentityNumber

from .models import Experience, Person

NUMBER_CONTEXT = "person.id_number"
NAME_CONTEXT = "person.name"


def person_subject(person: Person | None, identity: IdentityNumber) -> str:
    """The audit subject for a question about this number: the person, or for a number
    nobody registered its blind index (never the number)."""
    if person is not None:
        return f"person:{person.id}"
    keyring = current_keyring()
    return f"index:{keyring.active_blind_kid}:{keyring.blind_index(identity.canonical).hex()}"


def find_person(session: Session, identity: IdentityNumber) -> Person | None:
    indexes = list(current_keyring().blind_indexes(identity.canonical).values())
    return session.scalar(
        sa.select(Person)
        .where(Person.id_index.in_(indexes))
        .options(selectinload(Person.experience))
    )


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    return person


def register_person(session: Session, actor, data: dict) -> Person:
    """Register a person from validated ``PersonSchema`` data; 409 with the existing id
    when the number is already registered, in whatever form it was typed then."""
    identity = data["identity"]
    existing = find_person(session, identity)
    if existing is not None:
        raise Conflict("this person is already registered", id=existing.id)
    person = Person(
        **sealed_identity(identity, data["name"], NUMBER_CONTEXT, NAME_CONTEXT),
        education=data["education"],
        major=data.get("major"),
        experience=[Experience(**period) for period in data.get("experience", [])],
    )
    session.add(person)
    session.flush()
    record_event(
        session,
        actor,
        "person.registered",
        f"person:{person.id}",
        {"education": person.education, "experience": len(person.experience)},
    )
    return person


def add_experience(session: Session, actor, person: Person, periods: list[dict]) -> list:
    added = [Experience(**period) for period in periods]
    person.experience.extend(added)
    session.flush()
    record_event(
        session,
        actor,
        "person.experience_added",
        f"person:{person.id}",
        {"experience_ids": [e.id for e in added]},
    )
    return added


def look_up(session: Session, actor, identity: IdentityNumber) -> Person | None:
    """The person with this number, for a director deciding on a hire. Every lookup,
    found or not, goes to the audit log, so the bureau can see who looked up whom:
    the caller commits before answering "not found"."""
    person = find_person(session, identity)
    subject = person_subject(person, identity)
    record_event(session, actor, "person.looked_up", subject, {"found": person is not None})
    return person


def name_of(person: Person) -> str:
    return current_keyring().decrypt(person.name_enc, NAME_CONTEXT)


def masked_number(person: Person) -> str:
    number = current_keyring().decrypt(person.id_number_enc, NUMBER_CONTEXT)
    return IdentityNumber(person.id_type, number).masked


def describe(session: Session, person: Person, as_of: date, *, reasons: bool = True) -> dict:
    """A person as ``PersonSchema`` dumps it: name decrypted, number masked, and every
    certificate, history included, with its state on ``as_of`` (revocation reasons
    only with ``reasons``)."""
    return {
        "id": person.id,
        "name": name_of(person),
        "id_type": person.id_type,
        "id_number_masked": masked_number(person),
        "education": person.education,
        "major": person.major,
        "experience": person.experience,
        "certificates": [
            describe_certificate(c, as_of, reasons=reasons)
            for c in certificates_of(session, person.id)
        ],
        "as_of": as_of,
        "created_at": person.created_at,
    }
