"""Bans, hiring checks and their receipts, alerts and who checked whom, through the API."""

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry import clock
from registry.audit import AuditEvent
from registry.bans import receipts
from registry.bans.models import Ban, BanCheck
from tests.conftest import CODES, id_number

NUMBER = id_number(1)
BAN = {
    "id_number": NUMBER,
    "name": "张某",
    "category": "abuse",
    "authority": "杭州市西湖区卫生健康局",
    "decision_no": "西卫禁〔2026〕3号",
    "effective_on": "2026-01-01",
}
TODAY = clock.today()


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def bureau(make_user):
    return make_user("bureau")[1]


@pytest.fixture
def banned(client, bureau):
    response = client.post("/api/v1/bans", json=BAN, headers=bureau)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def director(make_user, make_institution):
    return make_user("director", make_institution())[1]


def _check(client, headers, number=NUMBER, **body):
    return client.post("/api/v1/ban-checks", json={"id_number": number, **body}, headers=headers)


def test_recording_a_ban(banned, session):
    assert banned["status"] == "active" and banned["until"] is None and banned["alerts"] == 0
    assert (
        banned["name"] == "张某"
        and banned["id_number_masked"] == NUMBER[:3] + "*" * 11 + NUMBER[-4:]
    )
    ban = session.get(Ban, banned["id"])
    assert NUMBER.encode() not in ban.id_number_enc + ban.id_index and ban.id_index_kid
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ban.added"))
    assert event.subject == f"ban:{ban.id}" and NUMBER not in repr(event.data)


def test_a_second_active_ban_on_the_number_is_409(client, bureau, banned, session):
    again = client.post("/api/v1/bans", json={**BAN, "id_number": NUMBER.lower()}, headers=bureau)
    assert again.status_code == 409 and again.get_json()["id"] == banned["id"]
    assert _count(session, Ban) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "gossip"}, "category"),
        ({"effective_on": "2026-02-30"}, "effective_on"),
        ({"until": "2025-12-31"}, "until"),
        ({"id_number": NUMBER[:-1] + ("1" if NUMBER[-1] != "1" else "2")}, "id_number"),
        ({"name": ""}, "name"),
        ({"decision_no": None}, "decision_no"),
    ],
)
def test_bad_bans_name_the_field_and_write_nothing(client, bureau, session, change, field):
    response = client.post("/api/v1/bans", json={**BAN, **change}, headers=bureau)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert _count(session, Ban) == 0


@pytest.mark.parametrize("role", ["hr", "director", "inspector"])
def test_only_the_bureau_records_bans(client, make_user, make_institution, role):
    _, headers = make_user(role, make_institution() if role == "director" else None)
    assert client.post("/api/v1/bans", json=BAN, headers=headers).status_code == 403


@pytest.mark.parametrize(
    "typed",
    [
        NUMBER,
        NUMBER.lower(),
        _fullwidth(NUMBER),
        " ".join(NUMBER[i : i + 4] for i in range(0, 18, 4)),
        f"{NUMBER[:6]}-{NUMBER[6:14]}-{NUMBER[14:]}",
    ],
    ids=["as-is", "lower-x", "full-width", "spaces", "hyphens"],
)
def test_every_typed_form_of_a_barred_number_is_barred(client, director, banned, typed):
    response = _check(client, director, typed)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["result"] == "barred" and body["contact"]
    # Minimal: no category, authority, decision or dates.
    assert set(body) == {"result", "check_id", "checked_at", "receipt", "contact"}


def test_a_legacy_15_digit_number_finds_the_ban_on_its_18_digit_form(client, bureau, director):
    client.post("/api/v1/bans", json={**BAN, "id_number": "11010519491231002X"}, headers=bureau)
    assert _check(client, director, "110105491231002").get_json()["result"] == "barred"


@pytest.mark.parametrize("typed", ["", "1234", NUMBER[:-1] + "Y", "110105199013321234"])
def test_an_invalid_number_is_422_never_clear(client, director, session, typed):
    response = _check(client, director, typed)
    assert response.status_code == 422 and "id_number" in response.get_json()["errors"]
    assert _count(session, BanCheck) == 0


def test_a_clear_check_is_stored_without_the_number(client, director, session):
    body = _check(client, director, purpose="入职前查询").get_json()
    assert body["result"] == "clear" and "contact" not in body
    row = session.get(BanCheck, body["check_id"])
    assert row.purpose == "入职前查询" and row.institution_id is not None and row.user_id
    assert NUMBER.encode() not in row.id_index
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ban.checked"))
    assert event.subject == f"check:{row.id}" and NUMBER not in repr(event.data) + event.subject


def test_a_director_checks_for_the_own_institution_only(client, director):
    assert _check(client, director, institution=CODES[1]).status_code == 403


def test_revocation_restores_clear(client, bureau, director, banned, session):
    url = f"/api/v1/bans/{banned['id']}/revoke"
    response = client.post(url, json={"reason": "复议撤销"}, headers=bureau)
    assert response.status_code == 200 and response.get_json()["status"] == "revoked"
    assert _check(client, director).get_json()["result"] == "clear"
    assert client.post(url, json={"reason": "again"}, headers=bureau).status_code == 409
    assert _count(session, Ban) == 1  # kept, not deleted
    # A new ban on the number may be recorded again.
    assert client.post("/api/v1/bans", json=BAN, headers=bureau).status_code == 201


def test_a_fixed_term_ban_ends(client, bureau, director):
    client.post(
        "/api/v1/bans",
        json={**BAN, "effective_on": "2020-01-01", "until": "2021-01-01"},
        headers=bureau,
    )
    assert _check(client, director).get_json()["result"] == "clear"


# -- receipts ------------------------------------------------------------------------------


def test_a_receipt_verifies_with_the_published_key_and_a_changed_byte_fails(
    app, client, director, banned
):
    body = _check(client, director).get_json()
    keys = client.get("/api/v1/keys/receipts").get_json()["keys"]  # no token needed
    import base64

    public = {k["kid"]: base64.b64decode(k["public_key"]) for k in keys}
    receipt = receipts.verify(body["receipt"], public)
    assert receipt.check_id == body["check_id"] and receipt.result == "barred"
    assert (
        receipt.institution == CODES[0] and receipt.id_number == NUMBER[:3] + "*" * 11 + NUMBER[-4:]
    )
    token = body["receipt"]
    for position in (3, len(token) // 2, len(token) - 2):
        changed = (
            token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        )
        with pytest.raises(receipts.InvalidReceipt):
            receipts.verify(changed, public)
    with pytest.raises(receipts.InvalidReceipt):
        receipts.verify(token, {})


# -- rate limit ----------------------------------------------------------------------------


@pytest.fixture
def limit(app):
    """A limit of 3 checks a minute for this test."""
    original = app.extensions["registry.settings"]
    app.extensions["registry.settings"] = original.with_budget(3, 1_000)
    yield 3
    app.extensions["registry.settings"] = original


def test_checks_over_the_limit_are_429_and_the_burst_is_audited(client, director, session, limit):
    statuses = [_check(client, director).status_code for _ in range(limit)]
    assert statuses == [200] * limit
    refused = _check(client, director)
    assert refused.status_code == 429 and refused.get_json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert _check(client, director).status_code == 429
    # Eligibility and hiring are checks too.
    body = {"id_number": NUMBER, "role": "cook"}
    assert client.post("/api/v1/eligibility", json=body, headers=director).status_code == 429
    assert _count(session, BanCheck) == limit
    bursts = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "ban_check.rate_limited")
    ).all()
    assert len(bursts) == 1  # one event a burst, not one a refusal


def test_the_limit_is_per_user(client, director, make_user, limit):
    for _ in range(limit):
        _check(client, director)
    _, other = make_user("inspector")
    assert _check(client, other).status_code == 200


# -- who checked me, alerts ------------------------------------------------------------------


def test_who_checked_a_person(client, bureau, director, make_user):
    _check(client, director, purpose="入职前查询")
    _check(client, director, NUMBER.lower())
    _check(client, director, id_number(2))
    response = client.post(
        "/api/v1/ban-checks/for-person", json={"id_number": NUMBER}, headers=bureau
    )
    assert response.status_code == 200
    rows = response.get_json()
    assert [r["institution"] for r in rows] == [CODES[0], CODES[0]]
    assert {r["purpose"] for r in rows} == {"入职前查询", None}
    assert (
        client.post(
            "/api/v1/ban-checks/for-person", json={"id_number": NUMBER}, headers=director
        ).status_code
        == 403
    )


def test_a_ban_on_a_current_employee_raises_an_alert(
    client, bureau, director, make_person, session, make_user, make_institution
):
    make_person(1, certificates=[("health_certificate", TODAY - timedelta(days=10))])
    hired = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments",
        json={"id_number": NUMBER, "role": "cook", "start": TODAY.isoformat(), "declaration": True},
        headers=director,
    )
    assert hired.status_code == 201 and hired.get_json()["receipt"]
    body = client.post("/api/v1/bans", json=BAN, headers=bureau).get_json()
    assert body["alerts"] == 1
    alerts = client.get("/api/v1/alerts", headers=director).get_json()
    assert [(a["employment_id"], a["name"], a["role"]) for a in alerts] == [
        (hired.get_json()["id"], "王芳", "cook")
    ]
    assert alerts[0]["ban_id"] is None  # the employer is told whom, not why
    assert client.get("/api/v1/alerts", headers=bureau).get_json()[0]["ban_id"] == body["id"]
    _, elsewhere = make_user("director", make_institution(code=CODES[1]))
    assert client.get("/api/v1/alerts", headers=elsewhere).get_json() == []
    url = f"/api/v1/alerts/{alerts[0]['id']}/acknowledge"
    assert client.post(url, headers=elsewhere).status_code == 404
    acknowledged = client.post(url, headers=director)
    assert acknowledged.status_code == 200 and acknowledged.get_json()["acknowledged_by"]
    assert client.post(url, headers=director).status_code == 409


def test_hiring_refuses_the_barred_with_a_receipt(client, director, banned, make_person, session):
    make_person(1, certificates=[("health_certificate", TODAY - timedelta(days=10))])
    response = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments",
        json={
            "id_number": NUMBER.lower(),
            "role": "cook",
            "start": TODAY.isoformat(),
            "declaration": True,
        },
        headers=director,
    )
    assert response.status_code == 409
    body = response.get_json()
    assert body["barred"] is True and body["receipt"]
    check = session.get(BanCheck, body["check_id"])
    assert check.result == "barred" and check.purpose == "hiring: cook"


def test_no_identity_number_in_the_logs(client, director, bureau, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/api/v1/bans", json=BAN, headers=bureau)
    _check(client, director)
    _check(client, director, NUMBER[:-1] + ("1" if NUMBER[-1] != "1" else "2"))
    client.post("/api/v1/ban-checks/for-person", json={"id_number": NUMBER}, headers=bureau)
    text = caplog.text
    assert NUMBER not in text and NUMBER[:17] not in text
