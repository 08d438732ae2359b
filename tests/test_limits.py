"""Per-user budgets, per minute and per day: hiring checks, eligibility questions,
lookups and name searches spend them together."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.bans.models import BanCheck
from registry.config import BUDGETS, ConfigError, load_settings
from registry.limits import LimitedRequest
from tests.auth.conftest import Clock
from tests.conftest import id_number

NUMBER = id_number(1)


@pytest.fixture
def limit(app):
    """A limit of 3 questions a minute for this test."""
    original = app.extensions["registry.settings"]
    app.extensions["registry.settings"] = original.with_budget(3, 1_000)
    yield 3
    app.extensions["registry.settings"] = original


@pytest.fixture
def budget(app):
    """Sets this test's budgets: ``budget(per_minute, per_day, *roles)``."""
    original = app.extensions["registry.settings"]

    def set_budget(per_minute, per_day, *roles):
        settings = app.extensions["registry.settings"]
        app.extensions["registry.settings"] = settings.with_budget(per_minute, per_day, *roles)

    yield set_budget
    app.extensions["registry.settings"] = original


@pytest.fixture
def moving_clock(app):
    from registry import clock

    moving = Clock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    with clock.using(moving):
        yield moving


@pytest.fixture
def director(make_user, make_institution):
    return make_user("director", make_institution())[1]


def _check(client, headers):
    return client.post("/api/v1/ban-checks", json={"id_number": NUMBER}, headers=headers)


def _lookup(client, headers, number=NUMBER):
    return client.post("/api/v1/people/lookup", json={"id_number": number}, headers=headers)


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_lookups_spend_the_budget_of_hiring_checks(client, director, session, limit):
    # Numbers nobody registered: 404, and counted all the same (walking the space).
    statuses = [_lookup(client, director, id_number(i)).status_code for i in range(limit)]
    assert statuses == [404] * limit
    refused = _check(client, director)
    assert refused.status_code == 429 and refused.get_json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "秒" in refused.get_json()["message"]  # Chinese first
    assert _count(session, BanCheck) == 0  # the refused check was not stored
    assert _lookup(client, director).status_code == 429
    assert _count(session, LimitedRequest) == limit
    refusals = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "ban_check.rate_limited")
    ).all()
    assert len(refusals) == 1


def test_hiring_checks_spend_the_budget_of_lookups(client, director, session, limit):
    assert [_check(client, director).status_code for _ in range(limit)] == [200] * limit
    refused = _lookup(client, director)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Refused before anything was looked up: no lookup in the audit log, none counted.
    assert _count(session, LimitedRequest) == 0
    assert not session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "person.looked_up")
    ).all()


def test_eligibility_questions_and_lookups_share_the_budget(client, director, limit):
    body = {"id_number": NUMBER, "role": "cook"}
    assert client.post("/api/v1/eligibility", json=body, headers=director).status_code == 200
    assert _lookup(client, director).status_code == 404
    assert _check(client, director).status_code == 200
    assert _lookup(client, director).status_code == 429
    assert client.post("/api/v1/eligibility", json=body, headers=director).status_code == 429


def test_the_budget_is_per_user(client, director, make_user, limit):
    for i in range(limit):
        _lookup(client, director, id_number(i))
    _, other = make_user("inspector")
    assert _lookup(client, other).status_code == 404
    assert _check(client, other).status_code == 200


def test_the_command_line_is_not_limited(run, limit, session):
    for _ in range(limit + 1):
        result = run("bans", "check", "--id-number", NUMBER)
        assert result.exit_code == 0, result.output
    assert _count(session, LimitedRequest) == 0


def test_retry_after_is_when_the_question_filling_the_minute_leaves_it(
    client, director, budget, moving_clock
):
    budget(3, 1_000)
    assert _check(client, director).status_code == 200
    moving_clock.advance(seconds=20)
    assert _lookup(client, director).status_code == 404
    moving_clock.advance(seconds=15)
    assert _check(client, director).status_code == 200
    moving_clock.advance(seconds=10)  # 45 s after the first of the three
    refused = _check(client, director)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "15"
    assert refused.get_json()["code"] == "rate_limited" and "60 秒" in refused.get_json()["message"]
    moving_clock.advance(seconds=15)  # the first question has left the minute
    assert _check(client, director).status_code == 200


def test_the_day_budget_holds_when_every_minute_is_within_its_own(
    client, director, budget, moving_clock, session
):
    budget(2, 5)
    for _ in range(5):
        assert _lookup(client, director).status_code == 404
        moving_clock.advance(minutes=30)
    # 2.5 hours after the first question: the minute is empty, the day is full.
    refused = _check(client, director)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(24 * 3600 - 150 * 60)
    assert "一天内" in refused.get_json()["message"]
    assert _count(session, BanCheck) == 0
    refusals = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "ban_check.rate_limited")
    ).all()
    assert len(refusals) == 1 and refusals[0].data["window"] == 24 * 3600
    moving_clock.advance(seconds=24 * 3600 - 150 * 60)  # the first lookup has left the day
    assert _check(client, director).status_code == 200
    assert _check(client, director).status_code == 429


def test_each_role_has_its_own_budget(client, make_user, make_institution, budget, moving_clock):
    budget(1, 1_000, "director")
    budget(3, 1_000, "inspector")
    director = make_user("director", make_institution())[1]
    inspector = make_user("inspector")[1]
    assert _lookup(client, director).status_code == 404
    assert _lookup(client, director).status_code == 429
    assert [_lookup(client, inspector).status_code for _ in range(4)] == [404] * 3 + [429]


def test_budgets_come_from_the_environment_role_by_role():
    settings = load_settings(
        {
            "REGISTRY_LIMIT_PER_DAY": "500",
            "REGISTRY_LIMIT_HR_PER_MINUTE": "30",
            "REGISTRY_LIMIT_HR_PER_DAY": "0",
        }
    )
    assert settings.budget("director") == (BUDGETS["director"][0], 500)
    assert settings.budget("hr") == (30, 0)
    assert load_settings({}).budget("director") == (120, 1_000)
    with pytest.raises(ConfigError, match="REGISTRY_LIMIT_BUREAU_PER_DAY"):
        load_settings({"REGISTRY_LIMIT_BUREAU_PER_DAY": "many"})
    with pytest.raises(ConfigError, match="REGISTRY_LIMIT_PER_MINUTE"):
        load_settings({"REGISTRY_CHECK_LIMIT": "5"})


def test_a_budget_set_to_zero_is_no_budget_of_that_kind(client, director, budget, moving_clock):
    budget(0, 3)  # no minute budget: three a day
    assert [_lookup(client, director).status_code for _ in range(4)] == [404] * 3 + [429]
    budget(2, 0)  # no day budget: two a minute
    moving_clock.advance(minutes=1)
    assert [_lookup(client, director).status_code for _ in range(3)] == [404, 404, 429]
