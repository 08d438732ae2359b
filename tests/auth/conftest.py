import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from registry import clock as registry_clock
from registry.auth import services as auth

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


class Clock:
    """The app's clock, moved by the test instead of sleeping."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app):
    clock = Clock(START)
    with registry_clock.using(clock):
        yield clock


def csrf_of(client, path="/login") -> str:
    """The CSRF token of the form on ``path``, as a browser would read it."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match[1]


def sign_in(client, username, password=PASSWORD):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(client)},
    )


def landing_of(client, role: str) -> str:
    """Where a user of ``role`` lands after signing in (the first page of its role that
    this registry serves)."""
    from registry.web import landing

    with client.application.test_request_context():
        return landing(role)


@pytest.fixture
def count_statements(session):
    """``with count_statements() as statements:`` lists the SQL sent meanwhile."""
    from contextlib import contextmanager

    engine = session.get_bind().engine

    @contextmanager
    def counting():
        statements = []

        def note(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", note)
        try:
            yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", note)

    return counting


def events(session, action):
    from registry.audit import AuditEvent

    return session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


__all__ = ["PASSWORD", "auth", "csrf_of", "events", "landing_of", "sign_in"]
