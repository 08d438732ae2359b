"""The HR clerk's 名单导入 pages through the Flask test client: preview, import whole or
partial, the result with every error, errors.csv, and the forms' refusals."""

import io
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.credentials.models import Certificate
from registry.imports import jobs
from registry.imports.models import ImportBatch
from registry.people.models import Person
from tests.auth.conftest import csrf_of, sign_in
from tests.conftest import id_number
from tests.imports.conftest import restart, rows_in
from tests.imports.test_services import HEADERS, good_rows, write_csv

PASSWORD = "correct horse battery"


@pytest.fixture
def clerk(client, make_user):
    user, _ = make_user("hr", username="li.hr")
    assert sign_in(client, "li.hr", PASSWORD).location == "/hr/imports"
    return user


def count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def titled_roll(path, rows, encoding="gbk"):
    """A roll as bureaus publish it: a title line and a blank line above the header."""
    lines = ["2026年第三批保育师证书名单,,,,,,,", ",,,,,,,", ",".join(HEADERS)]
    lines += [",".join(r) for r in rows]
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode(encoding))
    return path


def preview(client, path):
    data = {
        "file": (io.BytesIO(path.read_bytes()), path.name),
        "csrf_token": csrf_of(client, "/hr/imports"),
    }
    return client.post("/hr/imports/preview", data=data, content_type="multipart/form-data")


def form_values(html):
    return dict(re.findall(r'name="(upload|filename)" value="([^"]*)"', html))


def test_preview_writes_nothing_then_import_writes_the_roll(client, session, clerk, tmp_path):
    rows = good_rows(3)
    response = preview(client, titled_roll(tmp_path / "名单.csv", rows))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "表头在第3行" in html and "尚未写入" in html
    assert "身份证号" in html and "证书编号" in html  # the column mapping
    assert (count(session, Certificate), count(session, Person)) == (0, 0)
    # The identity numbers are never shown on the page.
    assert id_number(0) not in html and id_number(1) not in html
    values = form_values(html)
    response = client.post(
        "/hr/imports/run",
        data={**values, "mode": "all", "csrf_token": csrf_of(client, "/hr/imports")},
    )
    assert response.status_code == 302
    batch = session.scalars(sa.select(ImportBatch).where(ImportBatch.dry_run.is_(False))).one()
    assert response.location == f"/hr/imports/{batch.id}"
    assert (batch.status, batch.filename, batch.accepted) == ("accepted", "名单.csv", 3)
    assert count(session, Certificate) == 3
    result = client.get(response.location).get_data(as_text=True)
    assert "已导入" in result and "新增证书 3" in result
    # The upload is gone: the same form cannot import it twice.
    again = client.post(
        "/hr/imports/run",
        data={**values, "mode": "all", "csrf_token": csrf_of(client, "/hr/imports")},
    )
    assert again.status_code == 422 and "重新选择文件" in again.get_data(as_text=True)
    assert count(session, Certificate) == 3


def test_preview_shows_errors_by_row_and_partial_writes_the_valid_rows(
    client, session, clerk, tmp_path
):
    rows = good_rows(4)
    rows[1][1] = "11010519900101001"  # 17 characters: spreadsheet row 5
    html = preview(client, titled_roll(tmp_path / "roll.csv", rows)).get_data(as_text=True)
    assert "第5行" in html and "身份证号" in html
    assert "仅导入无误的行" in html and 'value="all"' not in html
    response = client.post(
        "/hr/imports/run",
        data={**form_values(html), "mode": "partial", "csrf_token": csrf_of(client, "/hr/imports")},
    )
    batch_id = int(response.location.rsplit("/", 1)[1])
    assert session.get(ImportBatch, batch_id).status == "partial"
    assert count(session, Certificate) == 3
    result = client.get(response.location).get_data(as_text=True)
    assert "已部分导入" in result and "第5行" in result
    report = client.get(f"/hr/imports/{batch_id}/errors.csv")
    assert report.status_code == 200
    text = report.get_data().decode("utf-8")
    assert text.startswith("\ufeff行号,列,表头,问题") and "\r\n5,id_number,身份证号," in text


def test_the_result_page_lists_every_error_a_page_at_a_time(client, session, clerk, tmp_path):
    rows = good_rows(60)
    for r in rows:
        r[4] = ""  # no certificate number: 60 errors
    html = preview(client, write_csv(tmp_path / "roll.csv", rows)).get_data(as_text=True)
    batch_id = session.scalar(sa.select(sa.func.max(ImportBatch.id)))
    assert "共 60 条" in html
    first = client.get(f"/hr/imports/{batch_id}").get_data(as_text=True)
    assert "第 1 / 2 页" in first and "第2行" in first and "第61行" not in first
    second = client.get(f"/hr/imports/{batch_id}?page=2").get_data(as_text=True)
    assert "第61行" in second and "第2行<" not in second


def test_a_file_that_is_no_roll_is_shown_beside_the_field(client, session, clerk, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("只是一段说明文字\n没有表头\n", encoding="utf-8")
    response = preview(client, path)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="field-error"' in html
    assert count(session, ImportBatch) == 0


def test_no_file_chosen(client, clerk):
    response = client.post(
        "/hr/imports/preview",
        data={"csrf_token": csrf_of(client, "/hr/imports")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "请选择名单文件" in response.get_data(as_text=True)


def test_another_users_upload_cannot_be_imported(client, app, session, make_user, tmp_path):
    make_user("hr", username="li.hr")
    make_user("hr", username="wang.hr")
    sign_in(client, "li.hr", PASSWORD)
    html = preview(client, write_csv(tmp_path / "roll.csv", good_rows(2))).get_data(as_text=True)
    other = app.test_client()
    sign_in(other, "wang.hr", PASSWORD)
    response = other.post(
        "/hr/imports/run",
        data={**form_values(html), "mode": "all", "csrf_token": csrf_of(other, "/hr/imports")},
    )
    assert response.status_code == 422
    assert count(session, Certificate) == 0


@pytest.mark.parametrize("role", ["director", "inspector"])
def test_other_roles_are_refused(client, make_user, make_institution, role):
    institution = make_institution() if role == "director" else None
    make_user(role, institution=institution, username="someone")
    sign_in(client, "someone", PASSWORD)
    response = client.get("/hr/imports")
    assert response.status_code == 403 and "无权" in response.get_data(as_text=True)


def test_an_unknown_batch_is_a_page_in_the_layout(client, clerk):
    response = client.get("/hr/imports/999999")
    assert response.status_code == 404 and "没有这个导入批次" in response.get_data(as_text=True)


# ---------------------------------------------------------------- in the background


def test_a_background_job_records_its_progress_and_batch(app, client, session, clerk, tmp_path):
    path = write_csv(tmp_path / "big.csv", good_rows(3))
    job = jobs.start_job(session, clerk, "big.csv", partial=False)
    session.commit()  # as the request that starts it does, before the job runs
    jobs.run_job(app, job.id, path)
    session.refresh(job)
    assert (job.status, job.rows_done, job.permille) == ("done", 3, 1000)
    assert session.get(ImportBatch, job.batch_id).accepted == 3
    assert not path.exists()  # the upload is removed once imported
    response = client.get(f"/hr/imports/jobs/{job.id}")
    assert response.location == f"/hr/imports/{job.batch_id}"


def test_a_running_job_page_reloads_itself_and_shows_rows_done(client, session, clerk):
    job = jobs.start_job(session, clerk, "big.csv", partial=False)
    job.rows_done, job.permille = 5000, 420
    session.flush()
    html = client.get(f"/hr/imports/jobs/{job.id}").get_data(as_text=True)
    assert 'data-poll-seconds="2"' in html and "poll.js" in html
    assert "已处理 5000 行" in html and "42%" in html


def test_a_restart_mid_import_writes_nothing_and_marks_the_job_failed(
    app, client, session, clerk, tmp_path, killed_mid_merge
):
    path = write_csv(tmp_path / "big.csv", good_rows(3))
    job = jobs.start_job(session, clerk, "big.csv", partial=False)
    session.commit()  # as the request that starts it does, before the job runs
    with pytest.raises(killed_mid_merge):
        jobs.run_job(app, job.id, path)
    session.expire_all()
    assert session.get(type(job), job.id).status == "running"
    assert (rows_in(session, Certificate), rows_in(session, Person)) == (3, 3)
    assert (count(session, Certificate), count(session, Person)) == (0, 0)  # hidden
    batch_id = session.scalar(sa.select(ImportBatch.id))
    assert "正在写入" in client.get(f"/hr/imports/{batch_id}").get_data(as_text=True)
    # The server starts again: the merge's rows removed, the job marked failed.
    assert restart(app) == 1
    assert jobs.fail_interrupted(session) == 1
    html = client.get(f"/hr/imports/jobs/{job.id}").get_data(as_text=True)
    assert "没有写入任何人员或证书" in html and "poll.js" not in html
    html = client.get(f"/hr/imports/{batch_id}").get_data(as_text=True)
    assert "导入中断" in html and "请重新导入该文件" in html
    assert (rows_in(session, Certificate), rows_in(session, Person)) == (0, 0)
    assert session.scalars(sa.select(ImportBatch.status)).all() == ["interrupted"]
    assert not path.exists()


def test_a_job_whose_worker_died_is_failed_when_its_page_is_read(client, session, clerk):
    job = jobs.start_job(session, clerk, "big.csv", partial=False)
    job.pid = _dead_pid()
    session.flush()
    html = client.get(f"/hr/imports/jobs/{job.id}").get_data(as_text=True)
    assert "服务器重启" in html
    session.refresh(job)
    assert job.status == "failed"


def test_jobs_of_another_host_are_left_alone(session, clerk):
    job = jobs.start_job(session, clerk, "big.csv", partial=False)
    job.host = "another-server"
    session.flush()
    assert jobs.fail_interrupted(session) == 0
    assert job.status == "running"


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])  # noqa: S607
    process.wait()
    return process.pid


def test_uploads_previewed_a_day_ago_and_never_imported_are_removed(app, client, clerk, tmp_path):
    folder = Path(app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    old, recent = folder / f"{clerk.id}-{'0' * 32}", folder / f"{clerk.id}-{'1' * 32}"
    old.write_bytes(b"x")
    recent.write_bytes(b"x")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    preview(client, write_csv(tmp_path / "roll.csv", good_rows(1)))
    assert not old.exists() and recent.exists()
