"""POST /imports, GET /imports/{id} and its errors.csv."""

import csv
import io

import pytest
import sqlalchemy as sa

from registry.credentials.models import Certificate
from registry.people.models import Person
from tests.imports.test_services import good_rows, write_csv, write_xlsx


def upload(client, headers, path, **form):
    data = {"file": (io.BytesIO(path.read_bytes()), path.name), **form}
    return client.post(
        "/api/v1/imports", data=data, headers=headers, content_type="multipart/form-data"
    )


def count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("role", ["hr", "bureau"])
def test_upload_accepted_then_status(client, session, make_user, tmp_path, role):
    _, headers = make_user(role)
    response = upload(client, headers, write_xlsx(tmp_path / "名册.xlsx", good_rows(3)))
    assert response.status_code == 201, response.json
    body = response.json
    assert {k: body[k] for k in ("rows", "accepted", "unchanged", "rejected", "errors")} == {
        "rows": 3,
        "accepted": 3,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
    }
    assert (body["status"], body["filename"]) == ("accepted", "名册.xlsx")
    assert count(session, Certificate) == 3
    status = client.get(f"/api/v1/imports/{body['batch_id']}", headers=headers)
    assert status.status_code == 200 and status.json == body


def test_rejected_upload_is_422_with_the_summary_and_the_report(
    client, session, make_user, tmp_path
):
    _, headers = make_user("hr")
    rows = good_rows(3)
    rows[1][1] = "11010519900101001"  # 17 characters
    rows[2][4] = ""
    response = upload(client, headers, write_csv(tmp_path / "roll.csv", rows))
    assert response.status_code == 422
    body = response.json
    assert body["code"] == "import_rejected" and "nothing was written" in body["message"]
    assert (body["rows"], body["accepted"], body["rejected"]) == (3, 0, 2)
    assert [(e["row"], e["column"], e["header"]) for e in body["errors"]] == [
        (3, "id_number", "身份证号"),
        (4, "certificate_no", "证书编号"),
    ]
    assert (count(session, Certificate), count(session, Person)) == (0, 0)

    status = client.get(f"/api/v1/imports/{body['batch_id']}", headers=headers)
    assert status.json["status"] == "rejected" and len(status.json["errors"]) == 2
    report = client.get(f"/api/v1/imports/{body['batch_id']}/errors.csv", headers=headers)
    assert report.status_code == 200
    assert report.mimetype == "text/csv"
    assert report.data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "表头", "问题"]
    assert [line[:3] for line in lines[1:]] == [
        ["3", "id_number", "身份证号"],
        ["4", "certificate_no", "证书编号"],
    ]


def test_partial_and_dry_run_form_fields(client, session, make_user, tmp_path):
    _, headers = make_user("hr")
    rows = good_rows(3)
    rows[2][2] = "厨师证"
    path = write_csv(tmp_path / "roll.csv", rows, "utf-8-sig")
    dry = upload(client, headers, path, dry_run="true", partial="true")
    assert dry.status_code == 201 and (dry.json["dry_run"], dry.json["accepted"]) == (True, 2)
    assert count(session, Certificate) == 0
    partial = upload(client, headers, path, partial="true")
    assert partial.status_code == 201
    assert (partial.json["status"], partial.json["accepted"], partial.json["rejected"]) == (
        "partial",
        2,
        1,
    )
    assert count(session, Certificate) == 2


def test_roles_missing_file_unusable_file_and_unknown_batch(
    client, make_user, tmp_path, make_institution
):
    institution = make_institution()
    _, director = make_user("director", institution=institution)
    path = write_csv(tmp_path / "roll.csv", good_rows(1))
    assert upload(client, director, path).status_code == 403
    assert client.get("/api/v1/imports/1", headers=director).status_code == 403
    assert client.post("/api/v1/imports", data={}).status_code == 401
    _, headers = make_user("hr")
    missing = client.post(
        "/api/v1/imports", data={}, headers=headers, content_type="multipart/form-data"
    )
    assert missing.status_code == 422 and "file" in missing.json["errors"]
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    unusable = upload(client, headers, tmp_path / "old.xls")
    assert unusable.status_code == 422 and unusable.json["code"] == "unusable_file"
    assert client.get("/api/v1/imports/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/imports/999999/errors.csv", headers=headers).status_code == 404


def test_over_the_size_limit_is_413(app, client, make_user, tmp_path, monkeypatch):
    _, headers = make_user("hr")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    rows = good_rows(1) * 40
    response = upload(client, headers, write_csv(tmp_path / "roll.csv", rows))
    assert response.status_code == 413
    assert response.json["code"] == "too_large"


def test_a_published_notice_upload_says_what_changed_and_how_it_was_read(
    client, make_user, tmp_path
):
    from tests.imports.test_notices import IGNORED, notice_rows
    from tests.imports.test_notices import write_xls as write_notice

    _, headers = make_user("hr")
    response = upload(client, headers, write_notice(tmp_path / "名单公示.xls", notice_rows()))
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["created"], body["updated"], body["people_created"]) == (5, 0, 5)
    assert (body["header_row"], body["sheet"], body["ignored_columns"]) == (4, "名单", IGNORED)
    assert (body["skipped"], body["skipped_rows"]) == (3, [11, 13, 14])
    status = client.get(f"/api/v1/imports/{body['batch_id']}", headers=headers)
    assert status.json == body
    png = tmp_path / "名单.xls"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    refused = upload(client, headers, png)
    assert refused.status_code == 422 and refused.json["code"] == "unusable_file"
    assert "PNG" in refused.json["message"]
