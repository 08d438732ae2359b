"""GET /api/v1/rates, and a director's own figure under compliance."""

from datetime import date

import pytest

from tests.conftest import CODES
from tests.rates.test_services import DAY, ISSUED


@pytest.fixture
def staffed(make_institution, make_person, employ):
    xihu = make_institution(CODES[0], district="西湖区")
    yuyao = make_institution(CODES[1], name="余姚市阳光托育园", district="余姚市")
    employ(make_person(1, certificates=[("childcare_worker", ISSUED)]), xihu, "caregiver")
    employ(make_person(2), xihu, "caregiver")
    employ(make_person(3, certificates=[("childcare_worker", ISSUED)]), yuyao, "care_assistant")
    return xihu, yuyao


@pytest.mark.parametrize("role", ["bureau", "inspector", "admin"])
def test_the_bureau_sees_every_institution(client, make_user, staffed, role):
    _, headers = make_user(role)
    response = client.get(f"/api/v1/rates?as_of={DAY}", headers=headers)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["as_of"] == DAY.isoformat()
    assert [
        (i["code"], i["staff"], i["certified"], i["rate"], i["target"], i["meets_target"])
        for i in body["institutions"]
    ] == [(CODES[1], 1, 1, 1.0, 0.8, True), (CODES[0], 2, 1, 0.5, 0.9, False)]
    assert [(d["district"], d["institutions"], d["rate"]) for d in body["districts"]] == [
        ("余姚市", 1, 1.0),
        ("杭州市西湖区", 1, 0.5),
    ]


def test_one_district_and_bad_queries(client, make_user, staffed):
    _, headers = make_user("bureau")
    body = client.get(f"/api/v1/rates?as_of={DAY}&district=余姚市", headers=headers).json
    assert [i["code"] for i in body["institutions"]] == [CODES[1]]

    response = client.get("/api/v1/rates?district=火星区", headers=headers)
    assert response.status_code == 422 and "火星区" in response.json["message"]
    response = client.get("/api/v1/rates?as_of=2025-13-45", headers=headers)
    assert response.status_code == 422 and "as_of" in response.json["errors"]


@pytest.mark.parametrize("role", ["director", "hr"])
def test_others_are_refused(client, make_user, staffed, role):
    _, headers = make_user(role, institution=staffed[0] if role == "director" else None)
    assert client.get("/api/v1/rates", headers=headers).status_code == 403
    assert client.get("/api/v1/rates").status_code == 401


def test_a_director_finds_the_own_figure_under_compliance(client, make_user, staffed):
    xihu, yuyao = staffed
    _, director = make_user("director", institution=xihu)
    body = client.get(f"/api/v1/institutions/{xihu.code}/compliance?as_of={DAY}", headers=director)
    assert body.status_code == 200
    assert body.json["certification"] == {
        "staff": 2,
        "certified": 1,
        "rate": 0.5,
        "target": 0.9,
        "meets_target": False,
        "due": True,
        "due_on": "2025-12-31",
    }
    shortfall = next(s for s in body.json["shortfalls"] if s["rule"] == "certification_rate")
    assert "50.0%" in shortfall["message"] and "90%" in shortfall["message"]
    assert "西政办函" in shortfall["source"]
    other = client.get(f"/api/v1/institutions/{yuyao.code}/compliance", headers=director)
    assert other.status_code == 403
    # Before anyone was in post there is no rate, and no shortfall for it.
    early = client.get(
        f"/api/v1/institutions/{xihu.code}/compliance?as_of={date(2024, 1, 1)}", headers=director
    ).json
    assert early["certification"]["rate"] is None
    assert all(s["rule"] != "certification_rate" for s in early["shortfalls"])
