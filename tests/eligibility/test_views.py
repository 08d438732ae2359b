"""POST /eligibility: verdicts through the API, under the institution's district rules."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.bans.models import Ban
from registry.crypto import current_keyring
from registry.identity import parse_identity
from tests.conftest import CODES, id_number

AS_OF = "2026-06-01"
NURSE = [
    ("health_certificate", date(2026, 3, 1)),
    ("health_care_training", date(2024, 1, 1)),
]


def ban(app, session, number, **changes):
    """A ban as the bureau will record it (issue of the ban registry)."""
    with app.app_context():
        keyring = current_keyring()
        identity = parse_identity(number)
        fields = dict(
            id_type=identity.id_type,
            id_index=keyring.blind_index(identity.canonical),
            id_index_kid=keyring.active_blind_kid,
            id_number_enc=keyring.encrypt(identity.number, "ban.id_number"),
            name_enc=keyring.encrypt("某某", "ban.name"),
            category="abuse",
            authority="杭州市西湖区卫生健康局",
            decision_no="西卫禁〔2025〕1号",
            effective_on=date(2025, 1, 1),
        )
        row = Ban(**{**fields, **changes})
        session.add(row)
        session.flush()
        return row


def _ask(client, headers, **body):
    return client.post(
        "/api/v1/eligibility",
        json={"id_number": id_number(5), "as_of": AS_OF, **body},
        headers=headers,
    )


@pytest.fixture
def nurse(make_person):
    return make_person(5, education="secondary_vocational", certificates=NURSE)


def test_a_director_gets_the_verdict_under_the_own_district(
    client, make_user, make_institution, nurse, session
):
    institution = make_institution(district="杭锦旗")
    _, director = make_user("director", institution)
    response = _ask(client, director, role="nurse")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ruleset"]["id"] == "hangjin" and body["person_id"] == nurse.public_id
    assert body["eligible"] is False and body["barred"] is False
    failed = [r for r in body["reasons"] if not r["ok"]]
    assert [r["rule"] for r in failed] == ["health_qualification"]
    assert "杭政办发〔2021〕62号" in failed[0]["source"]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "eligibility.checked"))
    assert event.subject == f"person:{nurse.id}" and event.data["eligible"] is False
    assert id_number(5) not in repr(event.data)


def test_the_baseline_applies_without_an_institution(client, make_user, nurse):
    _, bureau = make_user("bureau")
    body = _ask(client, bureau, role="nurse").get_json()
    assert body["ruleset"]["id"] == "national" and body["eligible"] is True
    assert all(r["ok"] and r["source"] and r["message"] for r in body["reasons"])


def test_the_bureau_names_an_institution(client, make_user, make_institution, nurse):
    make_institution(code=CODES[2], district="杭锦旗")
    _, inspector = make_user("inspector")
    body = _ask(client, inspector, role="nurse", institution=CODES[2].lower()).get_json()
    assert body["ruleset"]["id"] == "hangjin"


def test_a_director_may_not_ask_under_another_institution(
    client, make_user, make_institution, nurse
):
    _, director = make_user("director", make_institution())
    assert _ask(client, director, role="nurse", institution=CODES[2]).status_code == 403


def test_an_earlier_date_judges_the_certificates_then(client, make_user, nurse):
    _, bureau = make_user("bureau")
    body = _ask(client, bureau, role="nurse", as_of="2025-06-01").get_json()
    failed = {r["rule"] for r in body["reasons"] if not r["ok"]}
    assert failed == {"health_certificate"}


def test_an_unregistered_person_is_not_eligible_and_says_why(client, make_user):
    _, bureau = make_user("bureau")
    body = _ask(client, bureau, role="cook", id_number=id_number(9)).get_json()
    assert body["person_id"] is None and body["eligible"] is False and body["barred"] is False
    assert [r["rule"] for r in body["reasons"] if not r["ok"]] == ["health_certificate"]


def test_a_barred_person_is_barred_without_details(app, client, session, make_user, nurse):
    ban(app, session, id_number(5))
    _, bureau = make_user("bureau")
    body = _ask(client, bureau, role="nurse", id_number=id_number(5).lower()).get_json()
    assert body["barred"] is True and body["eligible"] is False
    assert body["reasons"][0]["rule"] == "not_barred" and not body["reasons"][0]["ok"]
    text = repr(body)
    assert (
        "abuse" not in text
        and "西卫禁" not in text
        and "卫生健康局" not in text.replace("卫生健康部门", "")
    )


def test_a_ban_bars_an_unregistered_number_too(app, client, session, make_user):
    ban(app, session, id_number(9))
    _, bureau = make_user("bureau")
    assert _ask(client, bureau, role="cook", id_number=id_number(9)).get_json()["barred"] is True


@pytest.mark.parametrize(
    ("changes", "barred"),
    [
        ({"status": "revoked"}, False),
        ({"until": date(2025, 12, 31)}, False),  # over before the date and today
        ({"effective_on": date(2026, 9, 1)}, True),  # recorded since the date: bars now
    ],
    ids=["revoked", "ended", "later"],
)
def test_which_bans_count(app, client, session, make_user, nurse, changes, barred):
    ban(app, session, id_number(5), **changes)
    _, bureau = make_user("bureau")
    assert _ask(client, bureau, role="nurse").get_json()["barred"] is barred


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "nanny"}, "role"),
        ({"role": "nurse", "as_of": "2026-02-30"}, "as_of"),
        ({"role": "nurse", "id_number": "123"}, "id_number"),
        ({"role": "nurse", "institution": "123"}, "institution"),
    ],
)
def test_bad_questions_name_the_field(client, make_user, body, field):
    _, bureau = make_user("bureau")
    response = _ask(client, bureau, **body)
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.mark.parametrize("role", ["hr", "admin"])
def test_other_roles_do_not_ask(client, make_user, role):
    _, headers = make_user(role)
    assert _ask(client, headers, role="nurse").status_code == 403


CAREGIVER = [
    ("health_certificate", date(2026, 3, 1)),
    ("caregiver_training", date(2024, 1, 1)),
]


@pytest.mark.parametrize(
    ("district", "eligible", "severity"),
    [("永安市", True, "advisory"), ("西湖区", False, "required"), ("滨江区", True, None)],
)
def test_the_api_shows_required_and_advisory_rules(
    client, make_user, make_institution, make_person, district, eligible, severity
):
    make_person(5, major="学前教育", certificates=CAREGIVER)
    make_institution(code=CODES[2], district=district)
    _, bureau = make_user("bureau")
    body = _ask(client, bureau, role="caregiver", institution=CODES[2]).get_json()
    assert body["eligible"] is eligible
    assert all(r["severity"] in ("required", "advisory") for r in body["reasons"])
    failed = [(r["rule"], r["severity"]) for r in body["reasons"] if not r["ok"]]
    assert failed == ([("qualification_certificate", severity)] if severity else [])


def test_a_security_guard_is_asked_about_with_the_dispatching_company(
    client, make_user, make_person
):
    make_person(5, certificates=[("health_certificate", date(2026, 3, 1)),
                                 ("security_guard", date(2020, 1, 1))])  # fmt: skip
    _, bureau = make_user("bureau")
    body = _ask(client, bureau, role="security_guard").get_json()
    assert [r["rule"] for r in body["reasons"] if not r["ok"]] == ["dispatch"]
    body = _ask(
        client,
        bureau,
        role="security_guard",
        dispatch_company="杭州市保安服务有限公司",
        dispatch_licence="浙公保服许字〔2010〕001号",
    ).get_json()
    assert body["eligible"] is True
    assert (
        "杭州市保安服务有限公司"
        in next(r for r in body["reasons"] if r["rule"] == "dispatch")["message"]
    )
