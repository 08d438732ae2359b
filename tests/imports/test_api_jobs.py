"""Large rolls through the API: 202 and a background job, its progress and summary at
GET /imports/jobs/{id}, and a restart in the middle leaving nothing written."""

import dataclasses
import os
import stat
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.credentials.models import Certificate
from registry.imports import jobs
from registry.imports.models import ImportBatch, ImportJob
from registry.people.models import Person
from tests.imports.conftest import restart, rows_in
from tests.imports.test_limits import _long_string
from tests.imports.test_services import good_rows, write_csv
from tests.imports.test_views import upload


def count(session, model):
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def small_threshold(app, monkeypatch):
    """Files over 200 bytes go to the background (a roll of three rows is more)."""
    settings = app.extensions["registry.settings"]
    changed = dataclasses.replace(settings, import_background_bytes=200)
    monkeypatch.setitem(app.extensions, "registry.settings", changed)


@pytest.fixture
def launched(monkeypatch):
    """Jobs the API launched, held back: (job id, path) to run as the thread would."""
    held = []
    monkeypatch.setattr(jobs, "launch", lambda app, job_id, path: held.append((job_id, path)))
    return held


def _uploads(app):
    folder = Path(app.instance_path) / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_large_roll_is_a_job_answered_202_then_its_summary(
    app, client, session, make_user, tmp_path, small_threshold
):
    _, headers = make_user("hr")
    response = upload(client, headers, write_csv(tmp_path / "名册.csv", good_rows(3)))
    assert response.status_code == 202, response.json
    job = response.json
    assert response.headers["Location"] == f"/api/v1/imports/jobs/{job['job_id']}"
    assert (job["status"], job["filename"], job["summary"]) == ("running", "名册.csv", None)
    # The real thread runs it; the client polls as a client would.
    deadline = time.monotonic() + 120
    while (polled := client.get(response.headers["Location"], headers=headers).json)[
        "status"
    ] == "running":
        assert time.monotonic() < deadline, polled
        time.sleep(0.05)
    assert polled["status"] == "done", polled
    assert (polled["rows_done"], polled["permille"]) == (3, 1000)
    summary = polled["summary"]
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("accepted", 3, 0)
    batch = client.get(f"/api/v1/imports/{polled['batch_id']}", headers=headers).json
    assert summary == batch
    assert count(session, Certificate) == 3
    assert _uploads(app) == []  # the upload is gone once imported


def test_a_small_roll_is_still_answered_when_imported(client, session, make_user, tmp_path):
    _, headers = make_user("hr")
    path = write_csv(tmp_path / "roll.csv", good_rows(3))
    response = upload(client, headers, path, dry_run="true")
    assert response.status_code == 201 and response.json["dry_run"] is True
    assert count(session, ImportJob) == 0


def test_a_large_dry_run_and_a_rejected_roll_in_the_background(
    app, client, session, make_user, tmp_path, small_threshold, launched
):
    _, headers = make_user("hr")
    rows = good_rows(3)
    dry = upload(client, headers, write_csv(tmp_path / "roll.csv", rows), dry_run="true")
    rows[1][1] = "11010519900101001"  # 17 characters
    bad = upload(client, headers, write_csv(tmp_path / "bad.csv", rows))
    assert (dry.status_code, bad.status_code) == (202, 202)
    for job_id, path in launched:
        jobs.run_job(app, job_id, path)
    dry_job = client.get(dry.headers["Location"], headers=headers).json
    assert dry_job["dry_run"] is True
    assert (dry_job["summary"]["dry_run"], dry_job["summary"]["accepted"]) == (True, 3)
    bad_job = client.get(bad.headers["Location"], headers=headers).json
    assert bad_job["status"] == "done" and bad_job["summary"]["status"] == "rejected"
    assert bad_job["summary"]["errors"][0]["row"] == 3
    assert (count(session, Certificate), count(session, Person)) == (0, 0)


def test_a_workbook_over_its_limits_is_refused_at_upload_not_after_a_202(
    app, client, session, make_user, tmp_path, small_threshold, launched
):
    _, headers = make_user("hr")
    bomb = tmp_path / "名册.xlsx"
    bomb.write_bytes(_long_string(tmp_path, 100))
    response = upload(client, headers, bomb)
    assert response.status_code == 422 and response.json["code"] == "unusable_file"
    assert response.json["message"].startswith("工作簿的部件 xl/worksheets/sheet1.xml 压缩了")
    assert launched == [] and count(session, ImportJob) == 0 and _uploads(app) == []


def test_a_large_file_found_no_roll_only_when_read_fails_its_job_naming_the_problem(
    app, client, session, make_user, tmp_path, small_threshold, launched
):
    _, headers = make_user("hr")
    notes = tmp_path / "名册.csv"
    notes.write_text("会议纪要\n" + "今天讨论了托育园的排班。\n" * 50, encoding="utf-8")
    response = upload(client, headers, notes)
    assert response.status_code == 202
    [(job_id, path)] = launched
    jobs.run_job(app, job_id, path)
    failed = client.get(response.headers["Location"], headers=headers).json
    assert failed["status"] == "failed" and failed["summary"] is None
    assert "表头" in failed["message"]
    assert count(session, ImportBatch) == 0 and not path.exists()


def test_a_restart_mid_import_marks_the_api_job_failed_and_writes_nothing(
    app, client, session, make_user, tmp_path, small_threshold, launched, killed_mid_merge
):
    _, headers = make_user("hr")
    response = upload(client, headers, write_csv(tmp_path / "roll.csv", good_rows(3)))
    assert response.status_code == 202
    [(job_id, path)] = launched
    with pytest.raises(killed_mid_merge):
        jobs.run_job(app, job_id, path)
    assert client.get(response.headers["Location"], headers=headers).json["status"] == "running"
    # Written, and hidden: no read of the registry sees the roll's rows.
    assert (rows_in(session, Certificate), rows_in(session, Person)) == (3, 3)
    assert (count(session, Certificate), count(session, Person)) == (0, 0)
    # The server starts again: the merge is recovered, the job failed, nothing written.
    assert restart(app) == 1
    assert jobs.fail_interrupted(session) == 1
    session.commit()
    job = client.get(response.headers["Location"], headers=headers).json
    assert job["status"] == "failed" and "没有写入任何人员或证书" in job["message"]
    assert (rows_in(session, Certificate), rows_in(session, Person)) == (0, 0)
    [batch] = session.scalars(sa.select(ImportBatch)).all()
    assert (batch.status, batch.accepted) == ("interrupted", 0)


def test_jobs_are_not_found_by_another_number_and_need_a_role(client, make_user):
    _, hr = make_user("hr")
    assert client.get("/api/v1/imports/jobs/999", headers=hr).status_code == 404
    _, inspector = make_user("inspector")
    assert client.get("/api/v1/imports/jobs/999", headers=inspector).status_code == 403


def test_uploads_left_by_a_stop_or_never_imported_are_not_kept(tmp_path):
    folder = jobs.uploads_folder(tmp_path)
    fresh_preview, old_preview, api_upload = (folder / n for n in ("1-aa", "1-bb", "api-2-cc"))
    for path in (fresh_preview, old_preview, api_upload):
        path.write_text("110105199001010013,王芳")
    day_ago = time.time() - (jobs.UPLOAD_HOURS + 1) * 3600
    os.utime(old_preview, (day_ago, day_ago))
    assert jobs.forget_uploads(tmp_path) == 1  # what the pages do: the old preview
    assert sorted(p.name for p in folder.iterdir()) == ["1-aa", "api-2-cc"]
    assert jobs.forget_uploads(tmp_path, at_start=True) == 1  # a server's start: API ones too
    assert [p.name for p in folder.iterdir()] == ["1-aa"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
