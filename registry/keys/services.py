"""Key rotation: every blind index recomputed and every identity number and name
re-encrypted under the newest keys, in batches, before the old keys are retired.
Functions take the session and never commit: the command commits after each batch.

While a rotation runs, rows stand under old and new keys at once. Lookups compute the
index under every loaded key and find either. The re-screen joins people to bans on the
index itself, so a number is re-keyed in people, bans and ban_checks in one transaction:
at no commit does one number stand under two keys in those tables.

A hiring check keeps the index of the number asked about, never the number, so a check
can only be re-keyed through a person or a ban with that number. The others keep their
old key id and are no longer found by number once the old key is retired.

A person's name index is recomputed from the decrypted name along with the number's (and
filled where it was missing); the names kept in people's history are re-encrypted last.

The people of a roll whose merge is being written are hidden, and left as they are: the
merge goes by their index from one chunk to the next. ``pending`` counts them, and the
command waits for the merge to finish (``imports.turns.wait_for_merges``) before it
re-keys them and retires anything.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import crypto
from registry.audit import record_event
from registry.bans import services as bans
from registry.bans.models import Ban, BanCheck
from registry.crypto import DecryptionError, Keyring
from registry.errors import RegistryError
from registry.identity import IdentityNumber
from registry.messages import _
from registry.people import services as people
from registry.people.models import Person, PersonChange
from registry.people.names import name_index

# The purposes a rotation renews, in the order their keys are made and retired: the files
# alone then tell where an interrupted rotation stopped (see ``prepare_keys``). Receipt
# keys are not renewed here: their public keys verify receipts already handed out.
PURPOSES = ("encryption", "blind_index")


class RotationError(RegistryError):
    code = "rotation_failed"


@dataclass(frozen=True)
class Table:
    """A table whose rows hold an encrypted number and name, and their blind index."""

    name: str
    model: type
    number_context: str
    name_context: str


TABLES = (
    Table("people", Person, people.NUMBER_CONTEXT, people.NAME_CONTEXT),
    Table("bans", Ban, bans.NUMBER_CONTEXT, bans.NAME_CONTEXT),
)
# Tables whose index moves along with the number it was computed from.
FOLLOWERS = (Ban.__table__, BanCheck.__table__)
# Names encrypted outside the tables above: the names before a correction.
HISTORY = "person_history"
# Every table a rotation rewrites, in the order it does.
REKEYED = (*(table.name for table in TABLES), HISTORY)


@dataclass(frozen=True)
class Targets:
    """The keys a rotation moves every row to: the newest of each purpose."""

    blind_kid: str
    encryption_kid: str

    @classmethod
    def of(cls, keyring: Keyring) -> "Targets":
        return cls(keyring.active_blind_kid, keyring.active_encryption_kid)


@dataclass(frozen=True)
class Batch:
    table: str
    rows: int
    last_id: int


@contextmanager
def exclusive(keys_dir: Path):
    """One rotation at a time on a keys folder (two would retire each other's keys)."""
    path = Path(keys_dir) / ".rotation.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError(
                _("another key rotation is running on {folder}", folder=keys_dir)
            ) from None
        yield
    finally:
        os.close(fd)


def prepare_keys(keys_dir: Path) -> dict[str, str]:
    """Make the new keys of a rotation unless one is under way; the kids made, by purpose.

    One key of each purpose: no rotation is under way, make both. An extra encryption
    key and one blind-index key: a rotation stopped between making the two, make the
    blind-index key. Anything else: a rotation is under way; it continues to the newest
    keys there are, and nothing is made.
    """
    keyring = Keyring.load(keys_dir)  # refuses missing or damaged keys: never starts afresh
    if len(keyring.blind_keys) > 1:
        return {}
    todo = PURPOSES if len(keyring.encryption_keys) == 1 else ("blind_index",)
    return {purpose: crypto.generate_key(keys_dir, purpose) for purpose in todo}


def _under(ciphertext: bytes, kid: str) -> bool:
    return ciphertext.startswith(crypto.ciphertext_prefix(kid))


def _pending(model, targets: Targets):
    """Rows whose index or ciphertexts are not yet under the targets."""
    conditions = [
        model.id_index_kid != targets.blind_kid,
        ~_under_target(model.id_number_enc, targets),
        ~_under_target(model.name_enc, targets),
    ]
    if model is Person:
        conditions += [
            Person.name_index_kid.is_(None),
            Person.name_index_kid != targets.blind_kid,
        ]
    return sa.or_(*conditions)


def _under_target(column, targets: Targets):
    prefix = crypto.ciphertext_prefix(targets.encryption_kid)
    head = sa.func.substr(column, 1, len(prefix), type_=sa.LargeBinary)
    return head == sa.literal(prefix, sa.LargeBinary)


def _decrypt(keyring: Keyring, table: Table, row_id: int, token: bytes, context: str) -> str:
    try:
        return keyring.decrypt(token, context)
    except DecryptionError as exc:
        raise RotationError(
            _(
                "{table} {row}: cannot decrypt ({reason}); nothing was retired. Restore the key "
                "or repair the row, then run the rotation again",
                table=table.name,
                row=row_id,
                reason=exc,
            )
        ) from exc


def rekey_batch(
    session: Session, keyring: Keyring, table: Table, after_id: int, size: int
) -> Batch | None:
    """Re-key the next ``size`` rows of ``table`` after id ``after_id`` that are not yet
    under the newest keys of ``keyring``, and the bans and checks with the same numbers.
    None when no such row is left."""
    targets = Targets.of(keyring)
    model = table.model
    names = model is Person  # and their index
    rows = session.execute(
        sa.select(
            model.id,
            model.id_type,
            model.id_index,
            model.id_index_kid,
            model.id_number_enc,
            model.name_enc,
            *([Person.name_index_kid] if names else []),
        )
        .where(model.id > after_id, _pending(model, targets))
        .order_by(model.id)
        .limit(size)
    ).all()
    if not rows:
        return None
    updates, moves = [], {}
    for row in rows:
        number = _decrypt(keyring, table, row.id, row.id_number_enc, table.number_context)
        identity = IdentityNumber(row.id_type, number)
        index = keyring.blind_index(identity.canonical, targets.blind_kid)
        if row.id_index_kid in keyring.blind_keys and row.id_index != keyring.blind_index(
            identity.canonical, row.id_index_kid
        ):
            raise RotationError(
                _(
                    "{table} {row}: the stored index is not that of the stored number (the row "
                    "was changed outside the registry); nothing was retired",
                    table=table.name,
                    row=row.id,
                )
            )
        if row.id_index_kid != targets.blind_kid:
            # The number's index under every old key, and the row's own (its key may be
            # gone): checks and bans under any of them move with it.
            olds = {(row.id_index_kid, row.id_index)}
            olds.update(
                (kid, keyring.blind_index(identity.canonical, kid))
                for kid in keyring.blind_keys
                if kid != targets.blind_kid
            )
            moves.update({old: index for old in olds})
        name_enc, update = row.name_enc, {}
        reindex = names and row.name_index_kid != targets.blind_kid
        if reindex or not _under(name_enc, targets.encryption_kid):
            name = _decrypt(keyring, table, row.id, name_enc, table.name_context)
            if not _under(name_enc, targets.encryption_kid):
                name_enc = keyring.encrypt(name, table.name_context)
            if names:
                update["b_name_index"] = name_index(keyring, name, targets.blind_kid)
        elif names:
            update["b_name_index"] = None  # under the target already: left as it is
        number_enc = row.id_number_enc
        if not _under(number_enc, targets.encryption_kid):
            number_enc = keyring.encrypt(identity.number, table.number_context)
        updates.append(
            {"b_id": row.id, "b_index": index, "b_number": number_enc, "b_name": name_enc} | update
        )
    if model is Person:
        _refuse_duplicate_people(session, updates)
    columns = model.__table__.c
    values = {
        "id_index": sa.bindparam("b_index"),
        "id_index_kid": targets.blind_kid,
        "id_number_enc": sa.bindparam("b_number"),
        "name_enc": sa.bindparam("b_name"),
    }
    if names:
        new_index = sa.bindparam("b_name_index", type_=sa.LargeBinary)
        values["name_index"] = sa.func.coalesce(new_index, columns.name_index)
        values["name_index_kid"] = targets.blind_kid
    session.execute(
        sa.update(model.__table__).where(columns.id == sa.bindparam("b_id")).values(**values),
        updates,
    )
    if moves:
        params = [
            {"b_old_kid": kid, "b_old": old, "b_new": new} for (kid, old), new in moves.items()
        ]
        for follower in FOLLOWERS:
            session.execute(
                sa.update(follower)
                .where(
                    follower.c.id_index_kid == sa.bindparam("b_old_kid"),
                    follower.c.id_index == sa.bindparam("b_old"),
                )
                .values(id_index=sa.bindparam("b_new"), id_index_kid=targets.blind_kid),
                params,
            )
    return Batch(table.name, len(rows), rows[-1].id)


def _refuse_duplicate_people(session: Session, updates: list[dict]) -> None:
    # One person per number (people.id_index is unique). Two rows with one number can only
    # come from writers holding different keys; re-keying would make them collide.
    ids = {}
    for update in updates:
        other = ids.setdefault(update["b_index"], update["b_id"])
        if other != update["b_id"]:
            raise _duplicate(other, update["b_id"])
    clash = session.execute(
        sa.select(Person.id, Person.id_index)
        .where(Person.id_index.in_(list(ids)), Person.id.not_in(list(ids.values())))
        .execution_options(unfinished_rows=True)
    ).first()
    if clash is not None:
        raise _duplicate(clash.id, ids[clash.id_index])


def _duplicate(a: int, b: int) -> RotationError:
    return RotationError(
        _(
            "people {first} and {second} have the same identity number (registered under "
            "different keys); merge them, then run the rotation again",
            first=min(a, b),
            second=max(a, b),
        )
    )


def _history_pending(targets: Targets):
    return sa.and_(
        PersonChange.previous_name_enc.is_not(None),
        ~_under_target(PersonChange.previous_name_enc, targets),
    )


def rekey_history_batch(
    session: Session, keyring: Keyring, after_id: int, size: int
) -> Batch | None:
    """Re-encrypt the next ``size`` names kept in people's history (the names before a
    correction) after id ``after_id`` that are not under the newest key."""
    targets = Targets.of(keyring)
    rows = session.execute(
        sa.select(PersonChange.id, PersonChange.previous_name_enc)
        .where(PersonChange.id > after_id, _history_pending(targets))
        .order_by(PersonChange.id)
        .limit(size)
    ).all()
    if not rows:
        return None
    table = TABLES[0]  # the names are people's, under the people's context
    updates = [
        {
            "b_id": row.id,
            "b_name": keyring.encrypt(
                _decrypt(keyring, table, row.id, row.previous_name_enc, table.name_context),
                table.name_context,
            ),
        }
        for row in rows
    ]
    history = PersonChange.__table__
    session.execute(
        sa.update(history)
        .where(history.c.id == sa.bindparam("b_id"))
        .values(previous_name_enc=sa.bindparam("b_name")),
        updates,
    )
    return Batch(HISTORY, len(rows), rows[-1].id)


def rekey(session: Session, keyring: Keyring, size: int) -> Iterator[Batch]:
    """Every table re-keyed in batches of ``size`` rows, walking up the ids; yields after
    each batch, which the caller commits. Memory does not grow with the tables."""
    for table in TABLES:
        after = 0
        while (batch := rekey_batch(session, keyring, table, after, size)) is not None:
            yield batch
            after = batch.last_id
    after = 0
    while (batch := rekey_history_batch(session, keyring, after, size)) is not None:
        yield batch
        after = batch.last_id


def pending(session: Session, keyring: Keyring) -> dict[str, int]:
    """Rows of each table not yet under the newest keys."""
    targets = Targets.of(keyring)
    counts = {
        table.name: session.scalar(
            sa.select(sa.func.count())
            .select_from(table.model)
            .where(_pending(table.model, targets))
            .execution_options(unfinished_rows=True)
        )
        for table in TABLES
    }
    counts[HISTORY] = session.scalar(
        sa.select(sa.func.count()).select_from(PersonChange).where(_history_pending(targets))
    )
    return counts


def checks_under_old_keys(session: Session, keyring: Keyring) -> dict[str, int]:
    """Checks whose index is not under the newest blind-index key, by key id."""
    rows = session.execute(
        sa.select(BanCheck.id_index_kid, sa.func.count())
        .where(BanCheck.id_index_kid != keyring.active_blind_kid)
        .group_by(BanCheck.id_index_kid)
        .order_by(BanCheck.id_index_kid)
    )
    return {kid: count for kid, count in rows}


def retire_old_keys(keys_dir: Path, targets: Targets) -> list[tuple[str, str, Path]]:
    """Move every blind-index and encryption key but the targets to ``retired/``; returns
    (purpose, kid, where it went). Refuses if newer keys appeared since the re-key."""
    keyring = Keyring.load(keys_dir)
    if Targets.of(keyring) != targets:
        raise RotationError(
            _(
                "newer keys appeared in the keys folder while rows were re-keyed; nothing was "
                "retired: run the rotation again"
            )
        )
    kids = {"encryption": keyring.encryption_keys, "blind_index": keyring.blind_keys}
    active = {"encryption": targets.encryption_kid, "blind_index": targets.blind_kid}
    return [
        (purpose, kid, crypto.retire_key(keys_dir, purpose, kid))
        for purpose in PURPOSES
        for kid in sorted(kids[purpose])
        if kid != active[purpose]
    ]


def record_rotation(session: Session, actor, summary: dict) -> None:
    """The rotation in the audit log: key ids and counts (key ids are not secret)."""
    record_event(session, actor, "keys.rotated", f"keys:{summary['blind_index']}", summary)
