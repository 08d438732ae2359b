"""Rolls imported in the background from the web page or the API (a file that takes more
than a few seconds), so that the clerk's page, or a client polling
``GET /api/v1/imports/jobs/{id}``, can see how far the import got; never inside a
request that the server could time out.

The upload is already saved in the instance folder; a thread of the server's worker
runs the same ``run_import`` in an app context and a session of its own, writing the
rows read to the job's row (``ImportJob``) as it goes, and the batch it made at the end.

A restart in the middle (the server stopped, the worker killed) cannot leave half a
roll: what a cut-off merge wrote stays hidden until it is removed (``turns.recover``),
and the batch is marked ``interrupted``. The job row is then left ``running``;
``registry serve`` marks every such job of its host ``failed`` before it starts, and
a page that finds a running job whose process is gone does the same.

Like ``run_import``, the thread's code commits itself: it runs outside any request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from flask import after_this_request, current_app
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.errors import NotFound
from registry.messages import _

from . import readers, services
from .models import ImportJob
from .turns import alive, this_host

log = logging.getLogger(__name__)

INTERRUPTED = "导入被服务器重启打断，没有写入任何人员或证书；请重新导入该文件。"
BROKEN = "导入因系统错误而中止，没有写入任何人员或证书；请重新导入或联系管理员。"


def start_job(
    session: Session, user, filename: str, partial: bool, dry_run: bool = False
) -> ImportJob:
    """The job's row, ``running`` in this process (the caller commits, then launches)."""
    job = ImportJob(
        user_id=user.id,
        filename=filename,
        partial=partial,
        dry_run=dry_run,
        status="running",
        host=this_host(),
        pid=os.getpid(),
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(_("no import job with id {job_id}", job_id=job_id))
    if job.status == "running" and job.host == this_host() and not alive(job.pid):
        _fail(job, INTERRUPTED)  # its worker is gone: the page's answer commits this
    return job


def fail_interrupted(session: Session, *, host: str | None = None) -> int:
    """Mark every job still ``running`` on this host ``failed`` (at the server's
    start, none of them can be running any more); returns how many."""
    jobs = session.scalars(
        sa.select(ImportJob).where(
            ImportJob.status == "running", ImportJob.host == (host or this_host())
        )
    ).all()
    for job in jobs:
        _fail(job, INTERRUPTED)
    session.flush()
    return len(jobs)


def _fail(job: ImportJob, message: str) -> None:
    job.status, job.message, job.finished_at = "failed", message, utcnow()


# An upload previewed on the pages and never imported is removed after this many hours.
UPLOAD_HOURS = 24


def uploads_folder(instance_path) -> Path:
    """``<instance>/uploads``, where an upload waits for its preview's import or its job:
    only the registry's user may read it (an upload holds identity numbers)."""
    folder = Path(instance_path) / "uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def forget_uploads(instance_path, *, at_start: bool = False) -> int:
    """Remove the uploads previewed more than ``UPLOAD_HOURS`` ago and never imported;
    at a server's start also every API upload (``api-…``), whose job the stop ended.
    How many were removed."""
    cutoff, removed = time.time() - UPLOAD_HOURS * 3600, 0
    for path in uploads_folder(instance_path).iterdir():
        with contextlib.suppress(OSError):  # another worker removed it first
            if (at_start and path.name.startswith("api-")) or path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def start_in_background(
    session: Session, user, path: Path, filename: str, partial: bool, dry_run: bool = False
) -> ImportJob:
    """A large upload's import, from a request: refused at once (``UnusableFile``, the
    file deleted) when it is no roll or a workbook over its limits, which its zip
    directory and a streamed scan tell without expanding it; otherwise the job's row,
    and the import in a thread of this worker once the request has committed that row
    (the thread deletes the file)."""
    try:
        readers.check_file(path)
    except readers.UnusableFile:
        path.unlink(missing_ok=True)
        raise
    job = start_job(session, user, filename, partial, dry_run)
    app, job_id = current_app._get_current_object(), job.id

    @after_this_request
    def _launch(response):
        if response.status_code < 400:  # the job's row was committed
            launch(app, job_id, path)
        else:
            path.unlink(missing_ok=True)
        return response

    return job


def launch(app, job_id: int, path: Path) -> None:
    """Run the job in a thread of this worker (not forked: a web worker had better not)."""
    thread = threading.Thread(
        target=run_job, args=(app, job_id, path), name=f"import-{job_id}", daemon=True
    )
    thread.start()


def run_job(app, job_id: int, path: Path) -> None:
    """Import the job's file and record the outcome on the job; never raises."""
    factory = app.extensions["registry.sessionmakers"]["write"]
    with app.app_context():
        session = factory()
        try:
            job = session.get(ImportJob, job_id)
            if job is None:  # its request's transaction did not commit after all
                return
            actor, filename, partial, dry_run = job.user, job.filename, job.partial, job.dry_run

            def progress(rows: int, read: float) -> None:
                with factory() as note:
                    note.execute(
                        sa.update(ImportJob)
                        .where(ImportJob.id == job_id)
                        .values(rows_done=rows, permille=min(int(read * 1000), 1000))
                    )
                    note.commit()

            try:
                summary = services.run_import(
                    session,
                    actor,
                    path,
                    filename,
                    partial=partial,
                    dry_run=dry_run,
                    progress=progress,
                )
            except services.UnusableFile as exc:
                outcome = {"status": "failed", "message": exc.message}
            except Exception:
                log.exception("import job %s failed", job_id)
                outcome = {"status": "failed", "message": BROKEN}
            else:
                outcome = {"status": "done", "batch_id": summary.batch_id, "permille": 1000}
                outcome["rows_done"] = summary.rows
            session.rollback()
            session.execute(
                sa.update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(finished_at=utcnow(), **outcome)
            )
            session.commit()
        finally:
            session.close()
            Path(path).unlink(missing_ok=True)
