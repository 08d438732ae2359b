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
3. **Merge**, in one short writing transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL:
   an advisory lock, so that two imports of overlapping rolls take turns): the batch,
   new people, new certificates, updated ones, their history, the errors and one audit
   event. What changed in the registry since phase 2 is checked again under the lock.

A rejected file (or a dry run) writes only its batch, its errors and the audit event.
Whatever stops an import before phase 3 commits leaves no person and no certificate.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from registry.audit import actor_name, record_event
from registry.credentials import catalogue
from registry.credentials.models import Certificate, CertificateChange
from registry.crypto import Keyring, current_keyring
from registry.db import UTCDateTime, utcnow
from registry.errors import NotFound
from registry.people.models import Person
from registry.people.services import NAME_CONTEXT, NUMBER_CONTEXT

from .models import ImportBatch, ImportRowError
from .readers import UnusableFile, open_roll
from .rows import ParsedRow, RowError, is_header, map_headers, not_data, parse_row, readable_keys

__all__ = [
    "Summary",
    "UnusableFile",
    "run_import",
    "get_batch",
    "summary_of",
    "iter_errors",
    "BATCH_ROWS",
]

BATCH_ROWS = 5000  # rows validated, looked up and staged at a time
SKIPPED_SHOWN = 100  # rows skipped as no data (合计, 制表人 …) listed in the summary
_CACHE_KIB = 64 * 1024  # SQLite's page cache for an import's connection, per database
_CHUNK = 1 << 20
# The PostgreSQL advisory lock that makes the merges of imports take turns.
IMPORT_LOCK = int.from_bytes(b"imports!", "big")

# progress(rows read, fraction of the file read): after each batch of rows.
Progress = Callable[[int, float], None]

# ------------------------------------------------------------------ staging tables

_staging = sa.MetaData()

STAGE = sa.Table(
    "import_stage",
    _staging,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("id_type", sa.String(40), nullable=False),
    sa.Column("id_index", sa.LargeBinary(32), nullable=False),
    sa.Column("id_number_enc", sa.LargeBinary, nullable=False),
    sa.Column("name_enc", sa.LargeBinary, nullable=False),
    sa.Column("name_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("level", sa.String(16)),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("issuer", sa.String(200), nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date),
    sa.Column("person_id", sa.Integer),  # the registered person, once known
    sa.Column("cert_id", sa.Integer),  # the recorded certificate of the key, in phase 3
    sa.Column("ok", sa.Boolean, nullable=False, server_default=sa.true()),
    # A repeat of an earlier row.
    sa.Column("dup", sa.Boolean, nullable=False, server_default=sa.false()),
    prefixes=["TEMPORARY"],
)

# The blind indexes of the staged numbers under the other loaded keys, while a key
# rotation is under way (people not yet re-keyed are found by them); empty otherwise.
STAGE_OTHER_INDEXES = sa.Table(
    "import_stage_other_indexes",
    _staging,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("id_index", sa.LargeBinary(32), primary_key=True),
    prefixes=["TEMPORARY"],
)

# Rows are staged through the driver itself (sqlite3's executemany of plain tuples,
# psycopg's COPY): SQLAlchemy's per-value bind processing cost more than the insert.
_STAGED = (
    "row",
    "id_type",
    "id_index",
    "id_number_enc",
    "name_enc",
    "name_hash",
    "kind",
    "level",
    "number",
    "issuer",
    "issued_on",
    "expires_on",
)

STAGE_ERRORS = sa.Table(
    "import_stage_errors",
    _staging,
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("column", sa.String(64)),
    sa.Column("header", sa.String(200)),
    sa.Column("message", sa.Text, nullable=False),
    prefixes=["TEMPORARY"],
)

# Rows refused for one reason whose number and name, or certificate, can still be read:
# the checks across rows compare them too (a conflict keeps both of its rows out).
STAGE_FAILED = sa.Table(
    "import_stage_failed",
    _staging,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("id_index", sa.LargeBinary(32)),
    sa.Column("name_hash", sa.LargeBinary(32)),
    sa.Column("issuer", sa.String(200)),
    sa.Column("number", sa.String(64)),
    prefixes=["TEMPORARY"],
)
_FAILED = ("row", "id_index", "name_hash", "issuer", "number")

_STAGING_TABLES = (STAGE_OTHER_INDEXES, STAGE_ERRORS, STAGE_FAILED, STAGE)  # in the order dropped

# Made once the rows are staged (inserts into an unindexed table are faster).
_STAGE_INDEXES = (
    "CREATE INDEX import_stage_key ON import_stage (issuer, number)",
    # With the name's hash: the same-number check reads this index alone.
    "CREATE INDEX import_stage_id_index ON import_stage (id_index, name_hash)",
    'CREATE INDEX import_stage_errors_row ON import_stage_errors ("row")',
)

_FIELD_LABELS = {
    "identity": ("证件号码", "identity number"),
    "name": ("姓名", "name"),
    "kind": ("证书名称", "certificate name"),
    "level": ("等级", "level"),
    "issued_on": ("发证日期", "issue date"),
    "expires_on": ("有效期至", "expiry date"),
}


_UPDATABLE = ("kind", "level", "issued_on", "expires_on")
# The counts of an import that wrote nothing.
_NOTHING = {
    "accepted": 0,
    "unchanged": 0,
    "created": 0,
    "updated": 0,
    "updated_fields": {},
    "people_created": 0,
}


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
        raise NotFound(f"no import with id {batch_id}")
    return batch


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
    first commits whatever the caller did in ``session``, then works on a
    connection of its own from the session's engine; when the session is bound to a
    connection in a transaction (the tests), each phase is a savepoint in it instead.

    ``partial`` writes the valid rows of a file with errors; ``dry_run`` validates and
    records the batch, writing no person and no certificate. ``progress(rows, read)`` is
    called during the first phase after each batch of rows, with the rows read so far
    and how much of the file that is (0 to 1). ``workers=2`` validates and encrypts
    in a forked worker process too (the command line's choice; a web server's worker
    had better not fork). Raises ``UnusableFile`` for a file that cannot be read as a
    roll at all (nothing is recorded then).
    """
    keyring = current_keyring()  # one set of keys for the whole import
    if filename is None:
        filename = os.path.basename(os.fspath(source)) if _is_path(source) else "upload"
    sha256 = None if _is_path(source) else _sha256(source)
    with open_roll(source, encoding=encoding, sheet=sheet, is_header=is_header) as roll:
        sha256 = sha256 or _sha256(source)  # a path: once open_roll said it is a roll
        # The caller's transaction ends here: on SQLite a writing request's session holds
        # the write lock from its first query, which the merge would wait for.
        session.commit()
        bind = session.get_bind()
        if isinstance(bind, sa.Connection):
            return _Import(bind, False, keyring, actor, roll, filename, sha256).run(
                dry_run, partial, progress, errors_limit, workers
            )
        session.close()
        with bind.connect() as connection:
            return _Import(connection, True, keyring, actor, roll, filename, sha256).run(
                dry_run, partial, progress, errors_limit, workers
            )


def _insert(table: sa.Table, columns: tuple[str, ...], dialect) -> str:
    """The INSERT of ``columns`` in the driver's own SQL and parameter style."""
    return str(table.insert().compile(dialect=dialect, column_keys=list(columns)))


def _copy(table: sa.Table, columns: tuple[str, ...]):
    from psycopg import sql

    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _is_path(source) -> bool:
    return isinstance(source, str | os.PathLike)


def _sha256(source) -> str:
    # The fingerprint of the whole file the bureau handed in (issue 5 asks for it), so a
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


def name_key(name: str) -> str:
    """A name as compared: NFKC, no spaces, case-folded, one kind of middle dot."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(text.split()).casefold()
    return text.translate(_DOTS)


_DOTS = str.maketrans({"•": "·", "‧": "·", "・": "·", "．": "·", ".": "·"})


class _Preparer:
    """Validates, encrypts and indexes a batch of rows (``(row_number, values)``) into
    ``(staged, other, errors, failed, skipped)``: the STAGE rows as tuples of
    ``_STAGED``, the rows of STAGE_OTHER_INDEXES, the ``RowError``s, the STAGE_FAILED rows
    and the numbers of the rows that are no data (a total, a signature). Pure
    computation, no database: it runs in the importing process and in its worker."""

    def __init__(self, keyring: Keyring, kid: str, columns, today: date, dialect: str):
        self.columns, self.today = columns, today
        self.index = keyring.indexer(kid)
        self.others = [keyring.indexer(k) for k in sorted(keyring.blind_keys) if k != kid]
        self.seal_number = keyring.encrypter(NUMBER_CONTEXT)
        self.seal_name = keyring.encrypter(NAME_CONTEXT)
        self.iso = dialect == "sqlite"  # SQLite keeps dates as ISO text
        self.name_hashes: dict[str, bytes] = {}  # a name as typed -> its keyed hash

    def name_hash(self, name: str) -> bytes:
        name_hashes = self.name_hashes
        name_hash = name_hashes.get(name)
        if name_hash is None:
            if len(name_hashes) > 100_000:
                name_hashes.clear()  # memory stays bounded on a roll of millions
            name_hash = name_hashes[name] = self.index("import.name:" + name_key(name))
        return name_hash

    def __call__(self, batch) -> tuple[list, list, list[RowError], list[tuple], list[int]]:
        columns, today, iso = self.columns, self.today, self.iso
        index, others, name_hash_of = self.index, self.others, self.name_hash
        seal_number, seal_name = self.seal_number, self.seal_name
        default_expiry = catalogue.default_expiry
        staged, other, errors, failed, skipped = [], [], [], [], []
        for number, values in batch:
            p = parse_row(columns, number, values, today=today)
            if p.__class__ is not ParsedRow:
                if not_data(columns, values):  # 合计, 制表人 …: no row of the roll
                    skipped.append(number)
                    continue
                errors.extend(p)
                identity, name, issuer, certificate = readable_keys(columns, values, today=today)
                if identity is not None and name is not None or certificate and issuer:
                    who = identity is not None and name is not None
                    failed.append(
                        (
                            number,
                            index(identity.canonical) if who else None,
                            name_hash_of(name) if who else None,
                            issuer if certificate else None,
                            certificate if issuer else None,
                        )
                    )
                continue
            identity, name = p.identity, p.name
            canonical = identity.canonical
            name_hash = name_hash_of(name)
            issued_on = p.issued_on
            expires_on = p.expires_on or default_expiry(p.kind, issued_on)
            if iso:
                issued_on = issued_on.isoformat()
                expires_on = expires_on and expires_on.isoformat()
            staged.append(
                (
                    number,
                    identity.id_type,
                    index(canonical),
                    seal_number(identity.number),
                    seal_name(name),
                    name_hash,
                    p.kind,
                    p.level,
                    p.number,
                    p.issuer,
                    issued_on,
                    expires_on,
                )
            )
            for other_index in others:
                other.append((number, other_index(canonical)))
        return staged, other, errors, failed, skipped


# The worker's _Preparer, inherited from the importing process when it forks.
_worker_prepare: _Preparer | None = None


def _start_worker(prepare: _Preparer) -> None:
    global _worker_prepare
    _worker_prepare = prepare


def _prepare_in_worker(batch):
    return _worker_prepare(batch)


@contextmanager
def _helper(prepare: _Preparer, workers: int):
    """A function from batches to ``(batch, prepared)`` in order: prepared here, or with
    ``workers`` > 1 (and fork available) two batches in three by a worker process."""
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield lambda batches: ((batch, prepare(batch)) for batch in batches)
        return
    # Forked, so that the worker inherits the keys (which are never pickled or written
    # anywhere) and the columns; batches of cells go to it and staged tuples come back.
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(prepare,),
    )

    def pipelined(batches):
        # The worker takes two batches of every three: this process also reads the file
        # and writes every batch, and was the one the other waited for at one in two.
        numbered = enumerate(batches)
        pending: deque = deque()  # (batch, the worker's future, or None: ours)

        def queue_up():
            # Two batches stay queued for the worker, so it works while this one writes.
            while sum(future is not None for _, future in pending) < 2:
                number, batch = next(numbered, (None, None))
                if batch is None:
                    return
                ours = number % 3 == 2
                pending.append((batch, None if ours else pool.submit(_prepare_in_worker, batch)))

        queue_up()
        while pending:
            batch, future = pending.popleft()
            prepared = prepare(batch) if future is None else future.result()
            queue_up()
            yield batch, prepared

    try:
        yield pipelined
    finally:
        pool.shutdown(cancel_futures=True)


def _room_to_sort(conn) -> None:
    """PostgreSQL: joins, sorts and groupings of a million staged rows in memory rather
    than on disk (the default 4 MB spilled them), for the current transaction only."""
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


class _Rejected(Exception):
    """Phase 3 found errors under the lock that phase 2 could not see. They are carried
    out of the merge's transaction, which rolls back, to be recorded with the batch."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} errors under the lock")
        self.errors = errors


class _Import:
    def __init__(self, connection, owned, keyring: Keyring, actor, roll, filename, sha256):
        self.conn = connection
        self.owned = owned  # False: inside the caller's transaction, phases are savepoints
        self.keyring = keyring
        self.kid = keyring.active_blind_kid
        self.actor = actor
        self.roll = roll
        self.filename = filename[:200]
        self.sha256 = sha256
        self.rows = 0  # data rows: read, less those skipped as no data
        self.skipped: list[int] = []  # the first SKIPPED_SHOWN of them
        self.skipped_count = 0
        self.columns = map_headers(roll.headers, header_row=roll.header_row)
        self.today = date.today()
        self.names: dict[int, str] = {}  # person id -> name key, decrypted once

    # -- transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self, *, writes: bool):
        if not self.owned:
            with self.conn.begin_nested():
                yield
            return
        # SQLite: a writing transaction begins with BEGIN IMMEDIATE (registry.db).
        self.conn.execution_options(registry_writes=writes)
        with self.conn.begin():
            yield

    def run(self, dry_run, partial, progress, errors_limit, workers=1) -> Summary:
        self.dry_run, self.partial, self.workers = dry_run, partial, workers
        try:
            if self.owned and self.conn.dialect.name == "sqlite":
                # The merge inserts into three tables and their indexes at once; SQLite's
                # default 2 MB page cache made a million rows take minutes. The connection
                # is closed at the end, taking the setting with it.
                driver = self.conn.connection.driver_connection
                for database in ("main", "temp"):
                    driver.execute(f"PRAGMA {database}.cache_size = -{_CACHE_KIB}")
            with self.transaction(writes=False):
                for table in _STAGING_TABLES:
                    table.drop(self.conn, checkfirst=True)  # left by an import that crashed
                _staging.create_all(self.conn)
            columns = self.columns
            if columns.ok:
                self.stage(columns, progress)
                with self.transaction(writes=False):
                    self.check(columns)
            else:
                with self.transaction(writes=False):
                    self.add_errors(columns.errors())
            batch_id = self.finish()
            session = Session(bind=self.conn)
            try:
                return summary_of(
                    session, session.get(ImportBatch, batch_id), errors_limit=errors_limit
                )
            finally:
                session.close()
                if self.owned and self.conn.in_transaction():
                    self.conn.rollback()  # the reading transaction of the summary
        finally:
            self.drop_staging()

    def drop_staging(self) -> None:
        if self.conn.closed:
            return
        if self.owned:
            # Our own connection is closed rather than returned to the pool: its temporary
            # tables go with it, where dropping a million staged rows took seconds.
            self.conn.invalidate()
            return
        try:
            with self.transaction(writes=False):
                for table in _STAGING_TABLES:
                    table.drop(self.conn, checkfirst=True)
        except sa.exc.DBAPIError:
            pass  # the connection is broken; its temporary tables went with it

    # -- phase 1: stage ----------------------------------------------------------------

    def stage(self, columns, progress: Progress | None) -> None:
        """Phase 1. With ``workers`` > 1 a forked process validates and encrypts two
        batches in three while this one reads the file, does the third and writes them
        all: the two together use both cores of the bureau's machine."""
        prepare = _Preparer(self.keyring, self.kid, columns, self.today, self.conn.dialect.name)
        self.index = prepare.index
        rows = iter(self.roll)

        def batches():
            while batch := list(islice(rows, BATCH_ROWS)):
                yield batch

        with _helper(prepare, self.workers) as helper:
            read = 0
            for batch, prepared in helper(batches()):
                with self.transaction(writes=False):
                    self.stage_batch(columns, prepared)
                    skipped = prepared[4]
                    self.skipped_count += len(skipped)
                    self.skipped.extend(skipped[: SKIPPED_SHOWN - len(self.skipped)])
                    self.rows += len(batch) - len(skipped)
                    read += len(batch)
                    if progress is not None:
                        progress(read, self.roll.read())

    def stage_batch(self, columns, prepared) -> None:
        """Stage a prepared batch (``_Preparer``), then find which of its numbers are
        registered (``resolve_registered``)."""
        staged, other, errors, failed, _ = prepared
        self.add_errors(errors)
        if failed:
            self.conn.execute(
                STAGE_FAILED.insert(), [dict(zip(_FAILED, f, strict=True)) for f in failed]
            )
        if staged:
            self.write_staged(staged, other)
            self.resolve_registered(columns, staged[0][0], staged[-1][0])

    def write_staged(self, staged: list[tuple], other: list[tuple]) -> None:
        dialect = self.conn.dialect
        driver = self.conn.connection.driver_connection
        writes = [(STAGE, _STAGED, staged), (STAGE_OTHER_INDEXES, ("row", "id_index"), other)]
        try:
            if dialect.name == "postgresql":
                with driver.cursor() as cursor:
                    for table, columns, rows in writes:
                        if rows:
                            with cursor.copy(_copy(table, columns)) as copy:
                                for row in rows:
                                    copy.write_row(row)
            else:
                cursor = driver.cursor()
                try:
                    for table, columns, rows in writes:
                        if rows:
                            cursor.executemany(_insert(table, columns, dialect), rows)
                finally:
                    cursor.close()
        except self.conn.dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy raises it, parameters hidden: they are ciphertexts and indexes.
            raise sa.exc.DBAPIError.instance(
                f"staging rows into {STAGE.name}",
                None,
                exc,
                self.conn.dialect.loaded_dbapi.Error,
                hide_parameters=True,
                dialect=self.conn.dialect,
            ) from exc

    def resolve_registered(self, columns, first: int, last: int) -> None:
        """The staged rows ``first`` to ``last`` whose number is registered (under any
        loaded key): the person's id when the names agree, else an error and ``ok`` false
        (a typo in the number, most often)."""
        s, other, people = STAGE, STAGE_OTHER_INDEXES, Person.__table__
        registered = people.c.name_enc.label("registered")
        columns_ = (s.c.row, s.c.name_hash, s.c.name_enc, people.c.id, registered)
        in_range = s.c.row.between(first, last)
        query = sa.union_all(
            sa.select(*columns_)
            .select_from(s.join(people, people.c.id_index == s.c.id_index))
            .where(in_range),
            sa.select(*columns_)
            .select_from(
                other.join(s, s.c.row == other.c.row).join(
                    people, people.c.id_index == other.c.id_index
                )
            )
            .where(in_range),
        )
        errors = [
            _name_mismatch(r.row, columns, self.keyring.decrypt(r.name_enc, NAME_CONTEXT))
            for r in self.match_people(self.conn.execute(query).all())
        ]
        if errors:
            self.add_errors(sorted(errors, key=lambda e: e.row))
            self.conn.execute(
                s.update().where(s.c.row.in_([e.row for e in errors])).values(ok=False)
            )

    def match_people(self, found) -> list:
        """Staged rows whose number is registered (``row``, ``name_hash``, the person's
        ``id`` and ``registered`` name): where the names agree the row gets the person's
        id; the rows where they differ are returned."""
        resolved, mismatched = [], []
        for r in found:
            key = self.name_key_of(r.id, r.registered)
            if self.index("import.name:" + key) == r.name_hash:
                resolved.append({"r": r.row, "pid": r.id})
            else:
                mismatched.append(r)
        if resolved:
            self.conn.execute(
                STAGE.update()
                .where(STAGE.c.row == sa.bindparam("r"))
                .values(person_id=sa.bindparam("pid")),
                resolved,
            )
        return mismatched

    def name_key_of(self, person_id: int, name_enc: bytes) -> str:
        key = self.names.get(person_id)
        if key is None:
            if len(self.names) > 100_000:
                self.names.clear()  # memory stays bounded on a roll of millions
            key = self.names[person_id] = name_key(self.keyring.decrypt(name_enc, NAME_CONTEXT))
        return key

    def add_errors(self, errors: Iterable[RowError]) -> None:
        """Stage errors, in batches: a check may find one on every row of a roll."""
        errors = iter(errors)
        while batch := list(itertools.islice(errors, BATCH_ROWS)):
            self.conn.execute(
                STAGE_ERRORS.insert(),
                [
                    {"row": e.row, "column": e.column, "header": e.header, "message": e.message}
                    for e in batch
                ],
            )

    # -- phase 2: check ----------------------------------------------------------------

    def check(self, columns) -> None:
        for statement in _STAGE_INDEXES:
            self.conn.exec_driver_sql(statement)
        if self.conn.dialect.name == "postgresql":
            # Autovacuum never analyzes temporary tables: without this the planner guesses
            # the staged rows' count and picks nested loops over a million rows.
            self.conn.exec_driver_sql(f"ANALYZE {STAGE.name}")
            _room_to_sort(self.conn)
        self.check_same_certificate(columns)
        self.check_same_number(columns)
        self.mark_errors()
        self.check_recorded_for_another(columns)
        self.mark_errors()
        self.mark_repeats()

    def check_same_certificate(self, columns) -> None:
        """The same certificate (issuer + number) on rows that say different things, or
        on a valid row and a row refused for another reason: which row is right cannot be
        told, so every row of the certificate gets an error naming the others (identical
        repeats are no conflict: ``mark_repeats`` merges them once)."""
        s, f, first = STAGE, STAGE_FAILED, STAGE.alias("f")
        compared = ("id_index", "name_hash", "kind", "level", "issued_on", "expires_on")
        groups = (
            sa.select(s.c.issuer, s.c.number, sa.func.min(s.c.row).label("first"))
            .group_by(s.c.issuer, s.c.number)
            .having(sa.func.count() > 1)
            .subquery()
        )
        differs = sa.or_(*(s.c[c].is_distinct_from(first.c[c]) for c in compared))
        conflicting = sa.union(
            sa.select(s.c.issuer, s.c.number)
            .select_from(
                s.join(
                    groups, sa.and_(s.c.issuer == groups.c.issuer, s.c.number == groups.c.number)
                ).join(first, first.c.row == groups.c.first)
            )
            .where(differs),
            sa.select(f.c.issuer, f.c.number).select_from(
                f.join(s, sa.and_(s.c.issuer == f.c.issuer, s.c.number == f.c.number))
            ),
        ).subquery()
        in_conflict = (conflicting.c.issuer, conflicting.c.number)
        rows = sa.union_all(
            sa.select(s.c.row, s.c.issuer, s.c.number, sa.true().label("ok"), *s.c[compared]).where(
                sa.tuple_(s.c.issuer, s.c.number).in_(sa.select(*in_conflict))
            ),
            sa.select(
                f.c.row,
                f.c.issuer,
                f.c.number,
                sa.false().label("ok"),
                *(sa.null().label(c) for c in compared),
            ).where(sa.tuple_(f.c.issuer, f.c.number).in_(sa.select(*in_conflict))),
        ).subquery()
        query = sa.select(rows).order_by(rows.c.issuer, rows.c.number, rows.c.row)
        header = columns.header("certificate_no")

        def errors():
            found = self.conn.execute(query).all()
            for _, group in itertools.groupby(found, key=lambda r: (r.issuer, r.number)):
                group = list(group)
                for r in group:
                    data = tuple(r._mapping[c] for c in compared)
                    others = [
                        o
                        for o in group
                        if o.row != r.row
                        and (not (r.ok and o.ok) or tuple(o._mapping[c] for c in compared) != data)
                    ]
                    if others:
                        yield _certificate_conflict(r, others, compared, header)

        self.add_errors(sorted(errors(), key=lambda e: e.row))

    def check_same_number(self, columns) -> None:
        """One identity number under two names, over every row whose number and name can
        be read, refused or not: every row of the number gets an error naming the rows
        with the other name, so that neither name reaches the registry."""
        s, f, f2 = STAGE, STAGE_FAILED, STAGE_FAILED.alias("f2")
        conflicting = sa.union(
            sa.select(s.c.id_index)
            .group_by(s.c.id_index)
            .having(sa.func.count(sa.distinct(s.c.name_hash)) > 1),
            sa.select(f.c.id_index)
            .select_from(f.join(s, s.c.id_index == f.c.id_index))
            .where(s.c.name_hash != f.c.name_hash),
            sa.select(f.c.id_index)
            .select_from(f.join(f2, f2.c.id_index == f.c.id_index))
            .where(f2.c.name_hash != f.c.name_hash),
        ).subquery()
        rows = sa.union_all(
            sa.select(s.c.row, s.c.id_index, s.c.name_hash).where(
                s.c.id_index.in_(sa.select(conflicting.c.id_index))
            ),
            sa.select(f.c.row, f.c.id_index, f.c.name_hash).where(
                f.c.id_index.in_(sa.select(conflicting.c.id_index))
            ),
        ).subquery()
        query = sa.select(rows).order_by(rows.c.id_index, rows.c.row)
        header = columns.header("id_number")

        def errors():
            found = self.conn.execute(query).all()
            for _, group in itertools.groupby(found, key=lambda r: r.id_index):
                group = list(group)
                for r in group:
                    others = [o.row for o in group if o.name_hash != r.name_hash]
                    zh, en = _rows_shown(others)
                    yield RowError(
                        r.row,
                        "id_number",
                        header,
                        f"该证件号码在第{zh}行对应另一个姓名，这些行都未导入；多为号码录入错误，"
                        "请核对号码和姓名"
                        f"（this identity number appears in {en} with another name, and none of "
                        "these rows is imported; usually a typo in the number: check the number "
                        "and the name）",
                    )

        self.add_errors(sorted(errors(), key=lambda e: e.row))

    def check_recorded_for_another(self, columns) -> list[RowError]:
        """A certificate number of the issuer already recorded for another person.
        Returns the errors it staged."""
        s, c = STAGE, Certificate.__table__
        query = (
            sa.select(s.c.row, s.c.issuer, s.c.number)
            .select_from(s.join(c, sa.and_(c.c.issuer == s.c.issuer, c.c.number == s.c.number)))
            .where(s.c.ok, sa.or_(s.c.person_id.is_(None), c.c.person_id != s.c.person_id))
            .order_by(s.c.row)
        )
        header = columns.header("certificate_no")
        errors = [
            RowError(
                r.row,
                "certificate_no",
                header,
                f"证书编号{r.number}（{r.issuer}）已登记在另一人名下；请核对证书编号和证件号码"
                f"（certificate {r.number} of {r.issuer} is already recorded for another person; "
                "check the certificate number and the identity number）",
            )
            for r in self.conn.execute(query)
        ]
        self.add_errors(errors)
        return errors

    def mark_errors(self) -> None:
        self.conn.execute(
            STAGE.update()
            .where(STAGE.c.ok, STAGE.c.row.in_(sa.select(STAGE_ERRORS.c.row)))
            .values(ok=False)
        )

    def mark_repeats(self) -> None:
        """Rows identical to an earlier valid row of the same certificate: merged once."""
        earlier = STAGE.alias("e")
        repeated = (
            sa.select(STAGE.c.issuer, STAGE.c.number)
            .group_by(STAGE.c.issuer, STAGE.c.number)
            .having(sa.func.count() > 1)
        )
        self.conn.execute(
            STAGE.update()
            .where(
                STAGE.c.ok,
                sa.tuple_(STAGE.c.issuer, STAGE.c.number).in_(repeated),
                sa.exists().where(
                    earlier.c.ok,
                    earlier.c.issuer == STAGE.c.issuer,
                    earlier.c.number == STAGE.c.number,
                    earlier.c.row < STAGE.c.row,
                ),
            )
            .values(dup=True)
        )

    # -- phase 3: merge ----------------------------------------------------------------

    def error_rows(self) -> int:
        return self.conn.scalar(
            sa.select(sa.func.count(sa.distinct(STAGE_ERRORS.c.row))).where(
                STAGE_ERRORS.c.row != self.roll.header_row
            )
        )

    def has_errors(self) -> bool:
        return self.conn.scalar(sa.select(sa.exists(sa.select(STAGE_ERRORS.c.seq))))

    def finish(self) -> int:
        if self.dry_run:
            with self.transaction(writes=False):
                counts = self.classify()
                failed = self.has_errors()
            status = "rejected" if failed and not self.partial else self.status(failed)
            if status == "rejected":
                counts = dict(_NOTHING)
            with self.transaction(writes=True):
                return self.record(status, counts)
        with self.transaction(writes=False):
            failed = self.has_errors()
        if failed and not self.partial:
            with self.transaction(writes=True):
                return self.record("rejected", dict(_NOTHING))
        try:
            with self.transaction(writes=True):
                return self.merge()
        except _Rejected as rejected:
            with self.transaction(writes=True):
                self.add_errors(rejected.errors)
                return self.record("rejected", dict(_NOTHING))

    def status(self, failed: bool) -> str:
        return "partial" if failed else "accepted"

    def differs(self, c, fields=_UPDATABLE):
        s = STAGE
        return sa.or_(*(c.c[f].is_distinct_from(s.c[f]) for f in fields))

    def classify(self) -> dict:
        """What a merge now would count (for a dry run)."""
        s, c = STAGE, Certificate.__table__
        changing = sa.and_(~s.c.dup, c.c.status != "revoked")
        new, updated, valid, people, *fields = self.conn.execute(
            sa.select(
                sa.func.count(sa.case((sa.and_(~s.c.dup, c.c.id.is_(None)), 1))),
                sa.func.count(sa.case((sa.and_(changing, self.differs(c)), 1))),
                sa.func.count(),
                sa.func.count(sa.distinct(sa.case((s.c.person_id.is_(None), s.c.id_index)))),
                *(
                    sa.func.count(sa.case((sa.and_(changing, self.differs(c, (f,))), 1)))
                    for f in _UPDATABLE
                ),
            )
            .select_from(
                s.outerjoin(c, sa.and_(c.c.issuer == s.c.issuer, c.c.number == s.c.number))
            )
            .where(s.c.ok)
        ).one()
        return {
            "accepted": new + updated,
            "unchanged": valid - new - updated,
            "created": new,
            "updated": updated,
            "updated_fields": {f: n for f, n in zip(_UPDATABLE, fields, strict=True) if n},
            "people_created": people,
        }

    def record(self, status: str, counts: dict, batch_id: int | None = None) -> int:
        """Write the batch (or complete the one merged into), its errors and the event."""
        values = {
            "status": status,
            "rows": self.rows,
            "rejected": self.error_rows(),
            "finished_at": utcnow(),
            **self.how_read(),
            **counts,
        }
        batches = ImportBatch.__table__
        if batch_id is None:
            batch_id = self.new_batch(values)
        else:
            self.conn.execute(batches.update().where(batches.c.id == batch_id).values(**values))
        e = STAGE_ERRORS
        self.conn.execute(
            ImportRowError.__table__.insert().from_select(
                ["batch_id", "row", "column", "header", "message"],
                sa.select(
                    sa.literal(batch_id), e.c.row, e.c.column, e.c.header, e.c.message
                ).order_by(e.c.row, e.c.seq),
            )
        )
        session = Session(bind=self.conn, join_transaction_mode="rollback_only")
        try:
            record_event(
                session,
                self.actor,
                "import.rejected" if status == "rejected" else "import.accepted",
                f"import:{batch_id}",
                {
                    "filename": self.filename,
                    "sha256": self.sha256,
                    "status": status,
                    "dry_run": self.dry_run,
                    "partial": self.partial,
                    "rows": self.rows,
                    "accepted": values["accepted"],
                    "unchanged": values["unchanged"],
                    "rejected": values["rejected"],
                    "created": values["created"],
                    "updated": values["updated"],
                    "people_created": values["people_created"],
                    "skipped": values["skipped"],
                },
            )
        finally:
            session.close()
        return batch_id

    def how_read(self) -> dict:
        return {
            "header_row": self.roll.header_row,
            "sheet": self.roll.sheet and self.roll.sheet[:200],
            "ignored_columns": list(self.columns.unknown),
            "skipped": self.skipped_count,
            "skipped_rows": self.skipped,
        }

    def new_batch(self, values: dict) -> int:
        result = self.conn.execute(
            ImportBatch.__table__.insert().values(
                filename=self.filename,
                sha256=self.sha256,
                user_id=getattr(self.actor, "id", None),
                actor=actor_name(self.actor),
                dry_run=self.dry_run,
                partial=self.partial,
                created_at=utcnow(),
                **values,
            )
        )
        return result.inserted_primary_key[0]

    def merge(self) -> int:
        conn, s = self.conn, STAGE
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(IMPORT_LOCK)))
            _room_to_sort(conn)
        self.late_checks()
        batch_id = self.new_batch(
            {"status": "running", "rows": self.rows, "accepted": 0, "unchanged": 0, "rejected": 0}
        )
        now = utcnow()
        people, certificates = Person.__table__, Certificate.__table__
        changes = CertificateChange.__table__
        actor = actor_name(self.actor)

        # New people: the first valid row of each number nobody registered.
        new_people = sa.select(
            s.c.id_type,
            s.c.id_index,
            sa.literal(self.kid, sa.String(40)),
            s.c.id_number_enc,
            s.c.name_enc,
            sa.literal(now, UTCDateTime()),
        ).where(s.c.ok, s.c.person_id.is_(None))
        columns = ["id_type", "id_index", "id_index_kid", "id_number_enc", "name_enc", "created_at"]
        if conn.dialect.name == "sqlite":
            # In row order, the later rows of a number left out by its unique index: half
            # the time of looking for an earlier row of each (2.3 s on a million rows).
            # Only under SQLite's write lock, where nobody else can have registered the
            # number since late_checks() looked.
            insert = (
                sqlite.insert(people)
                .from_select(columns, new_people.order_by(s.c.row))
                .on_conflict_do_nothing(index_elements=[people.c.id_index])
            )
        else:
            earlier = s.alias("e")
            insert = people.insert().from_select(
                columns,
                new_people.where(
                    ~sa.exists().where(
                        earlier.c.ok,
                        earlier.c.person_id.is_(None),
                        earlier.c.id_index == s.c.id_index,
                        earlier.c.row < s.c.row,
                    )
                ),
            )
        last_person = conn.scalar(sa.select(sa.func.max(people.c.id))) or 0
        conn.execute(insert)
        # Counted, not the rowcount: drivers do not all report it for INSERT … SELECT.
        people_created = conn.scalar(
            sa.select(sa.func.count()).where(
                people.c.id > last_person, people.c.created_at == sa.literal(now, UTCDateTime())
            )
        )

        # New certificates, and their first history entry.
        conn.execute(
            certificates.insert().from_select(
                [
                    "person_id",
                    "kind",
                    "level",
                    "number",
                    "issuer",
                    "issued_on",
                    "expires_on",
                    "status",
                    "import_batch_id",
                    "created_at",
                ],
                sa.select(
                    # The person registered before, or just now: joined here rather than
                    # first written into the staging table (2 s more on a million rows).
                    sa.func.coalesce(s.c.person_id, people.c.id),
                    s.c.kind,
                    s.c.level,
                    s.c.number,
                    s.c.issuer,
                    s.c.issued_on,
                    s.c.expires_on,
                    sa.literal("valid", sa.String(16)),
                    sa.literal(batch_id),
                    sa.literal(now, UTCDateTime()),
                )
                .select_from(
                    s.outerjoin(
                        people, sa.and_(s.c.person_id.is_(None), people.c.id_index == s.c.id_index)
                    )
                )
                .where(s.c.ok, ~s.c.dup, s.c.cert_id.is_(None))
                .order_by(s.c.row),
            )
        )
        # Counted, not the rowcount: drivers do not all report it for INSERT … SELECT.
        inserted = conn.scalar(
            sa.select(sa.func.count()).where(certificates.c.import_batch_id == batch_id)
        )
        snapshot = (
            sa.func.json_build_object if conn.dialect.name == "postgresql" else sa.func.json_object
        )
        key = sa.literal_column  # keys as SQL text: PostgreSQL cannot type a bound "any"
        conn.execute(
            changes.insert().from_select(
                ["certificate_id", "action", "changes", "actor", "import_batch_id", "changed_at"],
                sa.select(
                    certificates.c.id,
                    sa.literal("issued", sa.String(16)),
                    snapshot(
                        key("'kind'"),
                        certificates.c.kind,
                        key("'level'"),
                        certificates.c.level,
                        key("'number'"),
                        certificates.c.number,
                        key("'issuer'"),
                        certificates.c.issuer,
                        key("'issued_on'"),
                        certificates.c.issued_on,
                        key("'expires_on'"),
                        certificates.c.expires_on,
                    ),
                    sa.literal(actor, sa.String(64)),
                    sa.literal(batch_id),
                    sa.literal(now, UTCDateTime()),
                )
                .where(certificates.c.import_batch_id == batch_id)
                .order_by(certificates.c.id),
            )
        )

        # Changed certificates: few, so updated from here. A revoked one stays as it was.
        updated, updated_fields = 0, {}
        query = (
            sa.select(
                certificates.c.id,
                *(certificates.c[f].label(f"old_{f}") for f in _UPDATABLE),
                *(s.c[f] for f in _UPDATABLE),
            )
            .select_from(s.join(certificates, certificates.c.id == s.c.cert_id))
            .where(s.c.ok, ~s.c.dup, certificates.c.status != "revoked", self.differs(certificates))
            .order_by(s.c.row)
        )
        rows = conn.execute(query).all()
        for start in range(0, len(rows), BATCH_ROWS):
            chunk = rows[start : start + BATCH_ROWS]
            conn.execute(
                certificates.update()
                .where(certificates.c.id == sa.bindparam("cid"))
                .values(
                    **{f: sa.bindparam(f"new_{f}") for f in _UPDATABLE},
                    updated_at=sa.bindparam("now", type_=UTCDateTime()),
                ),
                [
                    {"cid": r.id, "now": now, **{f"new_{f}": r._mapping[f] for f in _UPDATABLE}}
                    for r in chunk
                ],
            )
            changed = [_changed(r) for r in chunk]
            conn.execute(
                changes.insert(),
                [
                    {
                        "certificate_id": r.id,
                        "action": "updated",
                        "changes": fields,
                        "actor": actor,
                        "import_batch_id": batch_id,
                        "changed_at": now,
                    }
                    for r, fields in zip(chunk, changed, strict=True)
                ],
            )
            for fields in changed:
                for name in fields:
                    updated_fields[name] = updated_fields.get(name, 0) + 1
            updated += len(chunk)
        valid = conn.scalar(sa.select(sa.func.count()).where(s.c.ok))
        failed = self.has_errors()
        counts = {
            "accepted": inserted + updated,
            "unchanged": valid - inserted - updated,
            "created": inserted,
            "updated": updated,
            "updated_fields": {f: updated_fields[f] for f in _UPDATABLE if f in updated_fields},
            "people_created": people_created,
        }
        return self.record(self.status(failed), counts, batch_id)

    def late_checks(self) -> None:
        """Under the lock: what other writers did since the rows were checked. People
        registered since (by another import, say) are found and their names compared;
        a certificate number recorded since for another person is an error. Without
        ``partial`` any such error rejects the file (``_Rejected``)."""
        s, people = STAGE, Person.__table__
        columns = self.columns
        found = self.conn.execute(
            sa.select(s.c.row, s.c.name_hash, people.c.id, people.c.name_enc.label("registered"))
            .select_from(s.join(people, people.c.id_index == s.c.id_index))
            .where(s.c.ok, s.c.person_id.is_(None))
        ).all()
        errors = [_name_mismatch(r.row, columns, None) for r in self.match_people(found)]
        self.add_errors(errors)
        certificates = Certificate.__table__
        self.conn.execute(
            s.update()
            .where(
                s.c.ok,
                ~s.c.dup,
                certificates.c.issuer == s.c.issuer,
                certificates.c.number == s.c.number,
            )
            .values(cert_id=certificates.c.id)
        )
        conflicts = self.check_recorded_for_another(columns)
        if (errors or conflicts) and not self.partial:
            raise _Rejected(errors + conflicts)
        self.mark_errors()


def _json_value(value):
    return value.isoformat() if isinstance(value, date) else value


def _changed(r) -> dict:
    m = r._mapping
    return {
        f: {"from": _json_value(m[f"old_{f}"]), "to": _json_value(m[f])}
        for f in _UPDATABLE
        if m[f"old_{f}"] != m[f]
    }


def _rows_shown(rows: list[int], most: int = 5) -> tuple[str, str]:
    """Other rows named in a message: '5、8行' style Chinese and 'rows 5, 8' English."""
    shown = [str(r) for r in rows[:most]]
    more_zh = f"等{len(rows)}" if len(rows) > most else ""
    more_en = f" and {len(rows) - most} more" if len(rows) > most else ""
    zh = "、".join(shown) + more_zh
    en = ("row " if len(rows) == 1 else "rows ") + ", ".join(shown) + more_en
    return zh, en


def _certificate_conflict(r, others, compared, header) -> RowError:
    zh_rows, en_rows = _rows_shown([o.row for o in others])
    valid = [o for o in others if o.ok] if r.ok else []
    if valid:
        names = ("identity", "name", "kind", "level", "issued_on", "expires_on")
        fields = [
            name
            for name, c in zip(names, compared, strict=True)
            if r._mapping[c] != valid[0]._mapping[c]
        ]
        zh = "、".join(_FIELD_LABELS[f][0] for f in fields)
        en = ", ".join(_FIELD_LABELS[f][1] for f in fields)
        said_zh, said_en = f"但{zh}不同", f"with a different {en}"
    else:
        said_zh = "但其中有的行有错误，无法确认哪一行正确"
        said_en = "and a row of it has errors, so which row is right cannot be told"
    return RowError(
        r.row,
        "certificate_no",
        header,
        f"证书编号{r.number}（{r.issuer}）在第{zh_rows}行也出现，{said_zh}；这些行都未导入，"
        "同一证书只能出现一次，或各行内容完全相同"
        f"（certificate {r.number} of {r.issuer} also appears in {en_rows} {said_en}; none of "
        "these rows is imported: a certificate may appear once, or again with identical data）",
    )


def _name_mismatch(row: int, columns, name: str | None) -> RowError:
    shown = f"“{name}”" if name else ""
    shown_en = f" '{name}'" if name else ""
    return RowError(
        row,
        "id_number",
        columns.header("id_number"),
        f"该证件号码已登记在另一个姓名下，与本行姓名{shown}不符；多为号码录入错误，请核对号码"
        f"（this identity number is registered under another name than{shown_en or ' this row’s'};"
        " usually a typo in the number: check it）",
    )
