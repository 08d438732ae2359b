"""People and rolls: a person created by a roll is found by name and completed later;
a number merged into another record (a wrong number) is refused in a later roll."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import clock
from registry.audit import AuditEvent
from registry.auth.models import SystemActor
from registry.credentials.models import Certificate
from registry.identity import parse_identity
from registry.imports import services, staging
from registry.people.models import Person
from registry.people.services import merge_people
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


@pytest.fixture
def importer(app, session):
    def run(path, **options):
        with app.app_context():
            return services.run_import(session, SystemActor("test"), path, **options)

    return run


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

    created = {p.public_id: p.id for p in session.scalars(sa.select(Person))}
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
    # The audit log keeps the records' row ids; the API names them by public id.
    aygul_row, wang_row = created[aygul["id"]], created[wang["id"]]
    assert [e.data["found"] for e in events] == [[aygul_row], [aygul_row], [wang_row], []]
    # Each created by the roll got a public id of its own, made by the database.
    assert len(set(created)) == 3 and all(len(p) == 32 for p in created)


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
        f"/api/v1/people/{person.public_id}", json=body | {"experience": [PERIOD]}, headers=hr
    )
    assert response.status_code == 200, response.get_json()
    after = client.post("/api/v1/eligibility", json=question, headers=bureau).get_json()
    assert after["eligible"] is True, after["reasons"]


# ------------------------------------------------------------ a merged number


@pytest.fixture
def merged(run, make_person):
    """The row ids of the record under the wrong number and of the right one it was
    merged into, and the right one's public id."""
    wrong = make_person(WRONG, name="王芳", education=None)
    right = make_person(RIGHT, name="王芳")
    result = run(
        "people",
        "merge",
        "--from",
        wrong.public_id,
        "--into",
        right.public_id,
        "--reason",
        "号码有误",
    )
    assert result.exit_code == 0, result.output
    return wrong.id, right.id, right.public_id


def _merged_error(summary_errors, row, right_public_id):
    [error] = [e for e in summary_errors if e["row"] == row]
    assert (error["column"], error["header"]) == ("id_number", "身份证号")
    assert error["message"].startswith("该证件号码的记录已作为错误号码合并到记录")
    assert f"记录 {right_public_id}" in error["message"]
    assert "correct the number" in error["message"]
    return error


def test_a_merged_number_in_a_later_roll_rejects_the_row(session, importer, merged, tmp_path):
    _, _, right_public_id = merged
    rows = [_certificate(WRONG, "王芳", "C-0001"), _certificate(3, "李娜", "C-0003")]
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    assert (summary.status, summary.accepted, summary.rejected) == ("rejected", 0, 1)
    assert [e["row"] for e in summary.errors] == [2]
    _merged_error(summary.errors, 2, right_public_id)
    assert (_count(session, Certificate), _count(session, Person)) == (0, 2)


def test_with_partial_the_other_rows_are_imported(client, hr, session, merged, tmp_path):
    wrong_id, right_id, right_public_id = merged
    rows = [_certificate(3, "李娜", "C-0003"), _certificate(WRONG, "王 芳", "C-0001")]
    response = upload(client, hr, write_csv(tmp_path / "roll.csv", rows), partial="true")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["accepted"], body["rejected"], body["people_created"]) == (1, 1, 1)
    _merged_error(body["errors"], 3, right_public_id)
    owners = session.scalars(sa.select(Certificate.person_id)).all()
    assert wrong_id not in owners and right_id not in owners and len(owners) == 1


def test_a_record_merged_while_the_roll_is_read_is_refused_at_the_merge(
    app, session, importer, make_person, tmp_path, monkeypatch
):
    """The wrong number's row was matched to its record while staging; the record is
    merged by another writer before the import merges: the check under the lock finds it."""
    wrong = make_person(WRONG, name="王芳", education=None)
    right = make_person(RIGHT, name="王芳")
    session.commit()
    monkeypatch.setattr(staging, "BATCH_ROWS", 2)
    engine = app.extensions["registry.engine"]

    def merge_after_the_first_batch(rows, read):
        if rows == 2:
            with app.app_context(), Session(engine) as other:
                source, target = other.get(Person, wrong.id), other.get(Person, right.id)
                merge_people(other, SystemActor("test"), source, target, "号码有误")
                other.commit()

    rows = [_certificate(WRONG, "王芳", "C-0001")] + [
        _certificate(i, f"张{i}", f"C-{i:04d}") for i in range(3, 6)
    ]
    summary = importer(write_csv(tmp_path / "roll.csv", rows), progress=merge_after_the_first_batch)
    assert summary.status == "rejected"
    assert [e["row"] for e in summary.errors] == [2]
    _merged_error(summary.errors, 2, right.public_id)
    assert _count(session, Certificate) == 0
    assert session.get(Person, wrong.id).merged_into_id == right.id
