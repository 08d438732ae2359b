"""/api/v1/users and /api/v1/tokens: who manages whom, pages of users, tokens refused."""

import json

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.auth import services
from registry.auth.models import ApiToken, SystemActor, User
from tests.auth.conftest import PASSWORD, events, sign_in
from tests.conftest import CODES


def _count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_the_users_list_pages_with_a_bounded_number_of_statements(
    client, session, make_user, make_institution, count_statements
):
    institution = make_institution()
    _, admin = make_user("admin", username="aa.admin")
    for i in range(12):
        make_user("director", institution=institution, username=f"d{i:02}.director")
    for size in (5, 13):
        with count_statements() as statements:
            response = client.get(f"/api/v1/users?page=1&page_size={size}", headers=admin)
        assert response.status_code == 200
        # the token (with its user), the count, the page: whatever the page holds
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3
    page = client.get("/api/v1/users?page=2&page_size=5", headers=admin)
    assert [u["username"] for u in page.get_json()] == [f"d{i:02}.director" for i in range(4, 9)]
    assert page.get_json()[0]["institution"] == CODES[0]
    meta = json.loads(page.headers["X-Pagination"])
    assert meta["total"] == 13 and meta["total_pages"] == 3 and meta["page"] == 2
    directors = client.get("/api/v1/users?role=director&page_size=100", headers=admin)
    assert len(directors.get_json()) == 12
    beyond = client.get(f"/api/v1/users?page={2**80}", headers=admin)
    assert beyond.status_code == 200 and beyond.get_json() == []
    too_big = client.get("/api/v1/users?page_size=1000", headers=admin)
    assert too_big.status_code == 422 and "page_size" in too_big.get_json()["errors"]


@pytest.mark.parametrize("role", ["hr", "director", "inspector"])
def test_only_admin_and_bureau_see_the_users(client, make_user, make_institution, role):
    institution = make_institution() if role == "director" else None
    _, headers = make_user(role, institution=institution)
    assert client.get("/api/v1/users", headers=headers).status_code == 403


def test_an_account_made_through_the_api_must_change_its_password(client, session, make_user):
    _, admin = make_user("admin")
    response = client.post(
        "/api/v1/users",
        json={"username": "li.hr", "password": PASSWORD, "role": "hr"},
        headers=admin,
    )
    assert response.status_code == 201
    assert response.get_json()["must_change_password"] is True
    assert "password" not in response.get_json()
    assert sign_in(client.application.test_client(), "li.hr").location == "/password"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("hr", True), ("director", True), ("bureau", False), ("admin", False), ("inspector", False)],
)
def test_a_bureau_user_creates_only_director_and_hr_accounts(
    client, session, make_user, make_institution, role, allowed
):
    make_institution()
    _, bureau = make_user("bureau")
    body = {"username": "new.user", "password": PASSWORD, "role": role}
    if role == "director":
        body["institution"] = CODES[0]
    response = client.post("/api/v1/users", json=body, headers=bureau)
    assert response.status_code == (201 if allowed else 403), response.get_json()
    assert (session.scalar(sa.select(User).where(User.username == "new.user")) is not None) is (
        allowed
    )


def test_a_bureau_user_disables_an_hr_account_but_not_an_admin(client, session, make_user):
    _, bureau = make_user("bureau")
    hr, hr_headers = make_user("hr")
    admin, admin_headers = make_user("admin")
    assert client.post(f"/api/v1/users/{admin.id}/disable", headers=bureau).status_code == 403
    assert client.get("/api/v1/tokens", headers=admin_headers).status_code == 200
    response = client.post(f"/api/v1/users/{hr.id}/disable", headers=bureau)
    assert response.status_code == 200 and response.get_json()["active"] is False
    # At once: the token that worked a moment ago is refused.
    refused = client.get("/api/v1/tokens", headers=hr_headers)
    assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized"
    assert [e.data["tokens_revoked"] for e in events(session, "user.disabled")] == [1]
    # Only an administrator resets passwords and changes roles.
    reset = client.post(
        f"/api/v1/users/{hr.id}/reset-password", json={"password": PASSWORD}, headers=bureau
    )
    assert reset.status_code == 403


def test_enable_lets_the_user_in_but_keeps_old_tokens_revoked(client, session, make_user):
    _, admin = make_user("admin")
    hr, hr_headers = make_user("hr")
    client.post(f"/api/v1/users/{hr.id}/disable", headers=admin)
    assert client.post(f"/api/v1/users/{hr.id}/enable", headers=admin).get_json()["active"]
    assert client.get("/api/v1/tokens", headers=hr_headers).status_code == 401
    assert sign_in(client.application.test_client(), hr.username).location == "/hr/imports"


def test_nobody_disables_the_own_account(client, make_user):
    admin, headers = make_user("admin")
    response = client.post(f"/api/v1/users/{admin.id}/disable", headers=headers)
    assert response.status_code == 403


def test_set_role_and_reset_password(client, session, make_user, make_institution):
    make_institution()
    _, admin = make_user("admin")
    hr, _ = make_user("hr")
    bad = client.post(f"/api/v1/users/{hr.id}/role", json={"role": "director"}, headers=admin)
    assert bad.status_code == 422 and "institution" in bad.get_json()["errors"]
    moved = client.post(
        f"/api/v1/users/{hr.id}/role",
        json={"role": "director", "institution": CODES[0]},
        headers=admin,
    )
    assert moved.get_json()["role"] == "director"
    assert moved.get_json()["institution"] == CODES[0]
    weak = client.post(
        f"/api/v1/users/{hr.id}/reset-password", json={"password": "qwertyuiop"}, headers=admin
    )
    assert weak.status_code == 422 and "password" in weak.get_json()["errors"]
    reset = client.post(
        f"/api/v1/users/{hr.id}/reset-password",
        json={"password": "临时密码 temporary 1"},
        headers=admin,
    )
    assert reset.status_code == 200 and reset.get_json()["must_change_password"] is True
    assert "临时密码" not in json.dumps([e.data for e in events(session, "user.password_reset")])


def test_an_expired_token_is_refused_and_only_the_refusal_is_written(
    app, client, session, make_user, clock
):
    user, _ = make_user("hr")
    with app.app_context():  # made on the app's clock
        token = services.create_token(session, SystemActor("test"), user, expires_in_days=30)
    headers = {"Authorization": f"Bearer {token}"}
    clock.advance(days=29)
    assert client.get("/api/v1/tokens", headers=headers).status_code == 200
    clock.advance(days=1)
    before = _count(session, AuditEvent)
    response = client.get("/api/v1/tokens", headers=headers)
    unknown = client.get("/api/v1/tokens", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == unknown.status_code == 401
    assert response.get_json() == unknown.get_json()
    assert set(response.get_json()) == {"code", "message"}
    refused = events(session, "token.refused")
    assert len(refused) == 1 and refused[0].data["reason"] == "expired"
    assert _count(session, AuditEvent) == before + 1


def test_a_token_notes_when_it_was_last_used_at_most_once_a_minute(
    client, session, make_user, clock
):
    user, headers = make_user("inspector")
    token = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    client.get("/api/v1/tokens", headers=headers)
    session.refresh(token)
    first = token.last_used_at
    assert first == clock.now
    clock.advance(seconds=30)
    client.get("/api/v1/tokens", headers=headers)
    session.refresh(token)
    assert token.last_used_at == first
    clock.advance(seconds=31)
    client.get("/api/v1/tokens", headers=headers)
    session.refresh(token)
    assert token.last_used_at == clock.now


def test_a_user_sees_and_revokes_only_the_own_tokens(client, session, make_user):
    hr, hr_headers = make_user("hr")
    other, other_headers = make_user("hr")
    _, admin = make_user("admin")
    created = client.post(
        "/api/v1/tokens", json={"label": "导入脚本", "expires_in_days": 90}, headers=hr_headers
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["label"] == "导入脚本" and body["state"] == "active" and body["token"]
    listed = client.get("/api/v1/tokens", headers=hr_headers).get_json()
    assert {t["username"] for t in listed} == {hr.username} and len(listed) == 2
    assert all("token" not in t for t in listed)
    assert (
        client.get(f"/api/v1/tokens?username={other.username}", headers=hr_headers).status_code
        == 403
    )
    stranger = client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=other_headers)
    assert stranger.status_code == 404
    revoked = client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=hr_headers)
    assert revoked.get_json()["state"] == "revoked"
    new_token = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/tokens", headers=new_token).status_code == 401
    assert client.get("/api/v1/tokens", headers=hr_headers).status_code == 200  # the other one
    everyone = client.get("/api/v1/tokens?page_size=100", headers=admin).get_json()
    assert {t["username"] for t in everyone} >= {hr.username, other.username}


def test_only_an_admin_issues_tokens_for_others(client, make_user):
    _, bureau = make_user("bureau")
    hr, _ = make_user("hr")
    _, admin = make_user("admin")
    body = {"username": hr.username, "label": "x"}
    assert client.post("/api/v1/tokens", json=body, headers=bureau).status_code == 403
    issued = client.post("/api/v1/tokens", json=body, headers=admin)
    assert issued.status_code == 201 and issued.get_json()["username"] == hr.username
    too_long = client.post("/api/v1/tokens", json={"expires_in_days": 0}, headers=admin)
    assert too_long.status_code == 422 and "expires_in_days" in too_long.get_json()["errors"]
