"""Phase 1 of a roll import: rows read in batches, validated and encrypted (here or in a
forked worker), and staged in TEMPORARY tables of the import's connection, with their
errors; each batch's numbers are looked up among the people registered.

The state of an import (its connection, keys, counts) is ``services._Import``'s, created
there; the functions here take it as ``job``.
"""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from itertools import islice

import sqlalchemy as sa

from registry.credentials import catalogue
from registry.crypto import Keyring
from registry.messages import _
from registry.people.models import Person
from registry.people.names import LABEL as NAME_LABEL
from registry.people.names import name_key
from registry.people.services import NAME_CONTEXT, NUMBER_CONTEXT

from .rows import ParsedRow, RowError, not_data, parse_row, readable_keys
from .turns import finished

BATCH_ROWS = 5000  # rows validated, looked up and staged at a time
SKIPPED_SHOWN = 100  # rows skipped as no data (合计, 制表人 …) listed in the summary
# progress(rows read, fraction of the file read): after each batch of rows.
Progress = Callable[[int, float], None]

# ------------------------------------------------------------------ staging tables

STAGING_METADATA = sa.MetaData()

STAGE = sa.Table(
    "import_stage",
    STAGING_METADATA,
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
    STAGING_METADATA,
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
    STAGING_METADATA,
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
    STAGING_METADATA,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("id_index", sa.LargeBinary(32)),
    sa.Column("name_hash", sa.LargeBinary(32)),
    sa.Column("issuer", sa.String(200)),
    sa.Column("number", sa.String(64)),
    prefixes=["TEMPORARY"],
)
_FAILED = ("row", "id_index", "name_hash", "issuer", "number")

STAGING_TABLES = (STAGE_OTHER_INDEXES, STAGE_ERRORS, STAGE_FAILED, STAGE)  # in the order dropped

# Made once the rows are staged (inserts into an unindexed table are faster).
_STAGE_INDEXES = (
    "CREATE INDEX import_stage_key ON import_stage (issuer, number)",
    # With the name's hash: the same-number check reads this index alone.
    "CREATE INDEX import_stage_id_index ON import_stage (id_index, name_hash)",
    'CREATE INDEX import_stage_errors_row ON import_stage_errors ("row")',
)


def _insert(table: sa.Table, columns: tuple[str, ...], dialect) -> str:
    """The INSERT of ``columns`` in the driver's own SQL and parameter style."""
    return str(table.insert().compile(dialect=dialect, column_keys=list(columns)))


def _copy(table: sa.Table, columns: tuple[str, ...]):
    from psycopg import sql

    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


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
            name_hash = name_hashes[name] = self.index(NAME_LABEL + name_key(name))
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


def _start_worker(prepare: _Preparer, parent: int) -> None:
    global _worker_prepare
    _worker_prepare = prepare
    _die_with(parent)


_PR_SET_PDEATHSIG = 1
PARENT_WATCH_SECONDS = 1.0


def _die_with(parent: int) -> None:
    """End this worker when the importing process ends, however it ends.

    The worker holds the keys, the file's rows and a copy of the import's database
    connection; a ``registry import-roll`` killed with SIGKILL cannot tell it to stop, and
    the pipe it waits on never closes (it holds the other end too, inherited by the fork).
    Linux sends it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and
    should the parent be gone before that is set, a thread of its own sees it adopted by
    another process and ends it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watch below does it
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the signal was asked for

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
        initargs=(prepare, os.getpid()),
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


def stage(job, columns, progress: Progress | None) -> None:
    """Phase 1. With ``workers`` > 1 a forked process validates and encrypts two
    batches in three while this one reads the file, does the third and writes them
    all: the two together use both cores of the bureau's machine."""
    prepare = _Preparer(job.keyring, job.kid, columns, job.today, job.conn.dialect.name)
    rows = iter(job.roll)

    def batches():
        while batch := list(islice(rows, BATCH_ROWS)):
            yield batch

    with _helper(prepare, job.workers) as helper:
        read = 0
        for batch, prepared in helper(batches()):
            with job.transaction(writes=False):
                stage_batch(job, columns, prepared)
                skipped = prepared[4]
                job.skipped_count += len(skipped)
                job.skipped.extend(skipped[: SKIPPED_SHOWN - len(job.skipped)])
                job.rows += len(batch) - len(skipped)
                read += len(batch)
                if progress is not None:
                    progress(read, _done(job.roll, batch[-1][0]))


def _done(roll, row: int) -> float:
    """How much of the file is staged once ``row`` is: the reader's position scaled back
    from the row it has reached (the worker's batches are read ahead) to ``row``."""
    if roll.row <= 0:
        return 0.0
    return min(1.0, roll.read() * row / roll.row)


def stage_batch(job, columns, prepared) -> None:
    """Stage a prepared batch (``_Preparer``), then find which of its numbers are
    registered (``resolve_registered``)."""
    staged, other, errors, failed, _ = prepared
    add_errors(job, errors)
    if failed:
        job.conn.execute(
            STAGE_FAILED.insert(), [dict(zip(_FAILED, f, strict=True)) for f in failed]
        )
    if staged:
        write_staged(job, staged, other)
        resolve_registered(job, columns, staged[0][0], staged[-1][0])


def write_staged(job, staged: list[tuple], other: list[tuple]) -> None:
    dialect = job.conn.dialect
    driver = job.conn.connection.driver_connection
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
    except job.conn.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy raises it, parameters hidden: they are ciphertexts and indexes.
        raise sa.exc.DBAPIError.instance(
            f"staging rows into {STAGE.name}",
            None,
            exc,
            job.conn.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=job.conn.dialect,
        ) from exc


def resolve_registered(job, columns, first: int, last: int) -> None:
    """The staged rows ``first`` to ``last`` whose number is registered (under any
    loaded key): the person's id when the names agree, else an error and ``ok`` false
    (a typo in the number, most often). A number whose record was merged into another
    (a wrong number, ``registry people merge``) is an error too: its certificates would
    go to the hidden record."""
    s, other, people = STAGE, STAGE_OTHER_INDEXES, Person.__table__
    registered = people.c.name_enc.label("registered")
    # Named by the record's public id: the row error reaches the clerk.
    target = people.alias("merged_target")
    merged_into = (
        sa.select(target.c.public_id)
        .where(target.c.id == people.c.merged_into_id)
        .scalar_subquery()
        .label("merged_into")
    )
    columns_ = (s.c.row, s.c.name_hash, s.c.name_enc, people.c.id, registered, merged_into)
    # Not the hidden people of another roll being merged: if it finishes, the late checks
    # find them; if it is interrupted, they never were.
    in_range = sa.and_(s.c.row.between(first, last), finished(people.c.import_batch_id))
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
        refusal(r, columns, lambda r=r: job.keyring.decrypt(r.name_enc, NAME_CONTEXT))
        for r in match_people(job, job.conn.execute(query).all())
    ]
    if errors:
        add_errors(job, sorted(errors, key=lambda e: e.row))
        job.conn.execute(s.update().where(s.c.row.in_([e.row for e in errors])).values(ok=False))


def match_people(job, found) -> list:
    """Staged rows whose number is registered (``row``, ``name_hash``, the person's
    ``id``, ``registered`` name and ``merged_into``): where the names agree the row gets
    the person's id; the rows refused are returned (``refusal`` says why): the names
    differ, or the record was merged into another."""
    resolved, mismatched = [], []
    for r in found:
        if r.merged_into is not None:
            mismatched.append(r)
            continue
        key = name_key_of(job, r.id, r.registered)
        if job.index(NAME_LABEL + key) == r.name_hash:
            resolved.append({"r": r.row, "pid": r.id})
        else:
            mismatched.append(r)
    if resolved:
        job.conn.execute(
            STAGE.update()
            .where(STAGE.c.row == sa.bindparam("r"))
            .values(person_id=sa.bindparam("pid")),
            resolved,
        )
    return mismatched


def name_key_of(job, person_id: int, name_enc: bytes) -> str:
    key = job.names.get(person_id)
    if key is None:
        if len(job.names) > 100_000:
            job.names.clear()  # memory stays bounded on a roll of millions
        key = job.names[person_id] = name_key(job.keyring.decrypt(name_enc, NAME_CONTEXT))
    return key


def add_errors(job, errors: Iterable[RowError]) -> None:
    """Stage errors, in batches: a check may find one on every row of a roll."""
    errors = iter(errors)
    while batch := list(itertools.islice(errors, BATCH_ROWS)):
        job.conn.execute(
            STAGE_ERRORS.insert(),
            [
                {"row": e.row, "column": e.column, "header": e.header, "message": e.message}
                for e in batch
            ],
        )


def refusal(r, columns, name: Callable[[], str | None]) -> RowError:
    """The error of a row ``match_people`` refused; ``name()`` gives the registered name
    to show when the names differ."""
    if r.merged_into is not None:
        return _merged_number(r.row, columns, r.merged_into)
    return _name_mismatch(r.row, columns, name())


def _merged_number(row: int, columns, into: str) -> RowError:
    return RowError(
        row,
        "id_number",
        columns.header("id_number"),
        _(
            "this identity number's record was merged into record {into} as a wrong"
            " number: correct the number in the roll",
            into=into,
        ),
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
