"""The audit log: every write of the registry calls ``record_event`` in its transaction.

Rows are only ever appended. Data never holds an identity number or a name in clear:
callers pass ids, codes and blind-index references.

The events form a hash chain: each stores the SHA-256 of its own canonical form
(``canonical_form``), which includes the hash of the event before it. Changing, deleting,
inserting or reordering any event breaks the chain from there on, and ``verify_chain``
names the first event where it breaks.
"""

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column

from registry.db import Base, begin_writing, intpk, str64, str200, timestamp, utcnow

# What the first event follows.
GENESIS = bytes(32)

# The PostgreSQL advisory lock that makes appends take turns ("auditlog" in ASCII).
CHAIN_LOCK = int.from_bytes(b"auditlog", "big")


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[intpk]
    occurred_at: Mapped[timestamp]
    actor: Mapped[str64]
    action: Mapped[str64] = mapped_column(index=True)
    subject: Mapped[str200] = mapped_column(index=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Both are set by record_event. They may be NULL so that a row written around it is
    # still stored, and then reported by verify_chain, rather than refused. Two events
    # can never follow the same one: the database itself stops a fork of the chain.
    prev_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), unique=True)
    hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))


def actor_name(actor) -> str:
    """The name recorded for an actor (``registry.auth.models.Actor``): a user's, or a
    system actor's such as ``cli:root``."""
    return actor.username


def canonical_form(
    occurred_at: datetime,
    actor: str,
    action: str,
    subject: str,
    data,
    prev_hash: bytes | None,
) -> bytes:
    """The bytes an event's hash is taken over: UTF-8 JSON of its content, keys sorted,
    no whitespace, the time in UTC to the microsecond, the previous hash in hex.

    It depends only on values that read back unchanged from SQLite and PostgreSQL.
    """
    if occurred_at.tzinfo is None:  # SQLite keeps UTC without a zone
        occurred_at = occurred_at.replace(tzinfo=UTC)
    content = {
        "occurred_at": occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "data": data,
        "prev_hash": None if prev_hash is None else prev_hash.hex(),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def event_hash(event) -> bytes:
    """The hash an event (a model or a row with the same attributes) should carry."""
    # Unkeyed on purpose: anyone may verify the chain, and an event never holds an
    # identity number (subjects and data name ids, codes and keyed blind indexes).
    return hashlib.sha256(
        canonical_form(
            event.occurred_at,
            event.actor,
            event.action,
            event.subject,
            event.data,
            event.prev_hash,
        )
    ).digest()


def record_event(
    session: Session, actor, action: str, subject: str, data: dict | None = None
) -> AuditEvent:
    """Append an event to the audit log in the caller's transaction.

    ``subject`` names what changed, as ``"<kind>:<key>"`` (``"institution:9135…"``).
    Returns the event as stored; it is not attached to the session (events never change).
    """
    # Hash what the database will give back: JSON turns tuples into lists and keys into
    # strings, and refuses NaN (as PostgreSQL does).
    data = json.loads(json.dumps(data or {}, ensure_ascii=False, allow_nan=False))
    session.flush()  # the caller's pending rows first, as they were before the event
    take_turn(session)
    connection = session.connection()
    head = connection.execute(_statements().head).first()
    event = AuditEvent(
        occurred_at=utcnow(),
        actor=actor_name(actor),
        action=action,
        subject=subject,
        data=data,
        prev_hash=GENESIS if head is None else head.hash,
    )
    event.hash = event_hash(event)
    # In the table at once (a Core insert, cheaper than a flush), so that the next event
    # of this transaction follows this one.
    event.id = connection.execute(
        _statements().insert,
        {
            "occurred_at": event.occurred_at,
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "data": event.data,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        },
    ).scalar_one()
    make_transient_to_detached(event)
    return event


@functools.cache
def _statements() -> SimpleNamespace:
    # Built once: every write of the registry runs them.
    table = AuditEvent.__table__
    return SimpleNamespace(
        head=sa.select(table.c.hash).order_by(table.c.id.desc()).limit(1),
        insert=sa.insert(table).returning(table.c.id),
        turn=sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK)),
    )


def take_turn(session: Session) -> None:
    """Let one transaction at a time read the head of the chain and append to it.

    On SQLite the turn is the database's write lock: a request's transaction takes it
    here (``registry.db.begin_writing``) if it has not yet, and holds it to the commit;
    a command's holds it from its BEGIN. On PostgreSQL the lock below is held until the
    transaction ends, so the next appender reads the head only after this one's events
    are committed (or gone).
    ``record_event`` takes the turn; a caller that must also read something else in
    turn (the hiring check's rate limit) takes it earlier, and only once.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        begin_writing(session)
        return
    # A savepoint rolled back gives back the locks taken in it, so the turn is known to
    # be held only in the (sub)transaction that took it; each begin makes a new object.
    transaction = connection.get_nested_transaction() or connection.get_transaction()
    if session.info.get(_TURN_HELD) is not transaction:
        connection.execute(_statements().turn)
        session.info[_TURN_HELD] = transaction


# In session.info: the transaction or savepoint that took the turn.
_TURN_HELD = "registry.audit.turn_held"


@dataclass(frozen=True)
class Problem:
    """The first event where the chain breaks, and what is wrong with it."""

    event_id: int
    action: str
    reason: str

    def __str__(self) -> str:
        return f"event {self.event_id} ({self.action}): {self.reason}"


def verify_chain(session: Session, batch_size: int = 1000) -> tuple[int, Problem | None]:
    """Walk the audit log in id order, recomputing every hash and checking every link.

    Returns how many events are intact before the first problem, and the problem (None
    when the whole chain holds). Reads in batches, so memory does not grow with the log.
    """
    columns = (
        AuditEvent.id,
        AuditEvent.occurred_at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.subject,
        AuditEvent.data,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    intact, previous_id, previous_hash = 0, None, GENESIS
    while True:
        query = sa.select(*columns).order_by(AuditEvent.id).limit(batch_size)
        if previous_id is not None:
            query = query.where(AuditEvent.id > previous_id)
        rows = session.execute(query).all()
        if not rows:
            return intact, None
        for row in rows:
            reason = _check(row, previous_id, previous_hash)
            if reason is not None:
                return intact, Problem(row.id, row.action, reason)
            intact, previous_id, previous_hash = intact + 1, row.id, row.hash


def _check(row, previous_id: int | None, previous_hash: bytes) -> str | None:
    if row.hash is None:
        return "hash missing: the event was not written through the audit log"
    if event_hash(row) != row.hash:
        return "content changed: the event no longer matches its hash"
    if row.prev_hash != previous_hash:
        if previous_id is None:
            return "link broken: events before it are missing"
        return (
            f"link broken: it does not follow event {previous_id} "
            "(an event between them is missing, or one was inserted, reordered or rewritten)"
        )
    return None


@dataclass(frozen=True)
class Anchor:
    """The newest event of a verified chain, kept outside the database.

    The chain alone cannot show that somebody with write access rebuilt it (edited an
    event and recomputed every hash after it) or cut off its end; an anchor kept in the
    instance folder can: the anchored event must still be there, with the same hash.
    """

    event_id: int
    hash: str  # hex
    events: int

    @classmethod
    def read(cls, path) -> "Anchor | None":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls(event_id=data["event_id"], hash=data["hash"], events=data["events"])

    def write(self, path) -> None:
        data = {**dataclasses.asdict(self), "verified_at": utcnow().isoformat()}
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def newest_anchor(session: Session, events: int) -> Anchor | None:
    row = session.execute(
        sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return None if row is None else Anchor(row.id, row.hash.hex(), events)


def check_anchor(session: Session, anchor: Anchor) -> Problem | None:
    """Whether the event anchored at the last verification is still there, unchanged."""
    row = session.execute(
        sa.select(AuditEvent.action, AuditEvent.hash).where(AuditEvent.id == anchor.event_id)
    ).first()
    if row is None:
        return Problem(
            anchor.event_id, "?", "missing: the event last verified is gone (the log was cut back)"
        )
    if row.hash is None or row.hash.hex() != anchor.hash:
        return Problem(
            anchor.event_id,
            row.action,
            "rewritten: the event last verified has another hash now (the chain was rebuilt)",
        )
    return None


def recent_events(session: Session, *, page: int, page_size: int):
    """A page of the audit log, newest first (``registry.paging.Page``)."""
    from registry.paging import page_of

    return page_of(
        session, sa.select(AuditEvent).order_by(AuditEvent.id.desc()), page, page_size, scalars=True
    )
