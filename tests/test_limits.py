"""One per-user budget: hiring checks, eligibility questions, lookups and name searches."""

import dataclasses

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.bans.models import BanCheck
from registry.limits import LimitedRequest
from tests.conftest import id_number

NUMBER = id_number(1)


@pytest.fixture
def limit(app):
    """A limit of 3 questions a minute for this test."""
    original = app.extensions["registry.settings"]
    app.extensions["registry.settings"] = dataclasses.replace(original, check_limit=3)
    yield 3
    app.extensions["registry.settings"] = original


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
