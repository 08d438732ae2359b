"""The one place a request or command commits, and the one clock."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from registry import clock, db
from registry.audit import AuditEvent, record_event
from registry.auth.models import SystemActor
from registry.errors import Invalid, NotFound

ACTOR = SystemActor("test")


def _events(session, subject):
    return session.scalar(sa.select(sa.func.count()).where(AuditEvent.subject == subject))


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        (None, 1),
        (Invalid("bad input"), 0),
        (NotFound("nobody", audited=True), 1),
        (RuntimeError("a bug"), 0),
    ],
)
def test_a_view_commits_on_return_rolls_back_on_error_and_keeps_audited_refusals(
    app, session, error, kept
):
    subject = f"boundary:{type(error).__name__}"

    def view():
        record_event(db.get_session(), ACTOR, "boundary.tested", subject)
        if error is not None:
            raise error
        return "done"

    with app.test_request_context(method="POST"):
        wrapped = db.committing(view)
        if error is None:
            assert wrapped() == "done"
        else:
            with pytest.raises(type(error)):
                wrapped()
    assert _events(session, subject) == kept


def test_a_command_commits_at_the_end_of_its_block_and_not_on_error(app, session):
    with app.app_context(), db.command_transaction() as s:
        record_event(s, ACTOR, "boundary.tested", "boundary:command")
    with pytest.raises(Invalid), app.app_context(), db.command_transaction() as s:
        record_event(s, ACTOR, "boundary.tested", "boundary:command-failed")
        raise Invalid("bad option")
    assert _events(session, "boundary:command") == 1
    assert _events(session, "boundary:command-failed") == 0


def test_today_is_the_date_in_china_whatever_the_servers_zone():
    with clock.fixed_at(datetime(2026, 11, 27, 16, 30, tzinfo=UTC)):
        assert clock.today() == date(2026, 11, 28)  # 00:30 in Beijing
        assert clock.now() == datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    with clock.fixed_at(datetime(2026, 11, 27, 15, 59, tzinfo=UTC)):
        assert clock.today() == date(2026, 11, 27)
    with pytest.raises(ValueError):
        clock.fixed_at(datetime(2026, 11, 27)).__enter__()
