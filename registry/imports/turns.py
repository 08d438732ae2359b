"""What holds while a roll's merge is being written (``merge``): its rows are hidden, no
other writer adds people or certificates, and a merge cut off is cleared away.

A merge writes its batch first, ``running``, then its people and certificates in chunks
of short transactions, and flips the batch to finished in the last one. A preview or a
refused file writes no person and no certificate: its batch is ``recording`` while its
errors are written, and takes no turn.

- **Hidden.** People and certificates of a ``running`` batch are left out of every ORM
  query of every session (``hide_unfinished``, SQLAlchemy's global criteria: no query can
  forget it), so nobody can look up, hire, count or export a row of a roll that is not
  finished. Core statements on the tables see every row: the import's own merge, which
  writes them, and the staging and checks of another import, which leave them out
  themselves (``finished``). Key rotation counts them, and waits for the merge to finish
  before it re-keys them (``wait_for_merges``).
- **Alone.** While a batch runs, a writer of people or certificates answers 503 ``busy``
  with ``Retry-After`` (``refuse_while_importing``): what the merge checked before its
  chunks still holds when they are written. Hiring checks, hires and bans go on.
- **Recovered.** A merge that fails removes what it wrote. One cut off (its process
  killed) is known by its host and process, or by a heartbeat silent for ``SILENT``; the
  next import, the next writer or the server's start removes its rows in chunks
  (``recover``) and marks its batch ``interrupted``, with an audit event. A batch has one
  owner at a time (``owner``, a random token): every chunk and the last transaction
  write only while the batch is still theirs, so a merge judged cut off wrongly (a
  paused process) stops at its next chunk instead of finishing a roll half removed.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, with_loader_criteria

from registry.audit import record_event
from registry.auth.models import SystemActor
from registry.credentials.models import Certificate, CertificateChange
from registry.db import begin_writing, holds_write_lock, utcnow
from registry.errors import Busy
from registry.messages import _
from registry.people.models import Person

from .models import ImportBatch, ImportRowError

log = logging.getLogger(__name__)

# The PostgreSQL advisory lock behind the turns: an import takes it alone to start its
# batch; a writer of people or certificates shares it to see whether a batch runs.
IMPORT_LOCK = int.from_bytes(b"imports!", "big")
# Rows written or removed per transaction: on SQLite about a quarter of a second of the
# write lock each.
CHUNK_ROWS = 10_000
# A running batch that wrote no chunk for this long was cut off (its process may live on
# under another name, or on another host).
SILENT = timedelta(minutes=10)
# The wait a writer refused by a running merge is told (a million rows take about a
# minute).
BUSY_RETRY_SECONDS = 30
# The counts of a batch that wrote nothing.
NOTHING = {
    "accepted": 0,
    "unchanged": 0,
    "created": 0,
    "updated": 0,
    "updated_fields": {},
    "people_created": 0,
}
_BATCHES = ImportBatch.__table__
# The statuses of a batch being written, which recovery finishes when it is cut off.
WRITING = ("running", "recording")


class TakenOver(Busy):
    """The batch being written was recovered by another process (judged cut off): stop
    writing; the recovery removes what was written."""

    def __init__(self, batch_id: int):
        super().__init__(
            _(
                "import {batch_id} was judged interrupted and cleared while it was written; "
                "nothing of it was kept. Import the file again",
                batch_id=batch_id,
            ),
            retry_after=BUSY_RETRY_SECONDS,
        )


def new_owner() -> str:
    return secrets.token_hex(16)


def this_host() -> str:
    return socket.gethostname()[:200]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(conn_or_session, statuses=("running",)) -> list:
    """The merges being written (or every batch in ``statuses``): id, status, host, pid
    and heartbeat."""
    b = _BATCHES.c
    query = sa.select(b.id, b.status, b.host, b.pid, b.beat_at).where(b.status.in_(statuses))
    return conn_or_session.execute(query).all()


def interrupted(batch) -> bool:
    """Whether a running batch's merge was cut off: its process is gone from this host,
    or it has been silent for ``SILENT``."""
    if batch.host == this_host() and batch.pid is not None and not alive(batch.pid):
        return True
    return batch.beat_at is None or batch.beat_at < utcnow() - SILENT


def beat(conn, batch_id: int, owner: str) -> None:
    """In a chunk's transaction, before it writes: the batch is still ``owner``'s (or
    ``TakenOver``), and its writer alive now."""
    b = _BATCHES.c
    mine = _BATCHES.update().where(b.id == batch_id, b.status.in_(WRITING), b.owner == owner)
    if conn.execute(mine.values(beat_at=utcnow())).rowcount != 1:
        raise TakenOver(batch_id)


# ---------------------------------------------------------------------------- alone


def refuse_while_importing(session: Session) -> None:
    """For a writer of people or certificates, before it writes: 503 ``busy`` while a
    roll's merge is being written. Asked under the lock a merge's start takes (SQLite's
    write lock, or PostgreSQL's advisory lock shared), so that a batch starting just now
    is seen. A batch left by an interrupted merge is recovered first."""
    cut_off = [r.id for r in running(session) if interrupted(r)]
    # Recovered on a connection of its own, unless this session holds SQLite's write lock
    # already (a command's): that connection would wait for it. The next import or start
    # recovers it then.
    if cut_off and not holds_write_lock(session):
        with session.get_bind().connect() as conn:
            for batch_id in cut_off:
                recover(conn, batch_id)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(IMPORT_LOCK)))
    else:
        begin_writing(session)
    if running(session):
        raise Busy(
            _(
                "a roll is being imported; people and certificates can be added again in a "
                "minute. Nothing was changed"
            ),
            retry_after=BUSY_RETRY_SECONDS,
        )


# --------------------------------------------------------------------------- hidden


def finished(batch_id_column):
    """Rows (of people or certificates, by their ``import_batch_id``) of no import, or of
    a finished one."""
    return sa.or_(
        batch_id_column.is_(None),
        batch_id_column.not_in(sa.select(ImportBatch.id).where(ImportBatch.status == "running")),
    )


def _finished(cls):
    return finished(cls.import_batch_id)


def hide_unfinished() -> None:
    """Leave the people and certificates of a running batch out of every ORM query of
    every session. A statement that must see them says
    ``execution_options(unfinished_rows=True)``."""
    if not event.contains(Session, "do_orm_execute", _hide):
        event.listen(Session, "do_orm_execute", _hide)


def _hide(state) -> None:
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get("unfinished_rows", False)
    ):
        state.statement = state.statement.options(
            with_loader_criteria(Person, _finished, include_aliases=True),
            with_loader_criteria(Certificate, _finished, include_aliases=True),
        )


# ------------------------------------------------------------------------ recovered


@contextmanager
def writing(conn):
    """A writing transaction on ``conn`` (on SQLite, the write lock from its BEGIN)."""
    conn.execution_options(registry_writes=True, registry_upgrades=False)
    with conn.begin():
        yield


def recover(conn, batch_id: int, owner: str | None = None) -> bool:
    """Remove what a batch being written wrote, in chunks, and mark it ``interrupted``
    with an audit event. Its writer's own (``owner``) after a failure, or one cut off;
    False when it is neither (finished, alive, or recovered by another first)."""
    b = _BATCHES.c
    with writing(conn):
        batch = conn.execute(
            sa.select(b.id, b.status, b.host, b.pid, b.beat_at, b.owner).where(
                b.id == batch_id, b.status.in_(WRITING)
            )
        ).first()
        if batch is None:
            return False
        if not ((owner is not None and batch.owner == owner) or interrupted(batch)):
            return False
        # Ours now, with a fresh heartbeat: its writer and other recoveries stop. Only
        # if still as read (PostgreSQL: its writer may have finished meanwhile).
        seen = _BATCHES.update().where(
            b.id == batch_id, b.status.in_(WRITING), b.owner == batch.owner
        )
        owner = new_owner()
        taken = conn.execute(
            seen.values(beat_at=utcnow(), host=this_host(), pid=os.getpid(), owner=owner)
        )
        if taken.rowcount != 1:
            return False
    this = _BATCHES.update().where(b.id == batch_id)
    removed = _remove_rows(conn, batch_id, owner)
    with writing(conn):
        beat(conn, batch_id, owner)
        conn.execute(this.values(status="interrupted", finished_at=utcnow(), **NOTHING))
        session = Session(bind=conn, join_transaction_mode="rollback_only")
        try:
            record_event(
                session,
                SystemActor("registry"),
                "import.interrupted",
                f"import:{batch_id}",
                removed,
            )
        finally:
            session.close()
    log.warning("import %s was interrupted; what it had written is removed", batch_id)
    return True


def abandon(conn, batch_id: int, owner: str) -> None:
    """A merge that failed removes what it wrote, while the batch is still its own; if
    that fails too, recovery will."""
    try:
        if conn.in_transaction():
            conn.rollback()
        recover(conn, batch_id, owner)
    except Exception:
        log.exception("import %s: its rows are left for recovery", batch_id)


def _remove_rows(conn, batch_id: int, owner: str) -> dict:
    """Delete a batch's errors, certificates (with their history) and people, a chunk per
    transaction; how many of each."""
    certificates, changes = Certificate.__table__, CertificateChange.__table__
    people, errors = Person.__table__, ImportRowError.__table__
    removed = {}
    for name, table, column, dependent in (
        ("errors", errors, errors.c.batch_id, None),
        ("certificates", certificates, certificates.c.import_batch_id, changes.c.certificate_id),
        ("people", people, people.c.import_batch_id, None),
    ):
        removed[name] = 0
        while True:
            with writing(conn):
                beat(conn, batch_id, owner)
                query = sa.select(table.c.id).where(column == batch_id).limit(CHUNK_ROWS)
                ids = conn.scalars(query).all()
                if not ids:
                    break
                if dependent is not None:
                    conn.execute(dependent.table.delete().where(dependent.in_(ids)))
                conn.execute(table.delete().where(table.c.id.in_(ids)))
            removed[name] += len(ids)
    return removed


def wait_for_merges(engine, pause: float = 1.0, told=None) -> None:
    """Until no roll's merge is being written (one cut off is recovered, not waited for);
    ``told()`` is called once if there is one to wait for."""
    while True:
        recover_interrupted(engine)
        with engine.connect() as conn:
            if not running(conn):
                return
        if told is not None:
            told()
            told = None
        time.sleep(pause)


def recover_interrupted(engine) -> int:
    """At a server's start: recover every batch whose writing was cut off; how many."""
    with engine.connect() as conn:
        with writing(conn):
            cut_off = [r.id for r in running(conn, WRITING) if interrupted(r)]
        return sum(recover(conn, batch_id) for batch_id in cut_off)
