"""People: registration, lookup by identity number, search by name, experience,
corrections and merges, and their history. Functions take the session and never commit.

The identity number and the name are stored only encrypted. A person is found by the
keyed blind index of the normalised number, or of the normalised name, under every
loaded key, so lookups keep working while a key rotation is under way. A record merged
into another (it had a wrong number) keeps its row but is found by neither.
"""

from datetime import date

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, aliased, selectinload

from registry import clock, limits
from registry.audit import actor_name, record_event
from registry.credentials.models import Certificate
from registry.credentials.services import certificates_of, describe_certificate
from registry.crypto import current_keyring, sealed_identity
from registry.db import utcnow
from registry.errors import Conflict, Invalid, NotFound
from registry.fields import MAX_ITEMS
from registry.identity import IdentityNumber
from registry.imports.turns import refuse_while_importing
from registry.messages import _

from .models import Experience, Person, PersonChange
from .names import name_index, name_indexes, name_key

NUMBER_CONTEXT = "person.id_number"
NAME_CONTEXT = "person.name"


def person_subject(person: Person | None, identity: IdentityNumber) -> str:
    """The audit subject for a question about this number: the person, or for a number
    nobody registered its blind index (never the number)."""
    if person is not None:
        return f"person:{person.id}"
    keyring = current_keyring()
    return f"index:{keyring.active_blind_kid}:{keyring.blind_index(identity.canonical).hex()}"


def _registered(session: Session, identity: IdentityNumber) -> Person | None:
    """The row with this number, merged into another or not."""
    indexes = list(current_keyring().blind_indexes(identity.canonical).values())
    return session.scalar(
        sa.select(Person)
        .where(Person.id_index.in_(indexes))
        .options(selectinload(Person.experience))
    )


def find_person(session: Session, identity: IdentityNumber) -> Person | None:
    """The person with this number; a record merged into another is nobody's."""
    person = _registered(session, identity)
    return None if person is None or person.merged_into_id is not None else person


def get_person(session: Session, public_id: str) -> Person:
    """The person with this public id (never the row id, which counts up)."""
    person = session.scalar(sa.select(Person).where(Person.public_id == public_id))
    if person is None:
        raise NotFound(_("no person with id {person_id}", person_id=public_id))
    return person


def public_ids(session: Session, ids) -> dict[int, str]:
    """Row id → public id of these people, in one statement."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(sa.select(Person.id, Person.public_id).where(Person.id.in_(ids)))
    return {row_id: public_id for row_id, public_id in rows}


def sealed_name(name: str) -> dict:
    """The name columns of a person: encrypted, and its keyed index for search."""
    keyring = current_keyring()
    return {
        "name_enc": keyring.encrypt(name, NAME_CONTEXT),
        "name_index": name_index(keyring, name),
        "name_index_kid": keyring.active_blind_kid,
    }


def register_person(session: Session, actor, data: dict) -> Person:
    """Register a person from validated ``PersonSchema`` data; 409 with the existing id
    when the number is already registered, in whatever form it was typed then."""
    refuse_while_importing(session)
    identity = data["identity"]
    existing = _registered(session, identity)
    if existing is not None and existing.merged_into_id is not None:
        raise Conflict(
            _(
                "this number was registered in error as person {person}, merged into person "
                "{target}",
                person=existing.public_id,
                target=existing.merged_into.public_id,
            ),
            id=existing.merged_into.public_id,
        )
    if existing is not None:
        raise Conflict(_("this person is already registered"), id=existing.public_id)
    person = Person(
        # The name's index replaces nothing: both seal the name the same way.
        **(sealed_identity(identity, data["name"], NUMBER_CONTEXT, NAME_CONTEXT))
        | sealed_name(data["name"]),
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
    _within_cap(person, _("the experience was not added"))
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
    if person is None:
        _count_miss(session, actor)
    return person


def _count_miss(session: Session, actor) -> None:
    # Someone walking the number space misses far more often than a clerk mistyping: past
    # the day's threshold the bureau is alerted. Checks and eligibility questions about
    # nobody are not counted: most candidates are not registered yet.
    from registry.alerts.services import raise_for_lookup_misses

    misses = limits.missed(session, actor)
    threshold = current_app.extensions["registry.settings"].lookup_miss_threshold
    if misses > threshold:
        raise_for_lookup_misses(session, actor, misses, clock.today())


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
        "id": person.public_id,
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
        "updated_at": person.updated_at,
        "merged_into": person.merged_into and person.merged_into.public_id,
    }


# -- corrections ------------------------------------------------------------------------

# The fields of a period, as the history keeps them.
PERIOD_FIELDS = ("field", "organization", "management", "start", "end")


def _period(period: Experience) -> dict:
    values = {name: getattr(period, name) for name in PERIOD_FIELDS}
    values["start"] = values["start"].isoformat()
    values["end"] = values["end"] and values["end"].isoformat()
    return values


def _not_merged(person: Person) -> None:
    if person.merged_into_id is not None:
        raise Conflict(
            _(
                "person {person} was merged into person {target}",
                person=person.public_id,
                target=person.merged_into.public_id,
            ),
            id=person.merged_into.public_id,
        )


def correct_person(session: Session, actor, person: Person, data: dict) -> PersonChange:
    """Correct a person from validated ``CorrectionSchema`` data: name, education, major,
    experience periods added, corrected (``id`` and the fields that change) or removed.

    The values before are kept in the person's history (the name encrypted), with the
    required ``reason``; the audit event names the history entry. ``Invalid`` naming the
    field for a period that is not the person's or a correction that changes nothing;
    nothing is changed then.
    """
    _not_merged(person)
    changes: dict = {}
    previous_name_enc = None
    if "name" in data and data["name"] != name_of(person):
        previous_name_enc = person.name_enc
        for column, value in sealed_name(data["name"]).items():
            setattr(person, column, value)
        changes["name"] = True  # the value before is in previous_name_enc
    for field in ("education", "major"):
        if field in data and data[field] != getattr(person, field):
            changes[field] = {"from": getattr(person, field), "to": data[field]}
            setattr(person, field, data[field])
    periods = _correct_experience(session, person, data)
    if periods:
        changes["experience"] = periods
    if not changes:
        raise Invalid(_("nothing to correct: every value given is the one on record"))
    person.updated_at = utcnow()
    session.flush()
    for period in periods:  # ids of the periods added, known after the flush
        if isinstance(period["id"], Experience):
            period["id"] = period["id"].id
    entry = _history(session, actor, person, "corrected", data["reason"], changes)
    entry.previous_name_enc = previous_name_enc
    session.flush()
    record_event(
        session,
        actor,
        "person.corrected",
        f"person:{person.id}",
        {
            "history_id": entry.id,
            "fields": sorted(changes),
            "experience": [p["id"] for p in periods],
        },
    )
    return entry


def _correct_experience(session: Session, person: Person, data: dict) -> list[dict]:
    """Apply the periods of a correction; what each was and is, for the history."""
    own = {period.id: period for period in person.experience}
    errors, done, removed = {}, [], set()
    for n, item in enumerate(data.get("experience", [])):
        if "id" not in item:
            period = Experience(
                field=item["field"],
                organization=item["organization"],
                management=item.get("management", False),
                start=item["start"],
                end=item.get("end"),
            )
            person.experience.append(period)
            done.append({"id": period, "from": None, "to": _period(period)})
            continue
        period = own.get(item["id"])
        if period is None:
            errors[f"experience.{n}.id"] = [
                _(
                    "person {person} has no experience period {period}",
                    person=person.public_id,
                    period=item["id"],
                )
            ]
            continue
        before = _period(period)
        start, end = item.get("start", period.start), item.get("end", period.end)
        if end is not None and end < start:
            errors[f"experience.{n}.end"] = [_("must be on or after start, {start}", start=start)]
            continue
        for name in PERIOD_FIELDS:
            if name in item:
                setattr(period, name, item[name])
        if _period(period) != before:
            done.append({"id": period.id, "from": before, "to": _period(period)})
    for n, period_id in enumerate(data.get("remove_experience", [])):
        period = own.pop(period_id, None)
        if period is None and period_id in removed:
            errors[f"remove_experience.{n}"] = [
                _("period {period} is listed twice", period=period_id)
            ]
            continue
        if period is None:
            errors[f"remove_experience.{n}"] = [
                _(
                    "person {person} has no experience period {period}",
                    person=person.public_id,
                    period=period_id,
                )
            ]
            continue
        done.append({"id": period.id, "from": _period(period), "to": None})
        person.experience.remove(period)
        removed.add(period_id)
    if errors:
        raise Invalid(_("the correction was not made"), errors)
    _within_cap(person, _("the correction was not made"))
    return done


def _within_cap(person: Person, refused: str) -> None:
    """A person holds at most as many periods of experience as a request may send (the
    document's ``maxItems``)."""
    if len(person.experience) > MAX_ITEMS:
        message = _("a person holds at most {count} periods of experience", count=MAX_ITEMS)
        raise Invalid(refused, {"experience": [message]})


def _history(
    session: Session, actor, person: Person, action: str, reason: str, changes: dict, **extra
) -> PersonChange:
    entry = PersonChange(
        person_id=person.id,
        action=action,
        reason=reason,
        changes=changes,
        actor=actor_name(actor),
        changed_at=utcnow(),
        **extra,
    )
    session.add(entry)
    session.flush()
    return entry


def history_of(session: Session, person: Person) -> list[dict]:
    """A person's history, oldest first, with that of the records merged into it (each
    entry names its record): the names before a correction decrypted."""
    merged = sa.select(Person.id).where(Person.merged_into_id == person.id)
    entries = session.scalars(
        sa.select(PersonChange)
        .where(sa.or_(PersonChange.person_id == person.id, PersonChange.person_id.in_(merged)))
        .order_by(PersonChange.changed_at, PersonChange.id)
    )
    entries = entries.all()
    public = public_ids(
        session, [e.person_id for e in entries] + [e.other_person_id for e in entries]
    )
    keyring = current_keyring()
    return [
        {
            "id": e.id,
            "person_id": public[e.person_id],
            "action": e.action,
            "reason": e.reason,
            "changes": e.changes,
            "previous_name": (
                None
                if e.previous_name_enc is None
                else keyring.decrypt(e.previous_name_enc, NAME_CONTEXT)
            ),
            "other_person_id": public.get(e.other_person_id),
            "actor": e.actor,
            "changed_at": e.changed_at,
        }
        for e in entries
    ]


# -- search by name ----------------------------------------------------------------------

SEARCH_LIMIT = 100


def search_by_name(session: Session, actor, name: str) -> dict:
    """The people with exactly this name (as ``names.name_key`` compares names), found
    through the keyed index of the name, never by decrypting every row: at most
    ``SEARCH_LIMIT``, oldest record first, each with the number masked. Audited by the
    name's index, never the name."""
    keyring = current_keyring()
    found = session.scalars(
        sa.select(Person)
        .where(Person.name_index.in_(name_indexes(keyring, name)), Person.merged_into_id.is_(None))
        .order_by(Person.id)
        .limit(SEARCH_LIMIT + 1)
    ).all()
    people = [
        {
            "id": p.public_id,
            "name": name_of(p),
            "id_type": p.id_type,
            "id_number_masked": masked_number(p),
            "education": p.education,
            "created_at": p.created_at,
        }
        for p in found[:SEARCH_LIMIT]
    ]
    index = name_index(keyring, name).hex()
    record_event(
        session,
        actor,
        "person.searched",
        f"name:{keyring.active_blind_kid}:{index}",
        {"found": [p.id for p in found[:SEARCH_LIMIT]], "more": len(found) > SEARCH_LIMIT},
    )
    return {"people": people, "more": len(found) > SEARCH_LIMIT}


def fill_name_indexes(session: Session, size: int = 1000) -> int:
    """Index the names of up to ``size`` people that have none yet (rows from before name
    search); how many. The caller commits and calls again until it answers 0."""
    keyring = current_keyring()
    rows = session.execute(
        sa.select(Person.id, Person.name_enc)
        .where(Person.name_index.is_(None))
        .order_by(Person.id)
        .limit(size)
    ).all()
    if rows:
        session.execute(
            sa.update(Person.__table__)
            .where(Person.__table__.c.id == sa.bindparam("b_id"))
            .values(name_index=sa.bindparam("b_index"), name_index_kid=keyring.active_blind_kid),
            [
                {
                    "b_id": r.id,
                    "b_index": name_index(keyring, keyring.decrypt(r.name_enc, NAME_CONTEXT)),
                }
                for r in rows
            ],
        )
    return len(rows)


# -- merges -------------------------------------------------------------------------------


def merge_people(
    session: Session,
    actor,
    source: Person,
    target: Person,
    reason: str,
    *,
    names_may_differ: bool = False,
) -> PersonChange:
    """Merge ``source`` (a record under a wrong number) into ``target``: certificates,
    employments (with their alerts), the hiring checks of the wrong number and the
    experience periods target lacks move over, and target's empty education or major is
    filled. Source keeps its row, marked merged, and its own history; both histories say
    what happened. An identity number is never changed in place: this is the way.

    Refused (``Conflict``, nothing changed) for a record merged already, two names that
    differ (unless ``names_may_differ``), or employments that would overlap in the same
    role at the same institution.
    """
    from registry.bans.models import BanCheck
    from registry.staffing.models import Employment

    refuse_while_importing(session)

    if source.id == target.id:
        raise Invalid(
            _("a record cannot be merged into itself"),
            {"from": [_("the same record as into")]},
        )
    _not_merged(source)
    _not_merged(target)
    if not names_may_differ and name_key(name_of(source)) != name_key(name_of(target)):
        raise Conflict(
            _(
                "the names of person {source} and person {target} differ; if they are one "
                "person, say that the names differ and merge again",
                source=source.public_id,
                target=target.public_id,
            )
        )
    clashes = _clashing_employments(session, source, target, Employment)
    if clashes:
        raise Conflict(
            _(
                "employments would overlap in the same role at the same institution "
                "({clashes}): end one first",
                clashes="；".join(clashes),
            )
        )
    certificates = (
        session.execute(
            sa.update(Certificate)
            .where(Certificate.person_id == source.id)
            .values(person_id=target.id)
            .returning(Certificate.id)
        )
        .scalars()
        .all()
    )
    employments = (
        session.execute(
            sa.update(Employment)
            .where(Employment.person_id == source.id)
            .values(person_id=target.id)
            .returning(Employment.id)
        )
        .scalars()
        .all()
    )
    keyring = current_keyring()
    wrong = IdentityNumber(source.id_type, keyring.decrypt(source.id_number_enc, NUMBER_CONTEXT))
    checks = (
        session.execute(
            sa.update(BanCheck)
            .where(BanCheck.id_index.in_(list(keyring.blind_indexes(wrong.canonical).values())))
            .values(id_index=target.id_index, id_index_kid=target.id_index_kid)
            .returning(BanCheck.id)
        )
        .scalars()
        .all()
    )
    have = {tuple(_period(p).values()) for p in target.experience}
    moved = [p for p in source.experience if tuple(_period(p).values()) not in have]
    for period in moved:
        source.experience.remove(period)
        target.experience.append(period)
    _within_cap(target, _("the merge was not made"))
    changes: dict = {
        "certificates": sorted(certificates),
        "employments": sorted(employments),
        "checks": len(checks),
        "experience": [p.id for p in moved],
    }
    for field in ("education", "major"):
        if getattr(target, field) is None and getattr(source, field) is not None:
            changes[field] = {"from": None, "to": getattr(source, field)}
            setattr(target, field, getattr(source, field))
    source.merged_into_id = target.id
    source.updated_at = target.updated_at = utcnow()
    session.flush()
    entry = _history(session, actor, target, "merged", reason, changes, other_person_id=source.id)
    _history(session, actor, source, "merged_into", reason, {}, other_person_id=target.id)
    record_event(
        session,
        actor,
        "person.merged",
        f"person:{target.id}",
        {
            "from": source.id,
            "history_id": entry.id,
            "certificates": len(certificates),
            "employments": len(employments),
            "checks": len(checks),
            "experience": len(moved),
        },
    )
    return entry


def _clashing_employments(session: Session, source: Person, target: Person, Employment) -> list:
    mine, theirs = aliased(Employment), aliased(Employment)
    rows = session.execute(
        sa.select(mine.id, theirs.id, mine.role)
        .join(
            theirs,
            sa.and_(
                theirs.institution_id == mine.institution_id,
                theirs.role == mine.role,
                sa.or_(theirs.end.is_(None), theirs.end >= mine.start),
                sa.or_(mine.end.is_(None), mine.end >= theirs.start),
            ),
        )
        .where(mine.person_id == source.id, theirs.person_id == target.id)
        .order_by(mine.id)
    ).all()
    return [f"任职 {a} 与任职 {b}（{role}）" for a, b, role in rows]
