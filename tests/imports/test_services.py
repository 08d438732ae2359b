"""Importing rolls written here for real (GBK and UTF-8-BOM CSV, XLSX) into the test
database: all or nothing, idempotent, the cross-row checks, --partial and --dry-run."""

import io
import threading
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.orm import Session

from registry.audit import AuditEvent
from registry.auth.models import SystemActor
from registry.credentials.models import Certificate, CertificateChange
from registry.credentials.services import add_certificate, revoke
from registry.db import get_session
from registry.identity import parse_identity
from registry.imports import services, staging
from registry.imports.models import ImportBatch, ImportRowError
from registry.people.models import Person
from registry.people.services import find_person, name_of, register_person
from tests.conftest import id_number

HEADERS = ["姓名", "身份证号", "证书名称", "等级", "证书编号", "发证机构", "发证日期", "有效期至"]
ISSUER = "杭州市人力资源和社会保障局"


def row(i, name=None, kind="保育师", level="四级", number=None, issued="2021-03-05", expires=""):
    return [
        name or f"张{i}",
        id_number(i),
        kind,
        level,
        number or f"C{i:05d}",
        ISSUER,
        issued,
        expires,
    ]


def good_rows(n=3, start=0):
    rows = [row(start + i) for i in range(n)]
    rows[0][2:4] = ["健康证", ""]  # a kind with a legal validity: a year from the examination
    return rows


def write_csv(path, rows, encoding="gbk", headers=HEADERS):
    lines = [",".join(headers)] + [",".join(r) for r in rows]
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode(encoding))
    return path


def write_xlsx(path, rows, headers=HEADERS):
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for r in rows:
        sheet.append(r)
    book.save(path)
    return path


@pytest.fixture
def importer(app, session):
    """Runs an import in the test's transaction and returns its summary."""

    def run(path, **options):
        with app.app_context():
            return services.run_import(session, SystemActor("test"), path, **options)

    return run


def count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def errors_by_row(summary):
    return {(e["row"], e["column"]): e for e in summary.errors}


# ------------------------------------------------------------------------ accepted


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_good_csv_roll_is_accepted_whole(app, session, importer, tmp_path, encoding):
    path = write_csv(tmp_path / "roll.csv", good_rows(3), encoding)
    summary = importer(path)
    assert summary.as_dict() == {
        "batch_id": summary.batch_id,
        "rows": 3,
        "accepted": 3,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
        "created": 3,
        "updated": 0,
        "updated_fields": {},
        "people_created": 3,
        "header_row": 1,
        "sheet": None,
        "ignored_columns": [],
        "skipped": 0,
        "skipped_rows": [],
    }
    assert summary.status == "accepted"
    with app.app_context():
        person = find_person(session, parse_identity(id_number(1)))
        assert name_of(person) == "张1"
        assert person.education is None
    certificates = session.scalars(sa.select(Certificate).order_by(Certificate.number)).all()
    assert [(c.kind, c.level, c.number, c.issuer) for c in certificates] == [
        ("health_certificate", None, "C00000", ISSUER),
        ("childcare_worker", "4", "C00001", ISSUER),
        ("childcare_worker", "4", "C00002", ISSUER),
    ]
    assert certificates[0].expires_on == date(2022, 3, 4)  # the day before the anniversary
    assert certificates[1].expires_on is None
    assert {c.import_batch_id for c in certificates} == {summary.batch_id}
    changes = session.scalars(sa.select(CertificateChange).order_by(CertificateChange.id)).all()
    assert [(c.certificate_id, c.action, c.import_batch_id) for c in changes] == [
        (c.id, "issued", summary.batch_id) for c in certificates
    ]
    assert changes[0].changes["expires_on"] == "2022-03-04"
    assert changes[1].changes["level"] == "4"
    batch = session.get(ImportBatch, summary.batch_id)
    assert (batch.filename, batch.status, batch.rows, batch.accepted) == (
        "roll.csv",
        "accepted",
        3,
        3,
    )
    assert len(batch.sha256) == 64
    event = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.subject) == ("import.accepted", f"import:{summary.batch_id}")
    assert event.data["sha256"] == batch.sha256
    assert "张1" not in str(event.data) and id_number(1) not in str(event.data)


def test_xlsx_with_date_cells_and_an_existing_person(app, session, importer, tmp_path, make_person):
    make_person(1, name="张1")
    rows = good_rows(2)
    rows[1][6] = datetime(2022, 5, 6)  # a date cell
    rows[1][7] = "2027年5月5日"
    summary = importer(write_xlsx(tmp_path / "roll.xlsx", rows))
    assert (summary.accepted, summary.rejected) == (2, 0)
    assert count(session, Person) == 2  # 张1 was registered already
    certificate = session.scalars(
        sa.select(Certificate).where(Certificate.number == "C00001")
    ).one()
    assert (certificate.issued_on, certificate.expires_on) == (date(2022, 5, 6), date(2027, 5, 5))


def test_reimport_changes_nothing(session, importer, tmp_path):
    path = write_csv(tmp_path / "roll.csv", good_rows(3))
    importer(path)
    people, certificates, changes = (
        count(session, Person),
        count(session, Certificate),
        count(session, CertificateChange),
    )
    summary = importer(path)
    assert (summary.rows, summary.accepted, summary.unchanged) == (3, 0, 3)
    assert (count(session, Person), count(session, Certificate)) == (people, certificates)
    assert count(session, CertificateChange) == changes


def test_overlapping_roll_updates_the_changed_row_only(session, importer, tmp_path):
    importer(write_csv(tmp_path / "first.csv", good_rows(3)))
    rows = good_rows(4)
    rows[2][7] = "2030-01-01"  # a new expiry
    summary = importer(write_csv(tmp_path / "second.csv", rows, "utf-8-sig"))
    assert (summary.rows, summary.accepted, summary.unchanged, summary.rejected) == (4, 2, 2, 0)
    updated = session.scalars(sa.select(Certificate).where(Certificate.number == "C00002")).one()
    assert updated.expires_on == date(2030, 1, 1)
    assert updated.import_batch_id != summary.batch_id  # created by the first import
    change = session.scalars(
        sa.select(CertificateChange).where(CertificateChange.action == "updated")
    ).one()
    assert change.certificate_id == updated.id
    assert change.import_batch_id == summary.batch_id
    assert change.changes == {"expires_on": {"from": None, "to": "2030-01-01"}}


def test_identical_repeated_rows_are_merged_once(session, importer, tmp_path):
    rows = good_rows(2)
    rows.append(list(rows[1]))
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    assert (summary.rows, summary.accepted, summary.unchanged) == (3, 2, 1)
    assert count(session, Certificate) == 2


def test_a_revoked_certificate_stays_revoked(app, session, importer, tmp_path):
    importer(write_csv(tmp_path / "roll.csv", good_rows(2)))
    certificate = session.scalars(
        sa.select(Certificate).where(Certificate.number == "C00001")
    ).one()
    with app.app_context():
        revoke(session, SystemActor("test"), certificate, "forged", date(2023, 1, 1))
    rows = good_rows(2)
    rows[1][7] = "2030-01-01"
    summary = importer(write_csv(tmp_path / "again.csv", rows))
    assert (summary.accepted, summary.unchanged) == (0, 2)
    certificate = session.get(Certificate, certificate.id)  # the import closed the session
    assert (certificate.status, certificate.expires_on) == ("revoked", None)


# ------------------------------------------------------------------------ rejected


def test_a_bad_row_rejects_the_file_and_nothing_is_written(session, importer, tmp_path):
    rows = good_rows(3)
    rows[1][1] = rows[1][1][:-1] + ("0" if rows[1][1][-1] != "0" else "1")  # check digit
    rows[2][6] = "2021-02-30"
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    assert (summary.status, summary.rows, summary.accepted, summary.rejected) == (
        "rejected",
        3,
        0,
        2,
    )
    found = errors_by_row(summary)
    assert set(found) == {(3, "id_number"), (4, "issued_on")}
    assert found[(3, "id_number")]["header"] == "身份证号"
    assert "2021-02-30" in found[(4, "issued_on")]["message"]
    assert (count(session, Person), count(session, Certificate)) == (0, 0)
    assert count(session, ImportRowError) == 2
    event = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "import.rejected"


def test_missing_columns_are_errors_of_the_header_row(session, importer, tmp_path):
    path = write_csv(tmp_path / "roll.csv", [r[:4] for r in good_rows(2)], headers=HEADERS[:4])
    summary = importer(path)
    assert summary.status == "rejected"
    assert {(e["row"], e["column"]) for e in summary.errors} == {
        (1, "certificate_no"),
        (1, "issuer"),
        (1, "issued_on"),
    }
    assert count(session, Certificate) == 0


def test_same_certificate_twice_with_different_data(session, importer, tmp_path):
    rows = good_rows(3)
    rows[2][4] = rows[1][4]  # row 4 claims row 3's certificate for another person
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    assert summary.status == "rejected"
    error = errors_by_row(summary)[(4, "certificate_no")]
    assert error["header"] == "证书编号"
    assert "第3行" in error["message"] and "row 3" in error["message"]
    assert "证件号码" in error["message"]
    assert "第4行" in errors_by_row(summary)[(3, "certificate_no")]["message"]  # both rows
    assert summary.rejected == 2
    assert count(session, Certificate) == 0


def test_same_number_with_different_names(session, importer, tmp_path):
    rows = good_rows(3)
    rows[2][1] = rows[1][1]  # row 4: row 3's number under another name
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    error = errors_by_row(summary)[(4, "id_number")]
    assert "第3行" in error["message"] and error["header"] == "身份证号"
    assert count(session, Person) == 0


def test_partial_keeps_both_rows_of_a_conflict_out_even_when_one_fails_otherwise(
    session, importer, tmp_path
):
    """Row 5 and row 8 give one number under two names; row 5 also has a bad date. The
    conflict is found all the same, and neither name is stored."""
    rows = [row(i) for i in range(8)]
    rows[3][6] = "2021-02-30"  # row 5 fails for another reason
    rows[6][1] = rows[3][1]  # row 8: row 5's number under another name
    summary = importer(write_csv(tmp_path / "roll.csv", rows), partial=True)
    found = errors_by_row(summary)
    assert (5, "issued_on") in found
    assert "第8行" in found[(5, "id_number")]["message"]
    assert "第5行" in found[(8, "id_number")]["message"]
    assert (summary.status, summary.accepted, summary.rejected) == ("partial", 6, 2)
    assert count(session, Person) == 6
    assert session.scalar(sa.select(sa.func.count()).where(Certificate.number == "C00006")) == 0


def test_a_certificate_on_a_failed_row_keeps_its_valid_twin_out(session, importer, tmp_path):
    rows = [row(i) for i in range(4)]
    rows[3][4] = rows[1][4]  # row 5 gives row 3's certificate ...
    rows[3][2] = "厨师证"  # ... and cannot be read as a whole
    summary = importer(write_csv(tmp_path / "roll.csv", rows), partial=True)
    found = errors_by_row(summary)
    assert "第5行" in found[(3, "certificate_no")]["message"]
    assert "第3行" in found[(5, "certificate_no")]["message"]
    assert (summary.accepted, summary.rejected) == (2, 2)
    assert session.scalar(sa.select(sa.func.count()).where(Certificate.number == "C00001")) == 0


def test_number_registered_under_another_name(session, importer, tmp_path, make_person):
    make_person(1, name="李四")
    summary = importer(write_csv(tmp_path / "roll.csv", good_rows(3)))
    error = errors_by_row(summary)[(3, "id_number")]
    assert "另一个姓名" in error["message"] and "李四" not in error["message"]
    assert "张1" in error["message"]  # the row's own name, not the registered one
    assert count(session, Certificate) == 0


def test_certificate_recorded_for_another_person(app, session, importer, tmp_path, make_person):
    other = make_person(7, name="王五")
    certificate = {"kind": "childcare_worker", "level": None, "number": "C00001"}
    certificate |= {"issuer": ISSUER, "issued_on": date(2020, 1, 1), "expires_on": None}
    with app.app_context():
        add_certificate(session, SystemActor("test"), other, certificate)
    rows = good_rows(2)  # row 3 has C00001 for 张1
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    error = errors_by_row(summary)[(3, "certificate_no")]
    assert "另一人" in error["message"] and "王五" not in error["message"]
    assert count(session, Certificate) == 1


# ------------------------------------------------------------- partial and dry run


def test_partial_writes_the_good_rows_and_reports_the_rest(session, importer, tmp_path):
    rows = good_rows(4)
    rows[2][6] = "明天"
    summary = importer(write_csv(tmp_path / "roll.csv", rows), partial=True)
    assert (summary.status, summary.accepted, summary.rejected) == ("partial", 3, 1)
    assert [e["row"] for e in summary.errors] == [4]
    assert count(session, Certificate) == 3
    assert count(session, Person) == 3
    assert count(session, ImportRowError) == 1


def test_dry_run_writes_no_person_and_no_certificate(session, importer, tmp_path):
    summary = importer(write_csv(tmp_path / "roll.csv", good_rows(3)), dry_run=True)
    assert (summary.status, summary.accepted, summary.unchanged) == ("accepted", 3, 0)
    assert (count(session, Person), count(session, Certificate)) == (0, 0)
    assert session.get(ImportBatch, summary.batch_id).dry_run


def test_an_unusable_file_raises_and_records_nothing(session, importer, tmp_path):
    with pytest.raises(services.UnusableFile):
        importer(tmp_path / "nothing.csv")
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    with pytest.raises(services.UnusableFile):
        importer(path)
    assert count(session, ImportBatch) == 0


def test_an_upload_stream_is_read_and_hashed(session, importer, tmp_path):
    data = write_csv(tmp_path / "roll.csv", good_rows(2)).read_bytes()
    summary = importer(io.BytesIO(data), filename="上传.csv")
    batch = session.get(ImportBatch, summary.batch_id)
    import hashlib

    assert (batch.filename, batch.sha256) == ("上传.csv", hashlib.sha256(data).hexdigest())


def test_many_rows_in_several_batches(session, importer, tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "BATCH_ROWS", 7)
    rows = [row(i) for i in range(30)]
    rows[25][2] = "厨师证"  # an unknown certificate in the fourth batch
    done = []
    summary = importer(
        write_csv(tmp_path / "roll.csv", rows),
        partial=True,
        progress=lambda rows, read: done.append((rows, round(read, 2))),
    )
    assert [rows for rows, _ in done] == [7, 14, 21, 28, 30]
    fractions = [read for _, read in done]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert (summary.rows, summary.accepted, summary.rejected) == (30, 29, 1)
    assert summary.errors[0]["row"] == 27


@pytest.mark.parametrize("registered_as, accepted", [("张0", True), ("李四", False)])
def test_a_person_registered_during_the_import_is_checked_before_the_merge(
    make_app, scratch_database_url, tmp_path, monkeypatch, registered_as, accepted
):
    """Row 0's number is registered by another writer after its batch was staged: the
    checks under the merge's lock find it, and take the person when the names agree,
    reject the file when they do not."""
    from tests.test_concurrency import _live_app

    app, _ = _live_app(make_app, scratch_database_url)
    monkeypatch.setattr(staging, "BATCH_ROWS", 2)
    engine = app.extensions["registry.engine"]

    def register_row_0(rows, read):
        if rows == 2:  # another connection, committed, as another request would
            with app.app_context(), Session(engine) as other:
                data = {
                    "identity": parse_identity(id_number(0)),
                    "name": registered_as,
                    "education": "senior_high",
                }
                register_person(other, SystemActor("test"), data)
                other.commit()

    path = write_csv(tmp_path / "roll.csv", good_rows(4))
    with app.app_context():
        session = get_session()
        summary = services.run_import(session, SystemActor("test"), path, progress=register_row_0)
        assert count(session, Person) == (4 if accepted else 1)
        if accepted:
            assert (summary.status, summary.accepted) == ("accepted", 4)
            person = find_person(session, parse_identity(id_number(0)))
            certificates = sa.select(sa.func.count()).where(Certificate.person_id == person.id)
            assert session.scalar(certificates) == 1
        else:
            assert summary.status == "rejected"
            assert [(e["row"], e["column"]) for e in summary.errors] == [(2, "id_number")]
            assert summary.rejected == 1


# --------------------------------------------------------------- the write lock


@pytest.mark.parametrize("started_by", ["command", "request"])
def test_sqlite_staging_does_not_hold_the_write_lock(
    make_app, scratch_database_url, tmp_path, monkeypatch, started_by
):
    """While a file is read and validated, other writers go on (SQLite's one write lock
    is taken only by the short merge at the end), whether a command or a request (whose
    own transactions take the lock at their first write) started the import."""
    from tests.test_concurrency import _live_app

    if not scratch_database_url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    app, headers = _live_app(make_app, scratch_database_url)
    client = app.test_client()
    statuses = []

    def post_person():
        # Another thread: its own app context and session, as another request would be.
        body = {"id_number": id_number(900), "name": "王芳", "education": "senior_high"}
        statuses.append(client.post("/api/v1/people", json=body, headers=headers).status_code)

    def write_meanwhile(rows, read):
        if rows == 7:  # inside the first batch's transaction of the stage
            writer = threading.Thread(target=post_person)
            writer.start()
            writer.join()

    # A row with an error in the first batch: staging writes it (to a temporary table).
    rows = [row(i) for i in range(10)] + [row(10, issued="2021-02-30")]
    rows.insert(3, rows.pop())
    path = write_csv(tmp_path / "roll.csv", rows)
    monkeypatch.setattr(staging, "BATCH_ROWS", 7)
    context = (
        app.test_request_context("/", method="POST")
        if started_by == "request"
        else app.app_context()
    )
    with context:
        summary = services.run_import(
            get_session(), SystemActor("test"), path, progress=write_meanwhile, partial=True
        )
    # The stage's transaction stays open until the writer has finished: had the stage
    # held the write lock, the writer would have waited for it and given up (503).
    assert statuses == [201]
    assert (summary.accepted, summary.rejected) == (10, 1)
