"""A user whose lookups by number find nobody too often in a China day raises one alert
to the bureau, naming the user and the count."""

import dataclasses
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from registry import clock
from registry.alerts.models import Alert
from registry.audit import AuditEvent
from tests.auth.conftest import Clock, sign_in
from tests.conftest import id_number

THRESHOLD = 3
# 09:00 in China on 2 November.
MORNING = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def threshold(app):
    original = app.extensions["registry.settings"]
    changed = dataclasses.replace(original, lookup_miss_threshold=THRESHOLD)
    app.extensions["registry.settings"] = changed.with_budget(1_000, 10_000)
    yield THRESHOLD
    app.extensions["registry.settings"] = original


@pytest.fixture
def moving_clock(app):
    moving = Clock(MORNING)
    with clock.using(moving):
        yield moving


@pytest.fixture
def director(make_user, make_institution):
    user, headers = make_user("director", make_institution(), username="zhao.director")
    return user, headers


def _lookup(client, headers, number):
    return client.post("/api/v1/people/lookup", json={"id_number": number}, headers=headers)


def _alerts(session) -> list[Alert]:
    return session.scalars(sa.select(Alert).where(Alert.kind == "lookup_misses")).all()


def test_misses_past_the_threshold_raise_one_alert_for_the_bureau(
    client, session, director, make_user, threshold, moving_clock
):
    user, headers = director
    for i in range(THRESHOLD):
        assert _lookup(client, headers, id_number(100 + i)).status_code == 404
    assert _alerts(session) == []  # at the threshold, not past it
    assert _lookup(client, headers, id_number(200)).status_code == 404
    moving_clock.advance(minutes=5)
    assert _lookup(client, headers, id_number(201)).status_code == 404
    [alert] = _alerts(session)
    assert (alert.user_id, alert.day, alert.misses) == (user.id, MORNING.date(), THRESHOLD + 2)
    raised = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "alert.raised")).all()
    assert len(raised) == 1 and raised[0].data["misses"] == THRESHOLD + 1

    _, bureau = make_user("bureau")
    [shown] = client.get("/api/v1/alerts?kind=lookup_misses", headers=bureau).get_json()
    assert shown["user"] == "zhao.director" and shown["user_role"] == "director"
    assert shown["user_institution_name"] == "西湖区第一托育园"
    assert shown["misses"] == THRESHOLD + 2 and shown["day"] == "2026-11-02"
    assert "zhao.director" in shown["message"] and f"{THRESHOLD + 2} 次未找到" in shown["message"]
    # The director is not told: the alert is the bureau's.
    assert client.get("/api/v1/alerts", headers=headers).get_json() == []


def test_the_bureau_sees_it_on_its_alerts_page(
    app, client, director, make_user, threshold, moving_clock
):
    _, headers = director
    for i in range(THRESHOLD + 1):
        _lookup(client, headers, id_number(100 + i))
    make_user("bureau", username="li.bureau")
    browser = app.test_client()
    sign_in(browser, "li.bureau")
    text = browser.get("/bureau/alerts?kind=lookup_misses").get_data(as_text=True)
    assert "zhao.director" in text and "西湖区第一托育园" in text
    assert "用户按证件号码查询多次未找到人员" in text


def test_found_lookups_and_checks_of_unregistered_people_do_not_count(
    client, session, director, make_person, threshold, moving_clock
):
    _, headers = director
    make_person(1)
    for i in range(THRESHOLD):
        assert _lookup(client, headers, id_number(100 + i)).status_code == 404
    for _ in range(THRESHOLD + 2):
        assert _lookup(client, headers, id_number(1)).status_code == 200
        check = client.post(
            "/api/v1/ban-checks", json={"id_number": id_number(300)}, headers=headers
        )
        assert check.status_code == 200
    assert _alerts(session) == []
    assert _lookup(client, headers, id_number(400)).status_code == 404
    assert len(_alerts(session)) == 1


def test_each_china_day_counts_afresh_and_alerts_once(
    client, session, director, threshold, moving_clock
):
    _, headers = director
    moving_clock.now = datetime(2026, 11, 2, 15, 50, tzinfo=UTC)  # 23:50 in China
    for i in range(THRESHOLD):
        _lookup(client, headers, id_number(100 + i))
    moving_clock.advance(minutes=20)  # 00:10 on 3 November in China, 2 November in UTC
    _lookup(client, headers, id_number(200))
    assert _alerts(session) == []  # three yesterday, one today
    for i in range(THRESHOLD):
        _lookup(client, headers, id_number(300 + i))
    [alert] = _alerts(session)
    assert alert.day.isoformat() == "2026-11-03" and alert.misses == THRESHOLD + 1


def test_the_threshold_comes_from_the_environment():
    from registry.config import load_settings

    assert load_settings({}).lookup_miss_threshold == 20
    assert load_settings({"REGISTRY_LOOKUP_MISS_THRESHOLD": "50"}).lookup_miss_threshold == 50


def test_the_command_line_lists_it(run, client, director, threshold, moving_clock):
    _, headers = director
    for i in range(THRESHOLD + 1):
        _lookup(client, headers, id_number(100 + i))
    result = run("alerts", "list", "--kind", "lookup_misses")
    assert result.exit_code == 0, result.output
    assert "zhao.director" in result.output and "None" not in result.output
