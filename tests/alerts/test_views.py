"""Alerts through the API: what raises them, what they say, who sees them, filters."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.alerts import services
from registry.alerts.models import Alert
from registry.audit import AuditEvent
from registry.auth.models import SystemActor
from tests.conftest import CODES, id_number

ISSUED = date(2025, 3, 1)
EXPIRES = date(2026, 3, 20)
BAN = {
    "id_number": id_number(1),
    "name": "王芳",
    "category": "abuse",
    "authority": "杭州市西湖区卫生健康局",
    "decision_no": "西卫禁〔2026〕3号",
    "effective_on": "2026-01-01",
}


@pytest.fixture
def place(make_institution):
    return make_institution(CODES[0], name="西湖区第一托育园")


@pytest.fixture
def other(make_institution):
    return make_institution(CODES[1], name="余姚市阳光托育园", district="余姚市")


@pytest.fixture
def bureau(make_user):
    return make_user("bureau")[1]


@pytest.fixture
def director(make_user, place):
    return make_user("director", place)[1]


@pytest.fixture
def caregiver(make_person, employ, place):
    """王芳, a caregiver in post since 2025 with a childcare certificate expiring on
    2026-03-20."""
    person = make_person(1, name="王芳", certificates=[("childcare_worker", ISSUED, EXPIRES)])
    employ(person, place, "caregiver")
    return person


def _certificate_id(client, bureau, person) -> int:
    body = client.get(f"/api/v1/people/{person.public_id}", headers=bureau).get_json()
    return next(c["id"] for c in body["certificates"] if c["kind"] == "childcare_worker")


def _revoke(client, headers, certificate_id):
    return client.post(
        f"/api/v1/certificates/{certificate_id}/revoke",
        json={"reason": "证书系伪造", "revoked_on": "2026-02-01"},
        headers=headers,
    )


def test_a_revoked_certificate_of_a_current_employee_alerts_the_employer(
    client, session, bureau, director, make_user, caregiver, other, employ
):
    employ(caregiver, other, "care_assistant")  # a second employer is told too
    certificate_id = _certificate_id(client, bureau, caregiver)
    _, hr = make_user("hr")
    assert _revoke(client, hr, certificate_id).status_code == 200

    alerts = client.get("/api/v1/alerts", headers=director).get_json()
    assert [(a["kind"], a["institution"], a["certificate_id"]) for a in alerts] == [
        ("certificate_revoked", CODES[0], certificate_id)
    ]
    message = alerts[0]["message"]
    assert message.startswith("西湖区第一托育园在岗保育人员王芳的保育师")
    assert "2026-02-01" in message and "被撤销" in message and "revoked on 2026-02-01" in message
    assert "伪造" not in message  # the bureau's reason is not the employer's to read
    everyone = client.get("/api/v1/alerts", headers=bureau).get_json()
    assert sorted(a["institution"] for a in everyone) == sorted(CODES[:2])


def test_revoking_a_certificate_of_nobody_in_post_raises_nothing(
    client, session, bureau, make_person, employ, place
):
    person = make_person(2, certificates=[("childcare_worker", ISSUED, EXPIRES)])
    employ(person, place, "caregiver", end=date(2025, 12, 31))  # left before today
    assert _revoke(client, bureau, _certificate_id(client, bureau, person)).status_code == 200
    assert session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_a_ban_alert_names_its_kind_and_tells_the_employer_whom_not_why(
    client, bureau, director, caregiver
):
    assert client.post("/api/v1/bans", json=BAN, headers=bureau).status_code == 201
    (seen,) = client.get("/api/v1/alerts", headers=director).get_json()
    assert seen["kind"] == "ban" and seen["message"].startswith(
        "西湖区第一托育园在岗保育人员王芳已被列入禁止从业名单"
    )
    assert seen["ban_id"] is None and seen["ban_category"] is None
    assert "虐待" not in seen["message"] and "abuse" not in seen["message"]
    (told,) = client.get("/api/v1/alerts", headers=bureau).get_json()
    assert told["ban_category"] == "abuse" and told["ban_category_name"] == "虐待"


def test_an_expiring_certificate_alerts_once(app, session, caregiver, client, director):
    with app.app_context():
        early = services.sweep_expiring(
            session, SystemActor("test"), date(2026, 2, 10)
        )  # 38 days before
        first = services.sweep_expiring(
            session, SystemActor("test"), date(2026, 2, 18)
        )  # 30 days before
        again = services.sweep_expiring(session, SystemActor("test"), date(2026, 2, 19))
        after = services.sweep_expiring(session, SystemActor("test"), date(2026, 3, 21))  # expired
    assert (len(early), len(first), len(again), len(after)) == (0, 1, 0, 0)
    (alert,) = client.get("/api/v1/alerts", headers=director).get_json()
    assert alert["kind"] == "certificate_expiring" and alert["expires_on"] == "2026-03-20"
    assert "将于2026-03-20到期" in alert["message"] and "expires on 2026-03-20" in alert["message"]
    sweeps = session.scalars(
        sa.select(AuditEvent.data).where(AuditEvent.action == "alerts.swept")
    ).all()
    assert [s["alerts"] for s in sweeps] == [0, 1, 0, 0]


def test_a_renewed_certificate_raises_no_expiry_alert(app, session, caregiver, make_person):
    from registry.credentials import services as credentials

    with app.app_context():
        credentials.add_certificate(
            session,
            SystemActor("test"),
            caregiver,
            {
                "kind": "childcare_worker",
                "level": None,
                "number": "renewed-1",
                "issuer": "杭州市人力资源和社会保障局",
                "issued_on": date(2026, 2, 1),
                "expires_on": date(2029, 2, 1),
            },
        )
        assert services.sweep_expiring(session, SystemActor("test"), date(2026, 3, 1)) == []


def test_filters_and_who_may_filter(
    client, session, bureau, director, make_user, caregiver, other, make_person, employ
):
    employ(make_person(3, name="李四"), other, "cook")
    assert client.post("/api/v1/bans", json=BAN, headers=bureau).status_code == 201
    ban3 = {**BAN, "id_number": id_number(3), "name": "李四"}
    assert client.post("/api/v1/bans", json=ban3, headers=bureau).status_code == 201
    (mine,) = client.get("/api/v1/alerts", headers=director).get_json()
    assert (
        client.post(f"/api/v1/alerts/{mine['id']}/acknowledge", headers=director).status_code == 200
    )

    def names(url, headers=bureau):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [a["name"] for a in response.get_json()]

    assert sorted(names("/api/v1/alerts")) == ["李四", "王芳"]
    assert names("/api/v1/alerts?acknowledged=true") == ["王芳"]
    assert names("/api/v1/alerts?acknowledged=false") == ["李四"]
    assert names(f"/api/v1/alerts?institution={CODES[1].lower()}") == ["李四"]
    assert names("/api/v1/alerts?kind=certificate_revoked") == []
    assert names("/api/v1/alerts?acknowledged=false", director) == []
    elsewhere = client.get(f"/api/v1/alerts?institution={CODES[1]}", headers=director)
    assert elsewhere.status_code == 403
    bad = client.get("/api/v1/alerts?kind=flood&acknowledged=maybe", headers=bureau)
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"kind", "acknowledged"}
