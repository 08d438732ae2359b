"""A wrong identity number: merging the record under it into the right one."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.bans.models import BanCheck
from registry.credentials.models import Certificate
from registry.db import utcnow
from registry.people.models import Person, PersonChange
from registry.staffing.models import Employment
from tests.conftest import id_number

WRONG, RIGHT = id_number(1), id_number(2)
PERIOD = {
    "field": "childcare",
    "organization": "西湖区阳光托育园",
    "management": False,
    "start": date(2019, 9, 1),
    "end": date(2023, 6, 30),
}


def _employ(session, person, institution, role="caregiver", start=date(2024, 1, 1), end=None):
    employment = Employment(
        person_id=person.id,
        institution_id=institution.id,
        role=role,
        start=start,
        end=end,
        declaration_at=utcnow(),
    )
    session.add(employment)
    session.flush()
    return employment


@pytest.fixture
def pair(make_person):
    """The record under the wrong number (from a roll: no education) and the right one."""
    wrong = make_person(
        1,
        name="王芳",
        education=None,
        experience=[PERIOD],
        certificates=[("childcare_worker", date(2021, 3, 5))],
    )
    right = make_person(2, name="王 芳", education="junior_college", major=None)
    return wrong, right


def _merge(run, source, target, *more):
    args = ["people", "merge", "--from", source.public_id, "--into", target.public_id]
    return run(*args, "--reason", "身份证号码录入错误", *more)


def test_a_merge_moves_everything_and_keeps_the_merged_record(
    run, session, pair, make_institution, client, make_user
):
    wrong, right = pair
    institution = make_institution()
    employment = _employ(session, wrong, institution)
    assert run("bans", "check", "--id-number", WRONG).exit_code == 0  # a check of the wrong number

    result = _merge(run, wrong, right)
    assert result.exit_code == 0, result.output
    assert "证书 1" in result.output and "任职 1" in result.output and "核查 1" in result.output
    session.expire_all()
    wrong, right = session.get(Person, wrong.id), session.get(Person, right.id)
    assert wrong.merged_into_id == right.id
    assert session.scalar(sa.select(Certificate.person_id)) == right.id
    assert session.get(Employment, employment.id).person_id == right.id
    assert session.scalar(sa.select(BanCheck.id_index)) == right.id_index
    assert [e.organization for e in right.experience] == ["西湖区阳光托育园"]
    assert right.education == "junior_college"  # its own, kept

    _, bureau = make_user("bureau")
    history = client.get(f"/api/v1/people/{right.public_id}/history", headers=bureau).get_json()
    assert [(h["person_id"], h["action"]) for h in history] == [
        (right.public_id, "merged"),
        (wrong.public_id, "merged_into"),
    ]
    merged = next(h for h in history if h["action"] == "merged")
    assert merged["other_person_id"] == wrong.public_id and merged["reason"] == "身份证号码录入错误"
    assert merged["changes"]["certificates"] == [session.scalar(sa.select(Certificate.id))]
    # The merged record is still there, and says where it went.
    shown = client.get(f"/api/v1/people/{wrong.public_id}", headers=bureau).get_json()
    assert shown["merged_into"] == right.public_id and shown["certificates"] == []
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "person.merged"))
    assert event.subject == f"person:{right.id}" and event.data["from"] == wrong.id

    # The wrong number finds nobody now; the right one has the certificate and the check.
    lookup = client.post("/api/v1/people/lookup", json={"id_number": WRONG}, headers=bureau)
    assert lookup.status_code == 404
    found = client.post("/api/v1/people/lookup", json={"id_number": RIGHT}, headers=bureau)
    assert [c["kind"] for c in found.get_json()["certificates"]] == ["childcare_worker"]
    checks = client.post("/api/v1/ban-checks/for-person", json={"id_number": RIGHT}, headers=bureau)
    assert len(checks.get_json()) == 1


def test_a_merge_fills_what_the_right_record_lacks(run, session, make_person):
    wrong = make_person(1, name="王芳", education="bachelor", major="学前教育")
    right = make_person(2, name="王芳", education=None, major=None)
    assert _merge(run, wrong, right).exit_code == 0
    session.expire_all()
    assert (session.get(Person, right.id).education, session.get(Person, right.id).major) == (
        "bachelor",
        "学前教育",
    )


def test_overlapping_employments_in_the_same_role_are_refused(run, session, pair, make_institution):
    wrong, right = pair
    institution = make_institution()
    _employ(session, wrong, institution, start=date(2024, 1, 1))
    _employ(session, right, institution, start=date(2025, 3, 1))
    result = _merge(run, wrong, right)
    assert result.exit_code == 1 and "重叠" in result.output and "caregiver" in result.output
    session.expire_all()
    assert session.get(Person, wrong.id).merged_into_id is None
    assert session.scalar(sa.select(sa.func.count()).select_from(PersonChange)) == 0
    # Ended before the other began: no overlap, merged.
    session.execute(
        sa.update(Employment).where(Employment.person_id == wrong.id).values(end=date(2025, 2, 28))
    )
    assert _merge(run, wrong, right).exit_code == 0


def test_names_that_differ_need_saying_so(run, session, make_person):
    wrong = make_person(1, name="王芳")
    right = make_person(2, name="李娜")
    result = _merge(run, wrong, right)
    assert result.exit_code == 1 and "姓名不同" in result.output
    assert "王芳" not in result.output and "李娜" not in result.output
    assert _merge(run, wrong, right, "--names-differ").exit_code == 0


def test_a_record_is_merged_once_and_never_into_itself(run, session, pair):
    wrong, right = pair
    result = _merge(run, wrong, wrong)
    assert result.exit_code == 1 and "from" in result.output
    assert _merge(run, wrong, right).exit_code == 0
    again = _merge(run, wrong, right)
    assert again.exit_code == 1 and "已并入" in again.output
    into_merged = _merge(run, right, wrong)
    assert into_merged.exit_code == 1


def test_a_merged_number_registered_again_names_the_right_record(run, client, pair, make_user):
    wrong, right = pair
    assert _merge(run, wrong, right).exit_code == 0
    _, hr = make_user("hr")
    body = {"id_number": WRONG, "name": "王芳", "education": "bachelor"}
    response = client.post("/api/v1/people", json=body, headers=hr)
    assert response.status_code == 409 and response.get_json()["id"] == right.public_id


def test_a_merged_record_is_not_corrected(run, client, pair, make_user):
    wrong, right = pair
    assert _merge(run, wrong, right).exit_code == 0
    _, hr = make_user("hr")
    response = client.patch(
        f"/api/v1/people/{wrong.public_id}",
        json={"reason": "r", "education": "bachelor"},
        headers=hr,
    )
    assert response.status_code == 409 and response.get_json()["id"] == right.public_id


def test_the_bureau_merges_through_the_api(client, session, pair, make_user):
    wrong, right = pair
    _, hr = make_user("hr")
    body = {"into": right.public_id, "reason": "身份证号码录入错误"}
    assert (
        client.post(f"/api/v1/people/{wrong.public_id}/merge", json=body, headers=hr).status_code
        == 403
    )
    _, bureau = make_user("bureau")
    missing = client.post(
        f"/api/v1/people/{wrong.public_id}/merge", json={"into": right.public_id}, headers=bureau
    )
    assert missing.status_code == 422 and "reason" in missing.get_json()["errors"]
    response = client.post(f"/api/v1/people/{wrong.public_id}/merge", json=body, headers=bureau)
    assert response.status_code == 200, response.get_json()
    assert [c["kind"] for c in response.get_json()["certificates"]] == ["childcare_worker"]
