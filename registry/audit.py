"""The audit log: every write of the registry calls ``record_event`` in its transaction.

Rows are only ever appended. Data never holds an identity number or a name in clear:
callers pass ids, codes and blind-index references.

The events form a hash chain: each stores the SHA-256 of its own canonical form
(``canonical_form``), which includes the hash of the event before it. Changing, deleting,
inserting or reordering any event breaks the chain from there on, and ``verify_chain``
names the first event where it breaks.
"""

import base64
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
    # The newest event of an action, read in one step (the rates page asks whether
    # staff, certificates or institutions changed since it last computed).
    __table_args__ = (sa.Index(None, "action", "id"),)

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


def verify_chain(
    session: Session, batch_size: int = 1000, *, since: "Anchor | None" = None
) -> tuple[int, Problem | None]:
    """Walk the audit log in id order, recomputing every hash and checking every link.

    Returns how many events are intact before the first problem, and the problem (None
    when the whole chain holds). Reads in batches, so memory does not grow with the log.
    ``since``: walk only the events after an anchor that ``check_anchor`` found in place
    (the count then includes the anchor's own); what lies before it is not read again.
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
    if since is not None and since.event_id:
        intact, previous_id, previous_hash = since.events, since.event_id, bytes.fromhex(since.hash)
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


# -- the anchor: the newest verified event, kept beside the database --------------------

ANCHOR_FILE = "audit-anchor.json"

# The action recorded when an operator accepts that the anchor is gone.
ANCHOR_RESTARTED = "audit.anchor_restarted"


def anchor_path(instance_path) -> Path:
    """Where the anchor is kept unless a command is told otherwise."""
    return Path(instance_path) / ANCHOR_FILE


class AnchorUnreadable(ValueError):
    """The anchor file is there but does not hold an anchor."""


@dataclass(frozen=True)
class Anchor:
    """The newest event of a verified chain, kept outside the database.

    The chain alone cannot show that somebody with write access rebuilt it (edited an
    event and recomputed every hash after it) or cut off its end; an anchor kept in the
    instance folder can: the anchored event must still be there, with the same hash.
    ``registry init`` writes the anchor of the empty chain (``event_id`` 0) for a new
    database, and every intact ``registry audit verify`` moves it forward; once a
    registry is in use, an anchor that is gone is itself a finding (``anchor_needed``).
    """

    event_id: int  # 0: the empty chain of a new registry
    hash: str  # hex
    events: int
    verified_at: str | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def read(cls, path) -> "Anchor | None":
        """The anchor kept at ``path``, None when there is no file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                event_id=int(data["event_id"]),
                hash=bytes.fromhex(data["hash"]).hex(),
                events=int(data["events"]),
                verified_at=data.get("verified_at"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise AnchorUnreadable(f"{path}: {type(exc).__name__}: {exc}") from exc

    @property
    def verified_time(self) -> datetime | None:
        """When the chain was last verified up to this anchor, if the file says."""
        try:
            return datetime.fromisoformat(self.verified_at) if self.verified_at else None
        except ValueError:
            return None

    def write(self, path) -> None:
        data = {
            "event_id": self.event_id,
            "hash": self.hash,
            "events": self.events,
            "verified_at": utcnow().isoformat(),
        }
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


EMPTY_ANCHOR = Anchor(0, GENESIS.hex(), 0)


def newest_anchor(session: Session, events: int) -> Anchor:
    """The anchor of the chain as it is now (``events`` long, as verified)."""
    row = session.execute(
        sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return EMPTY_ANCHOR if row is None else Anchor(row.id, row.hash.hex(), events)


def check_anchor(session: Session, anchor: Anchor) -> Problem | None:
    """Whether the event anchored at the last verification is still there, unchanged."""
    if anchor.event_id == 0:
        return None  # anchored before the first event: nothing to look for
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


def anchor_needed(session: Session) -> bool:
    """Whether this registry must have an anchor: a new one (no event, no user) has
    none to lose; one in use had it written at ``init`` or by its first verification, so
    its absence means it was deleted, perhaps with the newest events."""
    from registry.auth.models import User

    return (
        session.execute(sa.select(AuditEvent.id).limit(1)).first() is not None
        or session.execute(sa.select(User.id).limit(1)).first() is not None
    )


@dataclass(frozen=True)
class ChainReport:
    """What a reader of the audit log is told: how far the chain holds, the first
    problem, where the walk began, and what became of the anchor."""

    intact: int
    problem: Problem | None
    since: Anchor | None  # walked from this anchor on; None: from the first event
    anchor: str  # kept, new (none needed yet), missing or unreadable

    @property
    def walked(self) -> int:
        return self.intact - (self.since.events if self.since else 0)


def verify_from_anchor(session: Session, path, *, full: bool = False) -> ChainReport:
    """Verify the chain as the audit page does: from the anchor kept at ``path`` on (it
    was verified from the first event when it was written), or from the first event
    when ``full``, or when the anchor is missing, unreadable or no longer in the chain.
    Only ``registry audit verify`` moves the anchor."""
    state, anchor = "kept", None
    try:
        anchor = Anchor.read(path)
    except AnchorUnreadable:
        state = "unreadable"
    problem = check_anchor(session, anchor) if anchor is not None else None
    # An anchor before the first event saves nothing: that walk starts at the first.
    usable = anchor is not None and anchor.event_id and problem is None and not full
    since = anchor if usable else None
    intact, broken = verify_chain(session, since=since)
    if anchor is None and state == "kept":
        state = "missing" if anchor_needed(session) else "new"
    return ChainReport(intact, broken or problem, since, state)


# -- checkpoints: signed, and kept away from the server ---------------------------------

CHECKPOINT_FORMAT = "registry-audit-checkpoint/1"


class CheckpointUnreadable(ValueError):
    """The text given is no checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """An event of an intact chain, signed with the instance's checkpoint key (Ed25519).

    An anchor lives on the server, so whoever controls the server can rewrite it with
    the log. A checkpoint is copied off the server (``registry audit checkpoint`` from
    cron): later, ``verify --checkpoint`` shows the chain still holds that event with
    that hash, which no rewrite of the log or the instance folder can fake without the
    signing key, and a verifier who kept the public key is not fooled by a new one.
    """

    event_id: int
    event_hash: str  # hex
    events: int  # events in the chain up to and including it
    made_at: str  # ISO 8601, UTC
    public_key: str  # base64 of the raw Ed25519 public key that signed it
    signature: str = ""  # base64

    @classmethod
    def make(cls, anchor: Anchor, key) -> "Checkpoint":
        from registry.crypto import raw_public_key

        unsigned = cls(
            event_id=anchor.event_id,
            event_hash=anchor.hash,
            events=anchor.events,
            made_at=utcnow().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            public_key=base64.b64encode(raw_public_key(key)).decode("ascii"),
        )
        signature = key.sign(unsigned.signed_bytes())
        return dataclasses.replace(unsigned, signature=base64.b64encode(signature).decode())

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but itself, as canonical JSON."""
        content = {"format": CHECKPOINT_FORMAT, **dataclasses.asdict(self)}
        del content["signature"]
        return json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def dumps(self) -> str:
        return json.dumps({"format": CHECKPOINT_FORMAT, **dataclasses.asdict(self)}, indent=2)

    @classmethod
    def loads(cls, text: str) -> "Checkpoint":
        try:
            data = json.loads(text)
            if data.pop("format") != CHECKPOINT_FORMAT:
                raise ValueError("another format")
            checkpoint = cls(**data)
            kinds = (int, str, int, str, str, str)
            values = dataclasses.astuple(checkpoint)
            if not all(type(v) is k for v, k in zip(values, kinds, strict=True)):
                raise ValueError("a field of the wrong type")
            return checkpoint
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CheckpointUnreadable(f"{type(exc).__name__}: {exc}") from exc

    def signed_by(self, public_key: bytes) -> bool:
        """Whether this checkpoint, as it is, was signed by ``public_key`` (raw bytes)."""
        from registry.crypto import verify_signature

        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return False
        return verify_signature(public_key, self.signed_bytes(), signature)


def check_checkpoint(session: Session, checkpoint: Checkpoint) -> Problem | None:
    """Whether the chain still holds the checkpointed event, with its hash and as many
    events up to it. The signature is checked first (``signed_by``), and the chain
    walked (``verify_chain``): together they prove the log up to it is the one signed."""
    row = session.execute(
        sa.select(AuditEvent.action, AuditEvent.hash).where(AuditEvent.id == checkpoint.event_id)
    ).first()
    if row is None:
        return Problem(
            checkpoint.event_id,
            "?",
            "missing: the checkpointed event is gone (the log was cut back before it)",
        )
    if row.hash is None or row.hash.hex() != checkpoint.event_hash:
        return Problem(
            checkpoint.event_id,
            row.action,
            "rewritten: the checkpointed event has another hash now (the chain was rebuilt)",
        )
    count = session.scalar(sa.select(sa.func.count()).where(AuditEvent.id <= checkpoint.event_id))
    if count != checkpoint.events:
        return Problem(
            checkpoint.event_id,
            row.action,
            f"count changed: {count} events up to it now, {checkpoint.events} when checkpointed",
        )
    return None


def recent_events(session: Session, *, page: int, page_size: int):
    """A page of the audit log, newest first (``registry.paging.Page``)."""
    from registry.paging import page_of

    return page_of(
        session, sa.select(AuditEvent).order_by(AuditEvent.id.desc()), page, page_size, scalars=True
    )
