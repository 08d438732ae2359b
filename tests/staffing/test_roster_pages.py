"""An inspector reads an institution's roster on its page: read-only."""

from datetime import UTC, datetime, timedelta

import pytest

from registry import clock as registry_clock
from tests.auth.conftest import Clock, sign_in
from tests.conftest import CODES, id_number

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def fixed_clock(app):
    with registry_clock.using(Clock(NOW)):
        yield


def _hire(client, headers, i, start):
    body = {
        "id_number": id_number(i),
        "role": "cook",
        "start": start.isoformat(),
        "declaration": True,
    }
    response = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments", json=body, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def inspector(app, make_user):
    user, _headers = make_user("inspector")
    browser = app.test_client()
    sign_in(browser, user.username)
    return browser


def test_an_inspector_reads_the_roster_of_an_institution(
    client, inspector, make_user, make_institution, make_person
):
    institution = make_institution()
    make_institution(code=CODES[1], name="拱墅区小星星托育园", district="拱墅区")
    _director, headers = make_user("director", institution)
    health = [("health_certificate", TODAY - timedelta(days=30))]
    make_person(1, name="李娜", certificates=health)
    make_person(2, name="张伟", certificates=health)
    _hire(client, headers, 1, TODAY - timedelta(days=20))
    left = _hire(client, headers, 2, TODAY - timedelta(days=20))
    client.post(
        f"/api/v1/employments/{left['id']}/end",
        json={"end": (TODAY - timedelta(days=10)).isoformat()},
        headers=headers,
    )

    listing = inspector.get("/rosters").get_data(as_text=True)
    assert "西湖区第一托育园" in listing and "拱墅区小星星托育园" in listing
    assert f'href="/rosters?code={CODES[0]}"' in listing

    today = inspector.get(f"/rosters?code={CODES[0].lower()}").get_data(as_text=True)
    assert "李娜" in today and "张伟" not in today and "炊事人员" in today
    assert "在岗 1 人" in today and "2026年11月20日" in today
    assert '<form method="post"' not in today.split("<main")[1]  # nothing to change here
    earlier = (TODAY - timedelta(days=15)).isoformat()
    then = inspector.get(f"/rosters?code={CODES[0]}&as_of={earlier}").get_data(as_text=True)
    assert "李娜" in then and "张伟" in then and "在岗 2 人" in then


def test_a_bad_code_or_date_is_said_beside_the_field(inspector, make_institution):
    make_institution()
    bad = inspector.get("/rosters?code=91350100M000100Y44")
    assert bad.status_code == 422
    assert 'id="code-error"' in bad.get_data(as_text=True)
    unknown = inspector.get(f"/rosters?code={CODES[1]}")
    assert unknown.status_code == 422 and "没有这个代码的机构" in unknown.get_data(as_text=True)
    date = inspector.get(f"/rosters?code={CODES[0]}&as_of=2026-02-30")
    assert date.status_code == 422 and 'id="as-of-error"' in date.get_data(as_text=True)
    assert 'value="2026-02-30"' in date.get_data(as_text=True)  # the input kept


def test_only_inspectors_have_this_page(app, make_user):
    user, _headers = make_user("hr")
    browser = app.test_client()
    sign_in(browser, user.username)
    assert browser.get("/rosters").status_code == 403
