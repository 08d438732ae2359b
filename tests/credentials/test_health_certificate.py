"""A health certificate without a stated expiry holds through the day before its
examination's first anniversary: its state, the expiring list and the eligibility rule
agree on either side of that day."""

from datetime import date

import pytest

from tests.conftest import CODES, id_number

EXAMINED = date(2025, 3, 5)
LAST_DAY, ANNIVERSARY = date(2026, 3, 4), date(2026, 3, 5)


@pytest.fixture
def hired(client, make_user, make_institution, make_person):
    """A cook examined on EXAMINED (no expiry stated), in post since shortly after."""
    institution = make_institution()
    _, director = make_user("director", institution)
    make_person(1, name="王芳", certificates=[("health_certificate", EXAMINED)])
    body = {"id_number": id_number(1), "role": "cook", "start": "2025-03-10", "declaration": True}
    response = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments", json=body, headers=director
    )
    assert response.status_code == 201, response.get_json()
    return director


def _state(client, headers, as_of):
    body = {"id_number": id_number(1), "as_of": as_of.isoformat()}
    response = client.post("/api/v1/people/lookup", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    [certificate] = response.get_json()["certificates"]
    assert certificate["expires_on"] == LAST_DAY.isoformat()
    return certificate["state"]


def _eligible(client, headers, as_of):
    body = {"id_number": id_number(1), "role": "cook", "as_of": as_of.isoformat()}
    response = client.post("/api/v1/eligibility", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["eligible"]


def _expiring(client, headers, as_of):
    url = f"/api/v1/institutions/{CODES[0]}/expiring?within=30&as_of={as_of.isoformat()}"
    [row] = client.get(url, headers=headers).get_json()
    return row["state"], row["days_left"], row["days_expired"]


def test_valid_through_the_day_before_the_anniversary(client, hired):
    assert _state(client, hired, LAST_DAY) == "valid"
    assert _eligible(client, hired, LAST_DAY) is True
    assert _expiring(client, hired, LAST_DAY) == ("expiring", 0, None)


def test_expired_on_the_anniversary(client, hired):
    assert _state(client, hired, ANNIVERSARY) == "expired"
    assert _eligible(client, hired, ANNIVERSARY) is False
    assert _expiring(client, hired, ANNIVERSARY) == ("expired", None, 1)
