"""Engine, declarative base and the session of a request.

The naming convention keeps constraint names identical on SQLite and PostgreSQL, so that
migrations written once apply to both. The typed aliases keep the models short.
"""

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


def make_engine(url: str, **kwargs) -> sa.Engine:
    # Statement parameters stay out of errors and logs: they hold identity numbers'
    # ciphertexts and blind indexes, and a failed statement's message is logged.
    engine = sa.create_engine(url, hide_parameters=True, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own transaction handling breaks
        # SAVEPOINT and delays BEGIN past the first read).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA journal_mode = WAL")
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A writing transaction takes the write lock when it starts: a deferred one that
        # reads and then writes fails at once ("database is locked") when another writer
        # committed in between, and busy_timeout cannot help it. Readers stay deferred,
        # so under WAL they never wait for a writer.
        if connection.get_execution_options().get("registry_writes", False):
            _begin_immediate(connection)
        else:
            connection.exec_driver_sql("BEGIN")


SQLITE_BUSY_TIMEOUT_MS = 10_000


def _begin_immediate(connection: sa.Connection) -> None:
    """BEGIN IMMEDIATE, trying again for the write lock after 0.1 ms, 0.2 ms and then
    every 0.4 ms, for as long as the busy timeout.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
    between tries: under a stream of short writes from several workers (a hiring check
    holds the lock for about a millisecond) a writer that lost twice slept far longer
    than the writes before it, and BEGIN IMMEDIATE waited 21 ms at the 90th percentile,
    186 ms at the 99th and up to 1.2 s while the lock stood free. A failed try costs a
    few microseconds; SQLite's lock stays the only one.
    """
    raw = connection.connection.dbapi_connection
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = 0.0001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    break
            time.sleep(pause)
            pause = min(2 * pause, 0.0004)
        # Once more through SQLAlchemy, which reports the failure as it reports others.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    """Whether a constraint error is a duplicate (and not a broken CHECK or foreign key)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc.orig)


def init_app(app, engine: sa.Engine) -> None:
    app.extensions["registry.engine"] = engine
    app.extensions["registry.sessionmakers"] = {
        "read": sessionmaker(bind=engine, expire_on_commit=False),
        "write": sessionmaker(
            bind=engine.execution_options(registry_writes=True), expire_on_commit=False
        ),
    }
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The session of the current request or CLI command (one per app context).

    Requests that may change something (not GET, HEAD, OPTIONS) and CLI commands get
    a writing session: on SQLite its transactions take the write lock when they begin.
    A view marked ``reads_first`` gets a reading one and calls ``begin_writing``.
    """
    if "db_session" not in g:
        reads_only = has_request_context() and (
            request.method in ("GET", "HEAD", "OPTIONS") or g.get("db_reads_first", False)
        )
        g.db_session = current_app.extensions["registry.sessionmakers"][
            "read" if reads_only else "write"
        ]()
    return g.db_session


def reads_first(view):
    """Mark a view that reads much and then writes a little (a hiring check): its session
    begins as a reading one, and the view calls ``begin_writing`` before it writes.

    On SQLite a writing transaction holds the database's one write lock from its BEGIN;
    a view that authenticates, looks up and only then writes would hold it throughout,
    and every other writer of every worker would wait for its reads.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.db_reads_first = True
        return view(*args, **kwargs)

    return wrapper


def begin_writing(session: Session) -> None:
    """Where a ``reads_first`` view starts to write.

    On SQLite the reading transaction ends (it changed nothing) and a writing one begins
    with BEGIN IMMEDIATE, taking the write lock now: whatever must hold while the view
    writes (a count to limit, the head of the audit chain) is read after this, under the
    lock. PostgreSQL takes no lock at BEGIN, so there the transaction simply goes on.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    session.commit()
    session.connection(execution_options={"registry_writes": True})


def committing(view):
    """The one place a request commits (views and pages never do; services never do).

    The view's writes are committed when it returns, and rolled back when it raises,
    except for a domain error marked ``audited``: a refusal that must stay on record.
    A failed commit propagates, so a unique constraint that stopped a concurrent write
    is answered 409 by the error handlers. Named exceptions commit earlier themselves:
    the hiring check's lock sequence (``begin_writing``) and the roll import's phases.
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
