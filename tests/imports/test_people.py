"""People and rolls: a person created by a roll is found by name and completed later."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry import clock
from registry.audit import AuditEvent
from registry.identity import parse_identity
from registry.people.models import Person
from tests.conftest import id_number
from tests.imports.test_services import ISSUER, write_csv
from tests.imports.test_views import upload

PERIOD = {
    "field": "childcare",
    "organization": "西湖区阳光托育园",
    "management": False,
    "start": "2019-09-01",
    "end": "2023-06-30",
}
WRONG, RIGHT = 1, 2


@pytest.fixture
def hr(make_user):
    return make_user("hr")[1]


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _certificate(i, name, number, kind="保育师", level="四级"):
    return [name, id_number(i), kind, level, number, ISSUER, "2021-03-05", ""]


# ------------------------------------------------------------------ found by name


def test_people_created_by_a_roll_are_found_by_name(client, hr, session, tmp_path):
    rows = [
        _certificate(11, "阿依古丽·买买提", "C-0011"),  # U+00B7, the usual middle dot
        _certificate(12, "王芳", "C-0012"),
        _certificate(13, "阿依古丽", "C-0013"),
    ]
    response = upload(client, hr, write_csv(tmp_path / "roll.csv", rows, "utf-8-sig"))
    assert response.status_code == 201 and response.get_json()["people_created"] == 3

    def search(name):
        response = client.post("/api/v1/people/search", json={"name": name}, headers=hr)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["people"]

    created = {p.id_index: p.id for p in session.scalars(sa.select(Person))}
    assert len(created) == 3
    # Typed with another middle dot (U+2022, and the Japanese one with spaces about it).
    for typed in ("阿依古丽•买买提", "阿依古丽 ・ 买买提"):
        found = search(typed)
        assert [(p["name"], p["id_number_masked"]) for p in found] == [
            ("阿依古丽·买买提", parse_identity(id_number(11)).masked)
        ]
    [wang] = search("王芳")
    assert wang["id_number_masked"] == parse_identity(id_number(12)).masked
    assert search("王方") == []
    [aygul] = found
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "person.searched").order_by(AuditEvent.id)
    )
    assert [e.data["found"] for e in events] == [[aygul["id"]], [aygul["id"]], [wang["id"]], []]
    assert aygul["id"] in created.values() and wang["id"] in created.values()


def test_a_caregiver_created_from_a_roll_becomes_eligible_once_completed(
    client, hr, make_user, session, tmp_path
):
    number = id_number(7)
    examined = (clock.today() - timedelta(days=30)).isoformat()
    rows = [
        ["李娜", number, "保育人员岗位培训合格证", "", "PX-0001", ISSUER, "2021-03-05", ""],
        ["李娜", number, "健康证", "", "HC-0001", ISSUER, examined, ""],
        ["李娜", number, "保育师", "四级", "CW-0001", ISSUER, "2021-03-05", ""],
    ]
    assert upload(client, hr, write_csv(tmp_path / "roll.csv", rows)).status_code == 201
    person = session.scalar(sa.select(Person))
    assert person.education is None and person.name_index is not None  # from the roll

    _, bureau = make_user("bureau")
    question = {"id_number": number, "role": "caregiver"}
    before = client.post("/api/v1/eligibility", json=question, headers=bureau).get_json()
    assert before["eligible"] is False
    assert {r["rule"] for r in before["reasons"] if not r["ok"]} == {"background"}

    body = {"reason": "补录学历与工作经历", "education": "secondary_vocational"}
    response = client.patch(
        f"/api/v1/people/{person.id}", json=body | {"experience": [PERIOD]}, headers=hr
    )
    assert response.status_code == 200, response.get_json()
    after = client.post("/api/v1/eligibility", json=question, headers=bureau).get_json()
    assert after["eligible"] is True, after["reasons"]
