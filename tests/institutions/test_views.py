import json

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.institutions.models import Institution
from tests.conftest import CODES

BODY = {
    "code": CODES[1],
    "name": "西湖区阳光托育园",
    "district": "西湖区",
    "classes": [{"type": "infant", "children": 8}, {"type": "toddler", "children": 14}],
    "meals_on_site": True,
}


def _count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Institution))


@pytest.mark.parametrize("role", ["admin", "bureau"])
def test_admin_and_bureau_register_institutions(client, session, make_user, role):
    _, headers = make_user(role)
    response = client.post("/api/v1/institutions", json=BODY, headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in BODY} == BODY
    institution = session.scalar(sa.select(Institution).where(Institution.code == CODES[1]))
    assert [(c.type, c.children) for c in institution.classes] == [("infant", 8), ("toddler", 14)]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "institution.created"))
    assert event.subject == f"institution:{CODES[1]}" and event.actor.startswith(role)


def test_code_is_normalised(client, make_user):
    _, headers = make_user("bureau")
    typed = " ９１１１０００ 0802100433b "  # full-width digits, spaces, lower case
    response = client.post("/api/v1/institutions", json={**BODY, "code": typed}, headers=headers)
    assert response.status_code == 201
    assert response.get_json()["code"] == CODES[1]


@pytest.mark.parametrize("role", ["hr", "inspector"])
def test_other_roles_may_not_register(client, session, make_user, role):
    _, headers = make_user(role)
    response = client.post("/api/v1/institutions", json=BODY, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert _count(session) == 0


def test_a_director_may_not_register(client, session, make_user, make_institution):
    _, headers = make_user("director", make_institution())
    assert client.post("/api/v1/institutions", json=BODY, headers=headers).status_code == 403
    assert _count(session) == 1


def test_no_token_and_wrong_token_are_401(client, session):
    assert client.post("/api/v1/institutions", json=BODY).status_code == 401
    for header in ("Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer ", "token"):
        response = client.post("/api/v1/institutions", json=BODY, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.get_json()["code"] == "unauthorized"
    assert _count(session) == 0


def test_duplicate_institution_is_409(client, session, make_user):
    _, headers = make_user("bureau")
    assert client.post("/api/v1/institutions", json=BODY, headers=headers).status_code == 201
    response = client.post("/api/v1/institutions", json={**BODY, "name": "另一家"}, headers=headers)
    assert response.status_code == 409
    assert CODES[1] in response.get_json()["message"]
    assert _count(session) == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"code": "91110000802100433C"}, "code", "check character should be B"),
        ({"code": "9111000080210043"}, "code", "18"),
        ({"code": "91110000802I00433B"}, "code", "I"),
        ({"name": "   "}, "name", "must not be empty"),
        ({"district": None}, "district", "null"),
        ({"classes": [{"type": "nursery", "children": 3}]}, "classes", "Must be one of"),
        (
            {"classes": [{"type": "infant", "children": -1}]},
            "classes",
            "greater than or equal to 0",
        ),
        ({"classes": [{"type": "infant", "children": "8"}]}, "classes", "integer"),
        ({"colour": "blue"}, "colour", "Unknown field"),
        ({"name": "阳光\x00托育园"}, "name", "character 3 (U+0000) is not allowed"),
        ({"name": "阳光\ud800"}, "name", "U+D800"),
        ({"district": "西湖\n区"}, "district", "U+000A"),
        ({"meals_on_site": "yes"}, "meals_on_site", "boolean"),
        ({"meals_on_site": 1}, "meals_on_site", "boolean"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, session, make_user, change, field, message):
    _, headers = make_user("bureau")
    # json.dumps escapes to ASCII, so a lone surrogate travels as "\ud800".
    body = json.dumps({**BODY, **change})
    response = client.post(
        "/api/v1/institutions", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid"
    assert field in body["errors"]
    assert message in str(body["errors"][field])
    assert _count(session) == 0


def test_missing_fields_are_named(client, make_user):
    _, headers = make_user("bureau")
    response = client.post("/api/v1/institutions", json={}, headers=headers)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"code", "name", "district"}


@pytest.mark.parametrize("role", ["admin", "bureau", "hr", "inspector"])
def test_unscoped_roles_read_any_institution(client, make_user, make_institution, role):
    make_institution(CODES[0])
    _, headers = make_user(role)
    response = client.get(f"/api/v1/institutions/{CODES[0]}", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["code"] == CODES[0]


def test_a_director_reads_only_the_own_institution(client, make_user, make_institution):
    own = make_institution(CODES[0])
    make_institution(CODES[1], name="别家")
    _, headers = make_user("director", own)
    assert client.get(f"/api/v1/institutions/{CODES[0]}", headers=headers).status_code == 200
    response = client.get(f"/api/v1/institutions/{CODES[1]}", headers=headers)
    assert response.status_code == 403
    assert "own institution" in response.get_json()["message"]


def test_unknown_and_invalid_codes(client, make_user):
    _, headers = make_user("bureau")
    response = client.get(f"/api/v1/institutions/{CODES[2]}", headers=headers)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    response = client.get("/api/v1/institutions/91110000802100433C", headers=headers)
    assert response.status_code == 422 and "code" in response.get_json()["errors"]
    assert client.get(f"/api/v1/institutions/{CODES[2]}").status_code == 401


def test_a_director_cannot_tell_which_other_codes_exist(client, make_user, make_institution):
    own = make_institution(CODES[0])
    make_institution(CODES[1], name="别家")
    _, headers = make_user("director", own)
    registered = client.get(f"/api/v1/institutions/{CODES[1]}", headers=headers)
    unregistered = client.get(f"/api/v1/institutions/{CODES[2]}", headers=headers)
    assert registered.status_code == unregistered.status_code == 403
    assert registered.get_json() == unregistered.get_json()
    typed = client.get(f"/api/v1/institutions/{CODES[0].lower()}", headers=headers)
    assert typed.status_code == 200  # the own code in any typed form
