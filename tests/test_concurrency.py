"""Concurrent writers lose nothing and collide cleanly, on a database of their own
(committed for real, not inside a test transaction)."""

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from alembic import command

from migrations import alembic_config
from registry import clock, db
from registry.audit import AuditEvent, verify_chain
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.bans.models import BanCheck
from registry.credentials import services as credentials
from registry.db import get_session, make_engine
from registry.identity import parse_identity, uscc_check_char
from registry.institutions.models import Institution
from registry.people import services as people
from registry.staffing.models import Employment
from tests.conftest import id_number

WRITERS = 8
BUREAU = {"username": "bureau", "password": "correct horse battery", "role": "bureau"}


def _live_app(make_app, database_url, **settings):
    """An app on its own migrated database (with other ``settings`` if given), and a
    bureau token committed to it."""
    command.upgrade(alembic_config(database_url), "head")
    app = make_app(database_url=database_url, **settings)
    with app.app_context():
        session = get_session()
        user = auth.create_user(session, SystemActor("test"), BUREAU)
        token = auth.create_token(session, SystemActor("test"), user)
        session.commit()
    return app, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def live(make_app, scratch_database_url):
    return _live_app(make_app, scratch_database_url)


def _post_all(app, headers, bodies, url="/api/v1/institutions"):
    barrier = threading.Barrier(len(bodies))

    def post(body):
        client = app.test_client()
        barrier.wait()
        return client.post(url, json=body, headers=headers).status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _codes(app) -> list[str]:
    with app.app_context():
        return list(get_session().scalars(sa.select(Institution.code)))


def _code(n: int) -> str:
    base = f"9133010600000{n:04d}"
    return base + uscc_check_char(base)


def test_concurrent_writers_all_land(live):
    app, headers = live
    bodies = [{"code": _code(n), "name": f"园{n}", "district": "西湖区"} for n in range(WRITERS)]
    assert _post_all(app, headers, bodies) == [201] * WRITERS
    assert sorted(_codes(app)) == sorted(b["code"] for b in bodies)


def test_concurrent_duplicates_make_one_row_and_clean_conflicts(live):
    app, headers = live
    body = {"code": _code(1), "name": "同一家", "district": "西湖区"}
    statuses = _post_all(app, headers, [body] * WRITERS)
    assert sorted(statuses) == [201] + [409] * (WRITERS - 1)
    assert _codes(app) == [_code(1)]


def test_concurrent_registrations_and_hires_of_one_person_make_one_row(live):
    app, headers = live
    code = _code(2)
    assert _post_all(app, headers, [{"code": code, "name": "园", "district": "西湖区"}]) == [201]
    person = {"id_number": id_number(3), "name": "王芳", "education": "senior_high"}
    statuses = _post_all(app, headers, [person] * WRITERS, "/api/v1/people")
    assert sorted(statuses) == [201] + [409] * (WRITERS - 1)
    with app.app_context():
        session = get_session()
        # Eligible as "other": a fresh health certificate is all it takes.
        certificate = {
            "kind": "health_certificate",
            "level": None,
            "number": "H-1",
            "issuer": "西湖区疾控中心",
            "issued_on": clock.today(),
            "expires_on": None,
        }
        person = people.find_person(session, parse_identity(id_number(3)))
        credentials.add_certificate(session, SystemActor("test"), person, certificate)
        session.commit()
    hire = {
        "id_number": id_number(3),
        "role": "other",
        "start": str(clock.today()),
        "declaration": True,
    }
    statuses = _post_all(app, headers, [hire] * WRITERS, f"/api/v1/institutions/{code}/employments")
    assert sorted(statuses) == [201] + [409] * (WRITERS - 1)
    with app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Employment)) == 1


def test_sqlite_readers_never_wait_and_writers_wait_their_turn(make_app, tmp_path):
    """On the embedded default a long write (an import, say) must not stop a lookup,
    and a second writer waits for the lock instead of failing."""
    path = tmp_path / "registry.db"
    app, headers = _live_app(make_app, f"sqlite:///{path}")

    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, subject, data) "
        "VALUES ('2026-01-01', 'x', 'long.write', 'x', '{}')"
    )
    client = app.test_client()
    try:
        # A read while another connection holds the write lock.
        assert client.get(f"/api/v1/institutions/{_code(1)}", headers=headers).status_code == 404
        # A write waits for the lock, then lands.
        threading.Timer(0.5, writer.execute, ["COMMIT"]).start()
        body = {"code": _code(1), "name": "园", "district": "西湖区"}
        assert client.post("/api/v1/institutions", json=body, headers=headers).status_code == 201
    finally:
        writer.close()
    assert _codes(app) == [_code(1)]


def test_concurrent_checks_all_stored_and_chained(live, tmp_path):
    """Hiring checks read before they take their turn to write; every one is still
    stored, counted and audited in one unbroken chain."""
    app, headers = live
    bodies = [{"id_number": id_number(n), "purpose": "入职前查询"} for n in range(WRITERS)]
    for _ in range(3):
        assert _post_all(app, headers, bodies, "/api/v1/ban-checks") == [200] * WRITERS
    with app.app_context():
        session = get_session()
        assert session.scalar(sa.select(sa.func.count()).select_from(BanCheck)) == 3 * WRITERS
        checked = session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "ban.checked")
        )
        assert checked == 3 * WRITERS
        assert verify_chain(session) == (2 + 3 * WRITERS, None)  # user, token, checks


class _CountedTime:
    """Stands in for ``time`` inside ``registry.db``: ``sleep`` moves a counted clock
    instead of waiting, and lets the test act at a given try, so what is asserted is how
    often and how long the writer meant to wait, never how long it took."""

    def __init__(self, at_sleep=None, action=None):
        self.now, self.pauses = 0.0, []
        self.at_sleep, self.action = at_sleep, action

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append(seconds)
        self.now += seconds
        if len(self.pauses) == self.at_sleep:
            self.action()


def test_sqlite_writers_get_the_write_lock_soon_after_it_is_given_back(tmp_path, monkeypatch):
    """Not after a sleep of SQLite's busy handler (which would try again at 0.328 s):
    the writer tries again within 0.4 ms, and takes the lock at the first try after it
    is given back."""
    path = tmp_path / "r.db"
    engine = make_engine(f"sqlite:///{path}").execution_options(registry_writes=True)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with engine.connect() as writer:
            with writer.begin():
                writer.exec_driver_sql("CREATE TABLE t (x)")
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("INSERT INTO t VALUES (1)")
            counted = _CountedTime(at_sleep=6, action=lambda: holder.execute("COMMIT"))
            monkeypatch.setattr(db, "time", counted)
            with writer.begin():  # waits for the holder ...
                writer.exec_driver_sql("INSERT INTO t VALUES (2)")
            # ... trying again after 0.1 ms, 0.2 ms, then every 0.4 ms, and took the lock
            # at the first try after the holder's commit.
            assert counted.pauses == [0.0001, 0.0002, 0.0004, 0.0004, 0.0004, 0.0004]
            assert writer.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    finally:
        holder.close()
        engine.dispose()


def test_a_sqlite_writer_still_gives_up_after_the_busy_timeout(tmp_path, monkeypatch):
    counted = _CountedTime()
    monkeypatch.setattr(db, "time", counted)
    path = tmp_path / "r.db"
    engine = make_engine(f"sqlite:///{path}", busy_timeout_ms=200).execution_options(
        registry_writes=True
    )
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with engine.connect() as conn:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                conn.begin()
            # It tried again for the whole busy timeout (0.2 s of pauses), and no longer.
            assert 0.2 <= counted.now < 0.2 + 0.0004 + 1e-9
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    finally:
        holder.close()
        engine.dispose()
