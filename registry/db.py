"""Engine, declarative base and the session of a request.

The naming convention keeps constraint names identical on SQLite and PostgreSQL, so that
migrations written once apply to both. The typed aliases keep the models short.
"""

import re
import sqlite3
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import wraps
from typing import Annotated

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from registry import clock
from registry.identity import ID_TYPES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Every "now" of the registry, column defaults included, comes from the one clock.
utcnow = clock.now


class UTCDateTime(sa.TypeDecorator):
    """An aware UTC datetime on every backend.

    SQLite keeps no time zone; storing naive UTC there and attaching UTC on the way out
    gives the same values as PostgreSQL's ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the registry stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum(*values: str, name: str) -> sa.Enum:
    """A closed set of strings: VARCHAR plus a CHECK constraint on both backends."""
    return sa.Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(v) for v in values),
    )


intpk = Annotated[int, mapped_column(primary_key=True)]
created_at = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
day = Annotated[date, mapped_column(sa.Date())]
blind_index = Annotated[bytes, mapped_column(sa.LargeBinary(32))]
ciphertext = Annotated[bytes, mapped_column(sa.LargeBinary())]
str16 = Annotated[str, mapped_column(sa.String(16))]
str64 = Annotated[str, mapped_column(sa.String(64))]
str200 = Annotated[str, mapped_column(sa.String(200))]


def index_where_set(table: str, column: str) -> sa.Index:
    """An index of the rows where ``column`` (a foreign key) is set: what the key's check
    reads when a row it may point to is deleted, which otherwise scans the table."""
    where = sa.text(f"{column} IS NOT NULL")
    return sa.Index(f"ix_{table}_{column}", column, sqlite_where=where, postgresql_where=where)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class EncryptedIdentity:
    """Who a row is about, readable only with the keys: the identity number and name
    encrypted, and the key that computed the row's blind index ``id_index`` (declared by
    each table, unique or not). A key rotation rewrites all of them."""

    id_type: Mapped[str] = mapped_column(enum(*ID_TYPES, name="id_type"))
    id_index_kid: Mapped[str] = mapped_column(sa.String(40))
    id_number_enc: Mapped[ciphertext]
    name_enc: Mapped[ciphertext]


# How long a writer waits for SQLite's write lock (REGISTRY_SQLITE_BUSY_TIMEOUT_MS) before
# its request is answered 503 with Retry-After.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **kwargs) -> sa.Engine:
    # Statement parameters stay out of errors and logs: they hold identity numbers'
    # ciphertexts and blind indexes, and a failed statement's message is logged.
    engine = sa.create_engine(url, hide_parameters=True, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    return engine


# In a SQLite connection's info: what its transaction may do. "writing": it holds the
# write lock (BEGIN IMMEDIATE); "reading": a deferred transaction left as it is (the
# import's staging, which writes only to its temporary tables); "upgradable": a request's
# transaction, which reads without any lock and takes the write lock at its first write.
_STATE = "registry.transaction"
_BUSY_MS = "registry.busy_timeout_ms"
# A statement that changes the database (and so needs the write lock).
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _configure_sqlite(engine: sa.Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own transaction handling breaks
        # SAVEPOINT and delays BEGIN past the first read).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        record.info[_BUSY_MS] = busy_timeout_ms

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A writing transaction takes the write lock when it starts: a deferred one that
        # reads and then writes fails at once ("database is locked") when another writer
        # committed in between, and busy_timeout cannot help it. Readers stay deferred,
        # so under WAL they never wait for a writer.
        options = connection.get_execution_options()
        if options.get("registry_writes", False):
            connection.info[_STATE] = None
            _begin_immediate(connection)
            connection.info[_STATE] = "writing"
        else:
            connection.exec_driver_sql("BEGIN")
            upgradable = options.get("registry_upgrades", False)
            connection.info[_STATE] = "upgradable" if upgradable else "reading"

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(connection, _cursor, statement, _parameters, _context, _many):
        if connection.info.get(_STATE) == "upgradable" and _WRITES.match(statement):
            _take_write_lock(connection)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection):
        connection.info[_STATE] = None


def _begin_immediate(connection: sa.Connection, timeout_ms: int | None = None) -> None:
    """BEGIN IMMEDIATE, trying again for the write lock after 0.1 ms, 0.2 ms and then
    every 0.4 ms, for as long as the busy timeout.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
    between tries: under a stream of short writes from several workers (a hiring check
    holds the lock for about a millisecond) a writer that lost twice slept far longer
    than the writes before it, and BEGIN IMMEDIATE waited 21 ms at the 90th percentile,
    186 ms at the 99th and up to 1.2 s while the lock stood free. A failed try costs a
    few microseconds; SQLite's lock stays the only one.

    Raises SQLAlchemy's ``OperationalError`` ("database is locked") when the busy timeout
    passes: the error handlers answer it 503 with ``Retry-After``.
    """
    raw = connection.connection.dbapi_connection
    busy_timeout_ms = connection.info.get(_BUSY_MS, SQLITE_BUSY_TIMEOUT_MS)
    if timeout_ms is None:
        timeout_ms = busy_timeout_ms
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + timeout_ms / 1000
        pause = 0.0001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    # The statement that failed, as SQLAlchemy reports its own failures.
                    statement = "BEGIN IMMEDIATE"
                    raise sa.exc.OperationalError(statement, (), exc) from exc
            time.sleep(pause)
            pause = min(2 * pause, 0.0004)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")


def _take_write_lock(connection: sa.Connection, timeout_ms: int | None = None) -> None:
    """Turn a request's reading transaction into a writing one, on SQLite.

    The reading transaction ends (it changed nothing, and under WAL it held no lock),
    and BEGIN IMMEDIATE takes the write lock, held to the commit. SQLite cannot keep the
    reading transaction's snapshot while it takes the lock (a deferred transaction that
    writes after another writer's commit fails at once), so what was read before is
    read again under the lock where it must hold: ``audit.take_turn`` comes here
    first, as PostgreSQL's advisory lock does. This is what PostgreSQL's READ COMMITTED
    gives too: each statement sees what was committed before it.
    """
    if connection.info.get(_STATE) != "upgradable":
        return
    if connection.in_nested_transaction():
        # A savepoint would not survive the end of its transaction.
        raise RuntimeError("take the write lock (db.begin_writing) before a savepoint")
    raw = connection.connection.dbapi_connection
    connection.info[_STATE] = None
    if raw.in_transaction:
        raw.execute("COMMIT")
    _begin_immediate(connection, timeout_ms)
    connection.info[_STATE] = "writing"


def holds_write_lock(session: Session) -> bool:
    """On SQLite, whether the session's transaction holds the write lock already (a
    command's does from its start; a request's from its first write)."""
    if not session.in_transaction():
        return False
    connection = session.connection()
    return connection.dialect.name == "sqlite" and connection.info.get(_STATE) == "writing"


def is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    """Whether a constraint error is a duplicate (and not a broken CHECK or foreign key)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc.orig)


def init_app(app, engine: sa.Engine) -> None:
    app.extensions["registry.engine"] = engine
    app.extensions["registry.sessionmakers"] = {
        # A request's: it reads without a lock and, on SQLite, takes the write lock at
        # its first write (or ``begin_writing``), after its body is read and checked.
        "read": sessionmaker(
            bind=engine.execution_options(registry_upgrades=True), expire_on_commit=False
        ),
        # A command's or a background job's: on SQLite the write lock from BEGIN.
        "write": sessionmaker(
            bind=engine.execution_options(registry_writes=True), expire_on_commit=False
        ),
    }
    app.teardown_appcontext(_close_session)


def read_body_first() -> None:
    """Read a request's whole body before anything touches the database.

    A client that sends its body slowly (or stops half-way) then ties up only its own
    worker: no transaction is open while its bytes trickle in. Forms and uploads are
    parsed (files spooled to disk, as werkzeug does); any other body is kept in memory,
    within the upload limit (413 beyond it).
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        request.form  # noqa: B018 - parsing reads the body
    else:
        request.get_data(cache=True)


def get_session() -> Session:
    """The session of the current request or CLI command (one per app context).

    A request's session reads without a lock; on SQLite it takes the write lock when it
    first writes (``begin_writing``), and holds it to the commit. A CLI command's (and
    a background job's) takes the write lock when each transaction begins.
    """
    if "db_session" not in g:
        kind = "read" if has_request_context() else "write"
        g.db_session = current_app.extensions["registry.sessionmakers"][kind]()
    return g.db_session


def begin_writing(session: Session, *, wait: bool = True) -> None:
    """Take SQLite's write lock now, for the rest of the transaction.

    A request's transaction does this by itself at its first INSERT, UPDATE or DELETE.
    A service calls it where something it reads must still hold when it writes: the
    head of the audit chain, the count a limit is checked against (``audit.take_turn``).
    On SQLite the reading transaction ends (it changed nothing) and a writing one begins
    with BEGIN IMMEDIATE, so what is read after this is read under the lock. PostgreSQL
    takes no lock at BEGIN (its advisory and row locks are taken where they are needed),
    and a transaction that already writes goes on: both are left as they are.

    ``wait=False``: on SQLite, try for the lock once and raise ``OperationalError`` at
    once if another writer holds it, for a write that can be skipped.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        _take_write_lock(connection, None if wait else 0)


def committing(view):
    """The one place a request commits (views and pages never do; services never do).

    The view's writes are committed when it returns, and rolled back when it raises,
    except for a domain error marked ``audited``: a refusal that must stay on record.
    A failed commit propagates, so a unique constraint that stopped a concurrent write
    is answered 409 by the error handlers. Named exceptions commit earlier themselves:
    the hiring check before its receipt is signed, and the roll import's phases.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            response = view(*args, **kwargs)
        except Exception as exc:
            _end(commit=getattr(exc, "audited", False))
            raise
        _end(commit=True)
        return response

    return wrapper


def commit_every_view(app) -> None:
    """Wrap every view of ``app`` (API and pages) in ``committing``."""
    for endpoint, view in app.view_functions.items():
        app.view_functions[endpoint] = committing(view)


@contextmanager
def command_transaction():
    """The same boundary for a CLI command: commit when the block ends, roll back when
    it raises (unless the error is ``audited``)."""
    try:
        yield get_session()
    except Exception as exc:
        _end(commit=getattr(exc, "audited", False))
        raise
    _end(commit=True)


def _end(*, commit: bool) -> None:
    session = g.get("db_session")
    if session is None:
        return
    if commit:
        session.commit()
    else:
        session.rollback()


def _close_session(_exc) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
