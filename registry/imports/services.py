"""Importing a roll: read and validate every row, check the rows against each other and
the registry, then write the certificates (and the people new to the registry) all at
once, or nothing.

``run_import`` is the one entry point, for the command line and the API alike. Unlike
every other service it manages its own transactions (the rule "services never commit"
has this one exception, kept in this module), because the three phases need different
ones on the same database connection:

1. **Stage.** Rows are read and validated in batches (constant memory) into TEMPORARY
   tables of that connection: the valid ones with the identity number and name only
   encrypted, and keyed hashes (never plain ones) to compare them by; the errors with
   their row, column and header. Each batch looks up its numbers among the people
   registered, to find a number registered under another name. On SQLite these are
   deferred (reading) transactions: writes to temporary tables do not take the
   database's write lock, so hiring checks and other writers go on while a big file is
   read.
2. **Check** the rows against each other in SQL: the same certificate twice with
   different data, the same number with different names, a certificate number already
   recorded for another person.
3. **Merge** (``merge``): imports take turns; the batch is written first, ``running``,
   and what changed in the registry since phase 2 is checked again. New people and
   certificates then go in chunks, each a short writing transaction (SQLite's write lock
   is never held for long: hiring checks go on), hidden from every read until the last
   transaction updates the changed certificates, writes the counts, the errors' summary
   and one audit event, and finishes the batch.

A rejected file (or a dry run) writes only its batch, its errors and the audit event.
Whatever stops an import before its last transaction commits leaves no person and no
certificate to be seen: a merge that fails removes its rows, and one cut off is
recovered (``turns.recover``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app, has_request_context
from sqlalchemy.orm import Session

from registry import clock
from registry.crypto import Keyring, current_keyring
from registry.errors import NotFound
from registry.messages import _
from registry.paging import Page, page_of

from . import checks, merge, staging
from .models import ImportBatch, ImportRowError
from .readers import UnusableFile, open_roll
from .rows import is_header, map_headers
from .staging import BATCH_ROWS, Progress

__all__ = [
    "Summary",
    "UnusableFile",
    "run_import",
    "get_batch",
    "summary_of",
    "iter_errors",
    "errors_page",
    "read_columns",
    "BATCH_ROWS",
]

_CACHE_KIB = 64 * 1024  # SQLite's page cache for an import's connection, per database
_CHUNK = 1 << 20


# -------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """What an import did: SPEC §3's summary (``as_dict``) and the batch's state."""

    batch_id: int
    rows: int
    accepted: int
    unchanged: int
    rejected: int
    errors: list[dict] = field(default_factory=list)
    status: str = "accepted"
    dry_run: bool = False
    partial: bool = False
    filename: str = ""
    errors_total: int = 0
    created: int = 0
    updated: int = 0
    updated_fields: dict = field(default_factory=dict)
    people_created: int = 0
    header_row: int | None = None
    sheet: str | None = None
    ignored_columns: list = field(default_factory=list)
    skipped: int = 0
    skipped_rows: list = field(default_factory=list)

    def as_dict(self) -> dict:
        """The keys of the interface contract, then what the import changed (``created``
        and ``updated`` certificates, which make ``accepted``; the fields the updates
        changed; people new to the registry) and how the file was read (the header's row,
        the sheet, the columns ignored, the rows skipped as no data)."""
        return {
            "batch_id": self.batch_id,
            "rows": self.rows,
            "accepted": self.accepted,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": self.errors,
            "created": self.created,
            "updated": self.updated,
            "updated_fields": self.updated_fields,
            "people_created": self.people_created,
            "header_row": self.header_row,
            "sheet": self.sheet,
            "ignored_columns": self.ignored_columns,
            "skipped": self.skipped,
            "skipped_rows": self.skipped_rows,
        }


def get_batch(session: Session, batch_id: int) -> ImportBatch:
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(_("no import with id {batch_id}", batch_id=batch_id))
    return batch


def list_batches(
    session: Session,
    *,
    status: str | None = None,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """Imports, newest first (the rows ``ImportBatch``), only those in ``status`` when given."""
    query = sa.select(ImportBatch).order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc())
    if status is not None:
        query = query.where(ImportBatch.status == status)
    return page_of(session, query, page, page_size, scalars=True)


def iter_errors(session: Session, batch_id: int, limit: int | None = None) -> Iterator[dict]:
    """The batch's errors in row order, as SPEC §3's ``errors`` items, streamed."""
    query = (
        sa.select(
            ImportRowError.row, ImportRowError.column, ImportRowError.header, ImportRowError.message
        )
        .where(ImportRowError.batch_id == batch_id)
        .order_by(ImportRowError.row, ImportRowError.id)
    )
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=1000)):
        yield {"row": row.row, "column": row.column, "header": row.header, "message": row.message}


def errors_page(session: Session, batch_id: int, page: int, page_size: int) -> Page:
    """One page of the batch's errors in row order (the rows ``ImportRowError``)."""
    query = (
        sa.select(ImportRowError)
        .where(ImportRowError.batch_id == batch_id)
        .order_by(ImportRowError.row, ImportRowError.id)
    )
    return page_of(session, query, page, page_size, scalars=True)


def read_columns(
    source: str | os.PathLike, *, encoding: str | None = None, sheet: str | None = None
):
    """How ``run_import`` reads the roll's columns: the header found and which column
    is which field (``rows.Columns``), the sheet read; ``UnusableFile`` as it would."""
    with open_roll(source, encoding=encoding, sheet=sheet, is_header=is_header) as roll:
        return map_headers(roll.headers, header_row=roll.header_row), roll.sheet


def summary_of(session: Session, batch: ImportBatch, *, errors_limit: int | None = None) -> Summary:
    total = session.scalar(sa.select(sa.func.count()).where(ImportRowError.batch_id == batch.id))
    return Summary(
        batch_id=batch.id,
        rows=batch.rows,
        accepted=batch.accepted,
        unchanged=batch.unchanged,
        rejected=batch.rejected,
        errors=list(iter_errors(session, batch.id, errors_limit)),
        status=batch.status,
        dry_run=batch.dry_run,
        partial=batch.partial,
        filename=batch.filename,
        errors_total=total,
        created=batch.created,
        updated=batch.updated,
        updated_fields=dict(batch.updated_fields or {}),
        people_created=batch.people_created,
        header_row=batch.header_row,
        sheet=batch.sheet,
        ignored_columns=list(batch.ignored_columns or []),
        skipped=batch.skipped,
        skipped_rows=list(batch.skipped_rows or []),
    )


# ----------------------------------------------------------------------- the import


def run_import(
    session: Session,
    actor,
    source: str | os.PathLike | object,
    filename: str | None = None,
    *,
    dry_run: bool = False,
    partial: bool = False,
    encoding: str | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
    errors_limit: int | None = None,
    workers: int = 1,
) -> Summary:
    """Import a roll (a path, or a seekable binary file) and return its summary.

    This function commits, the one service that does (see the module's docstring): it
    first commits whatever the caller did in ``session`` and closes it, then works on a
    connection of its own from the session's engine. A session bound to a connection (a
    transaction the caller keeps open) is refused: the import could not commit in it, and
    on SQLite it would wait for that transaction's write lock.

    ``partial`` writes the valid rows of a file with errors; ``dry_run`` validates and
    records the batch, writing no person and no certificate. ``progress(rows, read)`` is
    called during the first phase after each batch of rows, with the rows read so far
    and how much of the file that is (0 to 1). ``workers=2`` validates and encrypts
    in a forked worker process too (the command line's choice; a web server's worker
    had better not fork). Raises ``UnusableFile`` for a file that cannot be read as a
    roll at all (nothing is recorded then), and, within a request, ``Busy`` when another
    roll's merge did not finish within the busy timeout (nothing is recorded either).
    """
    keyring = current_keyring()  # one set of keys for the whole import
    options = {"dry_run": dry_run, "partial": partial, "workers": workers, "turn_wait": None}
    if has_request_context():
        settings = current_app.extensions["registry.settings"]
        options["turn_wait"] = settings.sqlite_busy_timeout_ms / 1000
    if filename is None:
        filename = os.path.basename(os.fspath(source)) if _is_path(source) else "upload"
    sha256 = None if _is_path(source) else _sha256(source)
    with open_roll(source, encoding=encoding, sheet=sheet, is_header=is_header) as roll:
        sha256 = sha256 or _sha256(source)  # a path: once open_roll said it is a roll
        engine = session.get_bind()
        if not isinstance(engine, sa.Engine):
            raise TypeError("run_import needs a session bound to an engine, not a connection")
        # The caller's transaction ends here: on SQLite a writing request's session holds
        # the write lock from its first query, which the merge would wait for.
        session.commit()
        session.close()
        with engine.connect() as connection:
            job = _Import(connection, keyring, actor, roll, filename, sha256, options)
            return job.run(progress, errors_limit)


def _is_path(source) -> bool:
    return isinstance(source, str | os.PathLike)


def _sha256(source) -> str:
    # The fingerprint of the whole file the bureau handed in, kept with the batch so that a
    # file imported twice can be told: it is over every byte of every row, never over one
    # identity number, which only the keyed blind index may stand for.
    digest = hashlib.sha256()
    if _is_path(source):
        with open(source, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    else:
        start = source.tell()
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
        source.seek(start)
    return digest.hexdigest()


class _Import:
    """One import's state, all of it set here: its own connection, the
    keys, the file and its columns, the options, and the counts the phases keep
    (``staging``, ``checks`` and ``merge`` take it as ``job``)."""

    def __init__(self, connection, keyring: Keyring, actor, roll, filename, sha256, options):
        self.conn = connection
        self.keyring = keyring
        self.kid = keyring.active_blind_kid
        self.index = keyring.indexer(self.kid)
        self.actor = actor
        self.roll = roll
        self.filename = filename[:200]
        self.sha256 = sha256
        self.dry_run: bool = options["dry_run"]
        self.partial: bool = options["partial"]
        self.workers: int = options["workers"]
        # How long the merge waits for another to finish: within a request, as long as
        # a writer waits for the lock; otherwise as long as it takes.
        self.turn_wait: float | None = options["turn_wait"]
        self.owner: str | None = None  # of the batch being written (``turns``)
        self.columns = map_headers(roll.headers, header_row=roll.header_row)
        self.today = clock.today()
        self.rows = 0  # data rows: read, less those skipped as no data
        self.skipped: list[int] = []  # the first SKIPPED_SHOWN of them
        self.skipped_count = 0
        self.names: dict[int, str] = {}  # person id -> name key, decrypted once

    # -- transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self, *, writes: bool):
        # SQLite: a writing transaction begins with BEGIN IMMEDIATE (registry.db); a
        # reading one stays deferred even when it writes (to its temporary tables only).
        self.conn.execution_options(registry_writes=writes, registry_upgrades=False)
        with self.conn.begin():
            if self.conn.dialect.name == "postgresql":
                checks.room_to_sort(self.conn)
            yield

    def run(self, progress, errors_limit) -> Summary:
        try:
            if self.conn.dialect.name == "sqlite":
                # The merge inserts into three tables and their indexes at once; SQLite's
                # default 2 MB page cache made a million rows take minutes. The connection
                # is closed at the end, taking the setting with it.
                driver = self.conn.connection.driver_connection
                for database in ("main", "temp"):
                    driver.execute(f"PRAGMA {database}.cache_size = -{_CACHE_KIB}")
            with self.transaction(writes=False):
                for table in staging.STAGING_TABLES:
                    table.drop(self.conn, checkfirst=True)  # left by an import that crashed
                staging.STAGING_METADATA.create_all(self.conn)
            columns = self.columns
            if columns.ok:
                staging.stage(self, columns, progress)
                with self.transaction(writes=False):
                    checks.check(self, columns)
            else:
                with self.transaction(writes=False):
                    staging.add_errors(self, columns.errors())
            batch_id = merge.finish(self)
            session = Session(bind=self.conn)
            try:
                return summary_of(
                    session, session.get(ImportBatch, batch_id), errors_limit=errors_limit
                )
            finally:
                session.close()
                if self.conn.in_transaction():
                    self.conn.rollback()  # the reading transaction of the summary
        finally:
            self.drop_staging()

    def drop_staging(self) -> None:
        if not self.conn.closed:
            # Our own connection is closed rather than returned to the pool: its temporary
            # tables go with it, where dropping a million staged rows took seconds.
            self.conn.invalidate()
