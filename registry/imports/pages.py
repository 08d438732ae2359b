"""The HR clerk's pages for rolls (名单导入): choose a file, preview it (a dry run of the
same import), then import it whole or only its valid rows, and read the result with
every error.

Between the preview and the import the upload waits in ``<instance>/uploads`` under a
random name that only its uploader's form carries; the import deletes it. Nothing of a
roll is written before ``run_import``'s own all-or-nothing merge.
"""

import os
import re
import secrets
from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from registry.db import get_session
from registry.paging import MAX_PAGE_SIZE, PAGE_SIZE
from registry.vocabulary import IMPORT_STATUSES
from registry.web import error_page, page

from . import jobs, services
from .rows import FIELDS, REQUIRED
from .views import errors_csv

bp = Blueprint("imports_pages", __name__, url_prefix="/hr/imports")

ROLES = ("hr", "bureau")
PREVIEW_ERRORS = 20  # the first errors on the preview; the result page has them all
FIELD_NAMES = {
    "name": "姓名",
    "id_type": "证件类型",
    "id_number": "身份证号码",
    "certificate": "证书名称",
    "level": "等级",
    "certificate_no": "证书编号",
    "issuer": "发证机构",
    "issued_on": "发证日期",
    "expires_on": "有效期至",
}
_UPLOAD = re.compile(r"[0-9a-f]{32}")


def _uploads() -> Path:
    return jobs.uploads_folder(current_app.instance_path)


def _forget_old_uploads() -> None:
    jobs.forget_uploads(current_app.instance_path)


def _upload_path(token: str) -> Path | None:
    """The waiting upload of this user named by ``token``, or None (a token of another
    user, a made-up one, or one imported already)."""
    if not _UPLOAD.fullmatch(token or ""):
        return None
    path = _uploads() / f"{g.page_user.id}-{token}"
    return path if path.is_file() else None


def _filename(raw: str | None) -> str:
    return os.path.basename((raw or "").replace("\\", "/"))[:200] or "upload"


@bp.route("", methods=["GET"])
@page(*ROLES)
def imports():
    number = request.args.get("page", 1, type=int)
    batches = services.list_batches(get_session(), page=max(number, 1), page_size=20)
    return render_template(
        "imports/upload.html", batches=batches, statuses=IMPORT_STATUSES, errors={}
    )


@bp.route("/preview", methods=["POST"])
@page(*ROLES)
def preview():
    """Save the upload, read its columns and run the import as a dry run."""
    upload = request.files.get("file")
    session = get_session()
    if upload is None or not upload.filename:
        return _upload_again({"file": "请选择名单文件（CSV、XLSX、XLS 或 ODS）。"})
    filename = _filename(upload.filename)
    _forget_old_uploads()
    token = secrets.token_hex(16)
    path = _uploads() / f"{g.page_user.id}-{token}"
    upload.save(path)
    try:
        columns, sheet = services.read_columns(path)
        summary = services.run_import(
            session, g.page_user, path, filename, dry_run=True, errors_limit=PREVIEW_ERRORS
        )
    except services.UnusableFile as exc:
        path.unlink(missing_ok=True)
        return _upload_again({"file": exc.message})
    mapping = [
        (FIELD_NAMES[name], columns.header(name), name in REQUIRED)
        for name in FIELDS
        if columns.header(name) is not None or name in REQUIRED
    ]
    return render_template(
        "imports/preview.html",
        summary=summary,
        mapping=mapping,
        sheet=sheet,
        token=token,
        filename=filename,
    )


def _upload_again(errors: dict):
    batches = services.list_batches(get_session(), page=1, page_size=20)
    page_html = render_template(
        "imports/upload.html", batches=batches, statuses=IMPORT_STATUSES, errors=errors
    )
    return page_html, 422


@bp.route("/run", methods=["POST"])
@page(*ROLES)
def run():
    """Import the previewed file: all of it, or only its valid rows."""
    path = _upload_path(request.form.get("upload", ""))
    if path is None:
        return _upload_again({"file": "预览的文件已导入或已失效，请重新选择文件。"})
    partial = request.form.get("mode") == "partial"
    filename = _filename(request.form.get("filename"))
    settings = current_app.extensions["registry.settings"]
    if path.stat().st_size > settings.import_background_bytes:
        return _in_background(path, filename, partial)
    try:
        summary = services.run_import(
            get_session(), g.page_user, path, filename, partial=partial, errors_limit=0
        )
    except services.UnusableFile as exc:
        return _upload_again({"file": exc.message})
    finally:
        path.unlink(missing_ok=True)
    return redirect(url_for("imports_pages.result", batch_id=summary.batch_id))


def _in_background(path: Path, filename: str, partial: bool):
    """A big file: its job (see ``jobs.start_in_background``), and the page that follows
    its progress."""
    try:
        job = jobs.start_in_background(get_session(), g.page_user, path, filename, partial)
    except services.UnusableFile as exc:
        return _upload_again({"file": exc.message})
    job_id = job.id
    return redirect(url_for("imports_pages.job", job_id=job_id))


@bp.route("/jobs/<int:job_id>", methods=["GET"])
@page(*ROLES)
def job(job_id):
    """A background import: its progress (the page reloads itself) until the summary."""
    try:
        found = jobs.get_job(get_session(), job_id)
    except services.NotFound:
        return error_page(404, "没有这个导入任务。")
    if found.status == "done":
        return redirect(url_for("imports_pages.result", batch_id=found.batch_id))
    return render_template("imports/job.html", job=found)


@bp.route("/<int:batch_id>", methods=["GET"])
@page(*ROLES)
def result(batch_id):
    session = get_session()
    batch = session.get(services.ImportBatch, batch_id)
    if batch is None:
        return error_page(404, "没有这个导入批次。")
    number = max(request.args.get("page", 1, type=int), 1)
    size = min(max(request.args.get("page_size", PAGE_SIZE, type=int), 1), MAX_PAGE_SIZE)
    summary = services.summary_of(session, batch, errors_limit=0)
    errors = services.errors_page(session, batch_id, number, size)
    return render_template(
        "imports/result.html",
        batch=batch,
        summary=summary,
        errors=errors,
        statuses=IMPORT_STATUSES,
        field_names=FIELD_NAMES,
    )


@bp.route("/<int:batch_id>/errors.csv", methods=["GET"])
@page(*ROLES)
def errors_download(batch_id):
    session = get_session()
    if session.get(services.ImportBatch, batch_id) is None:
        return error_page(404, "没有这个导入批次。")
    return errors_csv(session, batch_id)
