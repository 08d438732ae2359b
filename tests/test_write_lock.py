"""The hiring check never waits on someone else's upload: a request takes SQLite's write
lock only for its writes, after its body is read and checked, and a request that cannot
get its turn in time is answered 503 with Retry-After, having changed nothing."""

import json
import socket
import sqlite3
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from registry.audit import CHAIN_LOCK, AuditEvent
from registry.auth.models import ApiToken
from registry.bans.models import BanCheck
from registry.db import get_session
from tests.conftest import id_number
from tests.live import environment, registry, served
from tests.test_concurrency import BUREAU, _live_app

CHECK = {"id_number": id_number(1), "purpose": "入职前查询"}


def _count(app, what) -> int:
    with app.app_context():
        return get_session().scalar(sa.select(sa.func.count()).select_from(what))


def _checked_events(app) -> int:
    with app.app_context():
        return get_session().scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "ban.checked")
        )


def _assert_busy(response) -> None:
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    assert body["code"] == "busy"
    assert body["message"].startswith("系统正忙")
    assert set(body) == {"code", "message"}


@pytest.fixture
def sqlite_app(make_app, tmp_path):
    path = tmp_path / "registry.db"
    app, headers = _live_app(make_app, f"sqlite:///{path}", sqlite_busy_timeout_ms=200)
    return app, headers, path


def _hold_write_lock(path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_check_that_cannot_get_the_lock_is_a_503_and_writes_nothing(sqlite_app):
    app, headers, path = sqlite_app
    holder = _hold_write_lock(path)
    try:
        response = app.test_client().post("/api/v1/ban-checks", json=CHECK, headers=headers)
    finally:
        holder.rollback()
        holder.close()
    _assert_busy(response)
    assert _count(app, BanCheck) == 0
    assert _checked_events(app) == 0
    # The same check, once the lock is free, is stored: it was only the lock.
    response = app.test_client().post("/api/v1/ban-checks", json=CHECK, headers=headers)
    assert response.status_code == 200
    assert _count(app, BanCheck) == 1


def test_a_page_that_cannot_get_the_lock_says_so_in_the_layout(sqlite_app):
    app, _headers, path = sqlite_app
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    holder = _hold_write_lock(path)
    try:
        form = {"username": "bureau", "password": BUREAU["password"], "csrf_token": token}
        response = client.post("/login", data=form)
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    page = response.get_data(as_text=True)
    assert "系统繁忙" in page and "Traceback" not in page


def test_reading_and_checking_the_body_takes_no_write_lock(sqlite_app):
    """While another connection holds the write lock, a request is authenticated, its
    body read and refused (422), and a read answered, without waiting for the lock."""
    app, headers, path = sqlite_app
    client = app.test_client()
    holder = _hold_write_lock(path)
    try:
        bad = client.post(
            "/api/v1/ban-checks", json={"id_number": "123", "purpose": ""}, headers=headers
        )
        missing = client.post("/api/v1/institutions", json={}, headers=headers)
        read = client.get("/api/v1/institutions", headers=headers)
    finally:
        holder.rollback()
        holder.close()
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid"
    assert missing.status_code == 422
    assert read.status_code == 200


def test_a_token_use_noted_while_another_writer_holds_the_lock_is_left_for_later(
    sqlite_app, caplog
):
    """Noting a token's use comes after the answer and does not wait for the lock: while
    another writer holds it the note is skipped, quietly, and a later request makes it."""
    app, headers, path = sqlite_app
    holder = _hold_write_lock(path)
    try:
        read = app.test_client().get("/api/v1/institutions", headers=headers)
    finally:
        holder.rollback()
        holder.close()
    assert read.status_code == 200
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    with app.app_context():
        assert get_session().scalar(sa.select(ApiToken.last_used_at)) is None
    assert app.test_client().get("/api/v1/institutions", headers=headers).status_code == 200
    with app.app_context():
        assert get_session().scalar(sa.select(ApiToken.last_used_at)) is not None


def test_a_postgresql_lock_timeout_is_a_503_and_writes_nothing(make_app, scratch_database_url):
    if not scratch_database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's lock_timeout")
    app, headers = _live_app(make_app, scratch_database_url)
    engine = sa.create_engine(scratch_database_url)
    try:
        with engine.connect() as admin:
            database = admin.exec_driver_sql("SELECT current_database()").scalar()
            admin.exec_driver_sql(f"ALTER DATABASE \"{database}\" SET lock_timeout = '200ms'")
            admin.commit()
        app.extensions["registry.engine"].dispose()  # new connections take the setting
        with engine.connect() as holder:
            # The audit chain's turn, as a long write holds it.
            holder.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK)))
            response = app.test_client().post("/api/v1/ban-checks", json=CHECK, headers=headers)
            holder.rollback()
    finally:
        engine.dispose()
    _assert_busy(response)
    assert _count(app, BanCheck) == 0
    assert _checked_events(app) == 0


# -- a real gunicorn: a slow upload does not stop the hiring check ------------------------


@pytest.fixture
def live_instance(tmp_path, scratch_database_url):
    env = environment(tmp_path / "instance", scratch_database_url)
    registry(env, "init")
    registry(env, "users", "create", "--username", "bureau", "--role", "bureau", input=PW)
    token = registry(env, "tokens", "create", "--username", "bureau").stdout.split()[-1]
    return env, token


PW = "correct horse battery\ncorrect horse battery\n"


def _check(base: str, token: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/ban-checks",
        data=json.dumps(CHECK).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_slow_patch_does_not_stop_other_users_checks(live_instance):
    env, token = live_instance
    body = json.dumps({"name": "王芳", "reason": "更正姓名"}).encode()
    with served(env, workers=2) as base:
        port = int(base.rsplit(":", 1)[1])
        slow = socket.create_connection(("127.0.0.1", port), timeout=60)
        try:
            head = (
                "PATCH /api/v1/people/1 HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            slow.sendall(head + body[:5])
            # Give its worker time to take the request up (a check that came first would
            # pass whatever the worker then did); nothing is asserted about time.
            time.sleep(1)
            # The other worker answers checks while the upload is still incomplete.
            assert [_check(base, token) for _ in range(3)] == [200] * 3
            slow.sendall(body[5:])
            answer = slow.makefile("rb").read()
        finally:
            slow.close()
        status_line, _, rest = answer.partition(b"\r\n")
        # It completes as any request does: the person is not there, in the error shape.
        assert status_line.split()[1] == b"404"
        assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["code"] == "not_found"


def test_the_busy_timeout_is_configured_from_the_environment(tmp_path):
    from registry.config import ConfigError, load_settings

    base = {"REGISTRY_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(base).sqlite_busy_timeout_ms == 10_000
    settings = load_settings({**base, "REGISTRY_SQLITE_BUSY_TIMEOUT_MS": "2500"})
    assert settings.sqlite_busy_timeout_ms == 2500
    with pytest.raises(ConfigError, match="REGISTRY_SQLITE_BUSY_TIMEOUT_MS"):
        load_settings({**base, "REGISTRY_SQLITE_BUSY_TIMEOUT_MS": "soon"})
