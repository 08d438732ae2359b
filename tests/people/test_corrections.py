"""Correcting people: PATCH /people/{id}, the history it keeps, and `registry people correct`."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.people.models import Experience, Person, PersonChange
from tests.conftest import id_number

PERIOD = {
    "field": "childcare",
    "organization": "西湖区阳光托育园",
    "management": False,
    "start": "2019-09-01",
    "end": "2023-06-30",
}


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(session, action):
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def hr(make_user):
    return make_user("hr")[1]


@pytest.fixture
def person(make_person):
    return make_person(1, name="王芳", education="senior_high", experience=[])


def _patch(client, headers, person_id, **body):
    return client.patch(f"/api/v1/people/{person_id}", json=body, headers=headers)


def test_a_correction_changes_the_values_and_keeps_the_ones_before(client, hr, session, person):
    response = _patch(
        client,
        hr,
        person.public_id,
        reason="按毕业证书更正",
        name="王 芳芳",
        education="junior_college",
        major="学前教育",
        experience=[PERIOD],
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["name"], body["education"], body["major"]) == (
        "王 芳芳",
        "junior_college",
        "学前教育",
    )
    assert [e["organization"] for e in body["experience"]] == ["西湖区阳光托育园"]
    assert body["updated_at"] is not None

    history = client.get(f"/api/v1/people/{person.public_id}/history", headers=hr).get_json()
    assert len(history) == 1
    entry = history[0]
    assert (entry["action"], entry["reason"], entry["previous_name"]) == (
        "corrected",
        "按毕业证书更正",
        "王芳",
    )
    assert entry["changes"]["education"] == {"from": "senior_high", "to": "junior_college"}
    assert entry["changes"]["major"] == {"from": None, "to": "学前教育"}
    added = entry["changes"]["experience"][0]
    assert added["from"] is None and added["to"]["start"] == "2019-09-01"
    assert added["id"] == body["experience"][0]["id"]
    # The name before is kept encrypted, never in clear.
    row = session.get(PersonChange, entry["id"])
    assert "王芳".encode() not in row.previous_name_enc
    event = _events(session, "person.corrected")[0]
    assert event.subject == f"person:{person.id}" and event.data["history_id"] == entry["id"]
    assert "王芳" not in repr(event.data) and "按毕业证书" not in repr(event.data)


def test_a_period_is_corrected_and_removed_by_its_id(client, hr, session, make_person):
    person = make_person(2, experience=[{**PERIOD, "start": date(2019, 9, 1), "end": None}])
    period_id = person.experience[0].id
    response = _patch(
        client,
        hr,
        person.public_id,
        reason="结束日期漏填",
        experience=[{"id": period_id, "end": "2022-01-31"}],
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["experience"][0]["end"] == "2022-01-31"
    entry = client.get(f"/api/v1/people/{person.public_id}/history", headers=hr).get_json()[0]
    change = entry["changes"]["experience"][0]
    assert (change["from"]["end"], change["to"]["end"]) == (None, "2022-01-31")

    removed = _patch(client, hr, person.public_id, reason="误录", remove_experience=[period_id])
    assert removed.status_code == 200 and removed.get_json()["experience"] == []
    history = client.get(f"/api/v1/people/{person.public_id}/history", headers=hr).get_json()
    assert history[1]["changes"]["experience"][0]["from"]["organization"] == "西湖区阳光托育园"
    assert _count(session, Experience) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"education": "bachelor"}, "reason"),
        ({"reason": "  ", "education": "bachelor"}, "reason"),
        ({"reason": "r", "education": "phd"}, "education"),
        (
            {"reason": "r", "experience": [{"organization": "x", "start": "2020-01-01"}]},
            "experience",
        ),
        ({"reason": "r", "experience": [{**PERIOD, "field": "cooking"}]}, "experience"),
        ({"reason": "r", "experience": [{**PERIOD, "end": "2010-01-01"}]}, "experience"),
        ({"reason": "r", "name": ""}, "name"),
        ({"reason": "r", "education": "senior_high"}, None),  # nothing changes
        ({"reason": "r", "experience": [{"id": 999999, "end": "2020-01-01"}]}, "experience.0.id"),
        ({"reason": "r", "remove_experience": [999999]}, "remove_experience.0"),
    ],
)
def test_a_bad_correction_is_422_naming_the_field_and_changes_nothing(
    client, hr, session, person, body, field
):
    response = client.patch(f"/api/v1/people/{person.public_id}", json=body, headers=hr)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == "invalid"
    if field is None:
        assert "nothing to correct" in response.get_json()["message"]
    else:
        assert field in response.get_json()["errors"]
    session.expire_all()
    assert session.get(Person, person.id).education == "senior_high"
    assert _count(session, PersonChange) == 0 and _count(session, Experience) == 0
    assert _events(session, "person.corrected") == []


def test_a_period_cannot_end_before_its_recorded_start(client, hr, session, make_person):
    person = make_person(2, experience=[{**PERIOD, "start": date(2019, 9, 1), "end": None}])
    period_id = person.experience[0].id
    response = _patch(
        client,
        hr,
        person.public_id,
        reason="r",
        experience=[{"id": period_id, "end": "2019-08-31"}],
    )
    assert response.status_code == 422 and "experience.0.end" in response.get_json()["errors"]
    session.expire_all()
    assert session.get(Experience, period_id).end is None


def test_a_period_removed_twice_in_one_correction_is_named_and_nothing_changes(
    client, hr, session, make_person
):
    person = make_person(2, experience=[{**PERIOD, "start": date(2019, 9, 1), "end": None}])
    period_id = person.experience[0].id
    response = _patch(client, hr, person.public_id, reason="r", remove_experience=[period_id] * 3)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert "remove_experience.1" in errors and "remove_experience.0" not in errors
    assert "重复" in errors["remove_experience.1"][0]
    session.expire_all()
    assert _count(session, Experience) == 1 and _count(session, PersonChange) == 0


def test_a_person_holds_no_more_periods_than_a_request_may_send(client, hr, session, person):
    """The document caps ``experience`` at 50 items, in answers too: adding past it is a
    422, so no answer ever holds more."""
    periods = [{**PERIOD, "start": f"20{n:02d}-01-01", "end": None} for n in range(10)]
    path = f"/api/v1/people/{person.public_id}/experience"
    for _ in range(5):
        assert client.post(path, json={"experience": periods}, headers=hr).status_code == 201
    over = client.post(path, json={"experience": periods[:1]}, headers=hr)
    assert over.status_code == 422 and "experience" in over.get_json()["errors"]
    corrected = _patch(client, hr, person.public_id, reason="r", experience=periods[:1])
    assert corrected.status_code == 422 and "experience" in corrected.get_json()["errors"]
    session.expire_all()
    assert _count(session, Experience) == 50 and _count(session, PersonChange) == 0


def test_an_unknown_person_is_404(client, hr):
    response = _patch(client, hr, 999999, reason="r", education="bachelor")
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


@pytest.mark.parametrize("role", ["director", "inspector", "admin"])
def test_only_the_bureau_and_hr_correct_and_read_the_history(
    client, make_user, make_institution, person, role
):
    _, headers = make_user(role, make_institution() if role == "director" else None)
    assert (
        _patch(client, headers, person.public_id, reason="r", education="bachelor").status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/people/{person.public_id}/history", headers=headers).status_code == 403
    )


def test_the_command_corrects_too(run, session, person):
    result = run(
        "people",
        "correct",
        "--id",
        person.public_id,
        "--reason",
        "按毕业证书更正",
        "--education",
        "bachelor",
        "--experience",
        '[{"field": "education", "organization": "杭州市第一幼儿园", "start": "2015-09-01"}]',
    )
    assert result.exit_code == 0, result.output
    session.expire_all()
    corrected = session.get(Person, person.id)
    assert corrected.education == "bachelor"
    assert [e.organization for e in corrected.experience] == ["杭州市第一幼儿园"]
    assert session.scalar(sa.select(PersonChange.actor)).startswith("cli")


def test_the_command_finds_the_person_by_number_from_stdin(run, session, person):
    result = run(
        "people",
        "correct",
        "--id-number",
        "-",
        "--reason",
        "r",
        "--major",
        "护理",
        input=id_number(1) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert id_number(1) not in result.output
    session.expire_all()
    assert session.get(Person, person.id).major == "护理"


def test_the_command_refuses_bad_input_naming_the_field(run, session, person):
    result = run(
        "people", "correct", "--id", person.public_id, "--reason", "r", "--education", "phd"
    )
    assert result.exit_code == 2  # not a choice
    result = run(
        "people", "correct", "--id", person.public_id, "--reason", "r", "--experience", "[{"
    )
    assert result.exit_code == 1 and "experience" in result.output
    result = run("people", "correct", "--id", person.public_id, "--education", "bachelor")
    assert result.exit_code == 2 and "reason" in result.output
    assert _count(session, PersonChange) == 0
