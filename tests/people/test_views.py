"""People and their certificates through the API."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry import clock
from registry.audit import AuditEvent
from registry.credentials.models import Certificate, CertificateChange
from registry.people.models import Person
from tests.conftest import id_number

NUMBER = id_number(1)
PERSON = {
    "id_number": NUMBER,
    "name": "王芳",
    "education": "junior_college",
    "major": "学前教育",
    "experience": [
        {
            "field": "childcare",
            "organization": "西湖区阳光托育园",
            "management": False,
            "start": "2019-09-01",
            "end": "2023-06-30",
        },
    ],
}
CERTIFICATE = {
    "kind": "保育员",
    "level": "四级",
    "number": "CW 2021 0001",
    "issuer": "杭州市人力资源和社会保障局",
    "issued_on": "2021-03-05",
}


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(session, action):
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def hr(make_user):
    return make_user("hr")[1]


@pytest.fixture
def registered(client, hr):
    response = client.post("/api/v1/people", json=PERSON, headers=hr)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _person(session, public_id) -> Person:
    return session.scalar(sa.select(Person).where(Person.public_id == public_id))


def test_registering_a_person(registered, session):
    assert registered["name"] == "王芳"
    assert registered["id_number_masked"] == NUMBER[:3] + "*" * 11 + NUMBER[-4:]
    assert "id_number" not in registered
    assert registered["experience"][0]["organization"] == "西湖区阳光托育园"
    person = _person(session, registered["id"])
    # Neither the number nor the name is in the row in clear.
    assert NUMBER.encode() not in person.id_number_enc + person.name_enc + person.id_index
    assert "王芳".encode() not in person.id_number_enc + person.name_enc
    assert [e.subject for e in _events(session, "person.registered")] == [f"person:{person.id}"]
    # Addressed by 128 random bits, never by the row id, which counts up.
    assert len(registered["id"]) == 32 and registered["id"] != str(person.id)


@pytest.mark.parametrize(
    "typed",
    [
        NUMBER.lower(),
        " ".join(NUMBER),
        "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in NUMBER),  # full-width
    ],
    ids=["lower-x", "spaces", "full-width"],
)
def test_the_same_number_typed_otherwise_is_409_with_the_existing_id(
    client, hr, session, registered, typed
):
    response = client.post("/api/v1/people", json={**PERSON, "id_number": typed}, headers=hr)
    assert response.status_code == 409
    assert response.get_json()["id"] == registered["id"]
    assert _count(session, Person) == 1


def test_a_legacy_15_digit_number_is_the_same_person(client, hr):
    legacy = "110105491231002"
    first = client.post("/api/v1/people", json={**PERSON, "id_number": legacy}, headers=hr)
    assert first.status_code == 201
    upgraded = "11010519491231002" + "X"
    again = client.post("/api/v1/people", json={**PERSON, "id_number": upgraded}, headers=hr)
    assert again.status_code == 409 and again.get_json()["id"] == first.get_json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id_number": NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")}, "id_number"),
        ({"education": "kindergarten"}, "education"),
        ({"name": "  "}, "name"),
        ({"experience": [{**PERSON["experience"][0], "field": "sales"}]}, "experience"),
        ({"experience": [{**PERSON["experience"][0], "end": "2018-01-01"}]}, "experience"),
        ({"experience": [{**PERSON["experience"][0], "start": "2023-02-30"}]}, "experience"),
    ],
    ids=["check-character", "education", "empty-name", "field", "end-before-start", "no-such-date"],
)
def test_bad_input_names_the_field_and_writes_nothing(client, hr, session, change, field):
    response = client.post("/api/v1/people", json={**PERSON, **change}, headers=hr)
    assert response.status_code == 422
    body = response.get_json()
    assert field in body["errors"], body
    assert _count(session, Person) == 0
    if field == "experience":
        messages = repr(body["errors"]["experience"])
        assert "0" in messages


def test_the_check_character_error_says_what_it_should_be(client, hr):
    wrong = NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")
    body = client.post("/api/v1/people", json={**PERSON, "id_number": wrong}, headers=hr).get_json()
    assert f"应为 {NUMBER[-1]}" in body["errors"]["id_number"][0]
    assert wrong not in repr(body)  # the number is not echoed


@pytest.mark.parametrize("role", ["director", "inspector"])
def test_directors_and_inspectors_do_not_register_people(
    client, make_user, make_institution, session, role
):
    _, headers = make_user(role, make_institution() if role == "director" else None)
    assert client.post("/api/v1/people", json=PERSON, headers=headers).status_code == 403
    assert _count(session, Person) == 0


# -- certificates ----------------------------------------------------------------------


def _add(client, headers, person_id, **change):
    return client.post(
        f"/api/v1/people/{person_id}/certificates", json={**CERTIFICATE, **change}, headers=headers
    )


def test_a_certificate_by_its_chinese_name(client, hr, registered, session):
    response = _add(client, hr, registered["id"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["kind_name"], body["level"]) == ("childcare_worker", "保育师", "4")
    assert body["number"] == "CW20210001"  # spaces removed
    assert body["state"] == "valid" and body["expires_on"] is None
    certificate = session.get(Certificate, body["id"])
    assert [c.action for c in certificate.changes] == ["issued"]


def test_a_health_certificate_gets_the_legal_validity(client, hr, registered):
    body = _add(
        client, hr, registered["id"], kind="健康证明", level=None, issued_on="2026-01-10"
    ).get_json()
    assert body["kind"] == "health_certificate"
    assert body["expires_on"] == "2027-01-09"  # the day before the examination's anniversary


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "厨师证"}, "kind"),
        ({"level": "六级"}, "level"),
        ({"kind": "保安员证", "level": "三级"}, "level"),
        ({"issued_on": "2021-02-29"}, "issued_on"),
        ({"issued_on": (clock.today() + timedelta(days=1)).isoformat()}, "issued_on"),
        ({"expires_on": "2021-03-04"}, "expires_on"),
        ({"number": ""}, "number"),
    ],
    ids=[
        "unknown-kind",
        "unknown-level",
        "level-on-levelless",
        "no-such-date",
        "future",
        "expires-before",
        "no-number",
    ],
)
def test_bad_certificates_name_the_field_and_write_nothing(
    client, hr, registered, session, change, field
):
    response = _add(client, hr, registered["id"], **change)
    assert response.status_code == 422
    assert field in response.get_json()["errors"], response.get_json()
    assert _count(session, Certificate) == 0


def test_a_number_already_recorded_for_the_issuer_is_409(client, hr, registered, session):
    first = _add(client, hr, registered["id"]).get_json()
    again = _add(client, hr, registered["id"], number="cw20210001".upper(), kind="childcare_worker")
    assert again.status_code == 409 and again.get_json()["id"] == first["id"]
    assert _count(session, Certificate) == 1
    other_issuer = _add(client, hr, registered["id"], issuer="宁波市人力资源和社会保障局")
    assert other_issuer.status_code == 201


def test_certificates_for_nobody_are_404(client, hr):
    assert _add(client, hr, 999_999).status_code == 404
    assert _add(client, hr, 2**40).status_code == 404  # no overflow in the driver


def test_revoking_keeps_the_row_and_its_history(client, make_user, hr, registered, session):
    certificate = _add(client, hr, registered["id"]).get_json()
    _, bureau = make_user("bureau")
    url = f"/api/v1/certificates/{certificate['id']}/revoke"
    response = client.post(
        url, json={"reason": "以欺骗手段取得", "revoked_on": "2024-01-01"}, headers=bureau
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "revoked" and body["revoked_reason"] == "以欺骗手段取得"
    row = session.get(Certificate, certificate["id"])
    assert [c.action for c in row.changes] == ["issued", "revoked"]
    assert _events(session, "certificate.revoked")[0].data["reason"] == "以欺骗手段取得"
    again = client.post(url, json={"reason": "again"}, headers=bureau)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": "x", "revoked_on": "2020-01-01"}, "revoked_on")],
)
def test_a_revocation_needs_a_reason_and_a_date_after_issue(
    client, hr, registered, session, body, field
):
    certificate = _add(client, hr, registered["id"]).get_json()
    response = client.post(
        f"/api/v1/certificates/{certificate['id']}/revoke", json=body, headers=hr
    )
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert session.get(Certificate, certificate["id"]).status == "valid"


def test_directors_do_not_revoke(client, hr, make_user, make_institution, registered):
    certificate = _add(client, hr, registered["id"]).get_json()
    _, director = make_user("director", make_institution())
    response = client.post(
        f"/api/v1/certificates/{certificate['id']}/revoke", json={"reason": "x"}, headers=director
    )
    assert response.status_code == 403


def test_a_renewal_is_a_new_row_naming_the_old(client, hr, registered, session):
    old = _add(
        client,
        hr,
        registered["id"],
        kind="护士执业证书",
        level=None,
        number="N1",
        issued_on="2019-05-01",
    ).get_json()
    assert old["expires_on"] == "2024-05-01"  # five years (护士条例)
    response = client.post(
        f"/api/v1/certificates/{old['id']}/renewals",
        json={"number": "N2", "issued_on": "2024-04-20"},
        headers=hr,
    )
    assert response.status_code == 201, response.get_json()
    new = response.get_json()
    assert new["replaces_id"] == old["id"] and new["kind"] == "nurse_license"
    assert new["issuer"] == CERTIFICATE["issuer"] and new["expires_on"] == "2029-04-20"
    assert session.get(Certificate, old["id"]).expires_on == date(2024, 5, 1)  # unchanged
    actions = session.scalars(
        sa.select(CertificateChange.action).order_by(CertificateChange.id)
    ).all()
    assert actions == ["issued", "renewed"]


def test_a_renewal_before_the_original_is_refused(client, hr, registered, session):
    old = _add(client, hr, registered["id"]).get_json()
    response = client.post(
        f"/api/v1/certificates/{old['id']}/renewals",
        json={"number": "N2", "issued_on": "2020-01-01"},
        headers=hr,
    )
    assert response.status_code == 422 and "issued_on" in response.get_json()["errors"]
    assert _count(session, Certificate) == 1


# -- lookup -----------------------------------------------------------------------------


def test_a_director_looks_up_qualifications_never_bans(
    client, hr, make_user, make_institution, registered, session
):
    _add(client, hr, registered["id"])
    _add(
        client, hr, registered["id"], kind="健康证", level=None, number="H1", issued_on="2020-01-01"
    )
    _, director = make_user("director", make_institution())
    response = client.post(
        "/api/v1/people/lookup", json={"id_number": NUMBER.lower()}, headers=director
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (
        body["name"] == "王芳"
        and body["education"] == "junior_college"
        and body["major"] == "学前教育"
    )
    assert len(body["experience"]) == 1
    states = {c["kind"]: c["state"] for c in body["certificates"]}
    assert states == {"childcare_worker": "valid", "health_certificate": "expired"}
    assert "barred" not in repr(body) and "ban" not in body
    event = _events(session, "person.looked_up")[0]
    assert (
        event.subject == f"person:{_person(session, registered['id']).id}"
        and event.actor.startswith("director")
    )


def test_an_unknown_number_is_404_and_still_audited(client, hr, session):
    response = client.post("/api/v1/people/lookup", json={"id_number": id_number(77)}, headers=hr)
    assert response.status_code == 404
    event = _events(session, "person.looked_up")[0]
    assert (
        event.subject.startswith("index:") and id_number(77) not in repr(event.data) + event.subject
    )


def test_lookup_shows_states_on_a_date(client, hr, registered):
    _add(
        client, hr, registered["id"], kind="健康证", level=None, number="H1", issued_on="2020-01-01"
    )
    body = client.post(
        "/api/v1/people/lookup", json={"id_number": NUMBER, "as_of": "2020-06-01"}, headers=hr
    ).get_json()
    assert [c["state"] for c in body["certificates"]] == ["valid"]


def test_experience_added_later(client, hr, registered, session):
    response = client.post(
        f"/api/v1/people/{registered['id']}/experience",
        json={
            "experience": [
                {
                    "field": "health",
                    "organization": "社区卫生服务中心",
                    "start": "2015-01-01",
                    "end": "2017-12-31",
                }
            ]
        },
        headers=hr,
    )
    assert response.status_code == 201, response.get_json()
    assert len(_person(session, registered["id"]).experience) == 2


def test_a_passport_holder_is_registered_with_the_type_named(client, hr):
    body = {**PERSON, "id_number": "e 1234 5678", "id_type": "passport"}
    response = client.post("/api/v1/people", json=body, headers=hr)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id_type"] == "passport"
    again = client.post("/api/v1/people", json={**body, "id_number": "E12345678"}, headers=hr)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": "9999-12-31"}, "experience"),
        ({"start": (clock.today() + timedelta(days=1)).isoformat(), "end": None}, "experience"),
    ],
    ids=["far-future", "future"],
)
def test_experience_cannot_start_in_the_future(client, hr, session, change, field):
    body = {**PERSON, "experience": [{**PERSON["experience"][0], **change}]}
    response = client.post("/api/v1/people", json=body, headers=hr)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert _count(session, Person) == 0


def test_the_same_issuer_and_number_typed_otherwise_is_one_certificate(client, hr, registered):
    first = _add(client, hr, registered["id"], issuer="杭州市 人力资源和社会保障局", number="ab-01")
    assert first.status_code == 201 and first.get_json()["issuer"] == CERTIFICATE["issuer"]
    again = _add(
        client, hr, registered["id"], issuer="杭州市人力资源和社会保障局", number="ＡＢ-01"
    )
    assert again.status_code == 409 and again.get_json()["id"] == first.get_json()["id"]


def test_a_certificate_is_renewed_once(client, hr, registered):
    old = _add(client, hr, registered["id"]).get_json()
    url = f"/api/v1/certificates/{old['id']}/renewals"
    first = client.post(url, json={"number": "R1", "issued_on": "2024-03-05"}, headers=hr)
    assert first.status_code == 201
    second = client.post(url, json={"number": "R2", "issued_on": "2024-03-06"}, headers=hr)
    assert second.status_code == 409 and second.get_json()["id"] == first.get_json()["id"]


def test_directors_do_not_see_why_a_certificate_was_revoked(
    client, hr, make_user, make_institution, registered
):
    certificate = _add(client, hr, registered["id"]).get_json()
    reason = "因虐待儿童被终身禁入"
    client.post(
        f"/api/v1/certificates/{certificate['id']}/revoke", json={"reason": reason}, headers=hr
    )
    _, director = make_user("director", make_institution())
    seen = client.post(
        "/api/v1/people/lookup", json={"id_number": NUMBER}, headers=director
    ).get_json()
    assert seen["certificates"][0]["state"] == "revoked" and reason not in repr(seen)
    bureau_view = client.post(
        "/api/v1/people/lookup", json={"id_number": NUMBER}, headers=hr
    ).get_json()
    assert bureau_view["certificates"][0]["revoked_reason"] == reason
