import csv
import io
import os
import secrets
from pathlib import Path

from flask import (
    Response,
    current_app,
    jsonify,
    stream_with_context,
    url_for,
)
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from registry.api import Blueprint, RegistryParser
from registry.auth.access import current_user, require
from registry.db import get_session
from registry.errors import ErrorSchema, ImportRejected, UnusableRoll
from registry.messages import _
from registry.paging import paginate, respond

from . import jobs, services
from .schemas import (
    ImportBatchSchema,
    ImportJobSchema,
    ImportQuerySchema,
    ImportSummarySchema,
    ImportUploadSchema,
    RejectedImportSchema,
)


class _MultipartParser(RegistryParser):
    """Reads the "files" location as the whole multipart body, file parts and form
    fields together: one schema then loads both, and the OpenAPI document shows both
    (flask-smorest documents a single body location)."""

    def load_files(self, req, schema):
        return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)


blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="名册导入")
blp.ARGUMENTS_PARSER = _MultipartParser()

ERRORS_SHOWN = 1000  # in a JSON answer; errors.csv has them all
CSV_COLUMNS = ("行号", "列", "表头", "问题")


def _described(summary: services.Summary) -> dict:
    return {
        **summary.as_dict(),
        "status": summary.status,
        "filename": summary.filename,
        "dry_run": summary.dry_run,
        "partial": summary.partial,
        "errors_total": summary.errors_total,
    }


@blp.route("", methods=["POST"])
@require("bureau", "hr")
@blp.arguments(ImportUploadSchema, location="files")
@blp.response(201, ImportSummarySchema)
@blp.alt_response(
    202,
    schema=ImportJobSchema,
    description="a large file, imported in the background: follow the job (`Location`)",
)
@blp.alt_response(422, schema=RejectedImportSchema, description="rejected: nothing written")
@blp.alt_response(413, schema=ErrorSchema, description="the file is over the size limit")
def upload(body):
    """Import a roll (multipart field `file`): every row or none, unless `partial`.
    A rejected file is answered 422 `import_rejected` with the summary and its errors;
    a file that is not a roll at all 422 `unusable_file` (nothing recorded).

    A file larger than the server's background threshold (256 KiB by default, about
    2,000 rows; `REGISTRY_IMPORT_BACKGROUND_BYTES`), dry run or not, is imported in the
    background: the answer is 202 with the job and a `Location` header, and
    `GET /api/v1/imports/jobs/{job_id}` shows its progress, then the same summary as
    a 201 or 422 would have carried. Smaller files are answered when imported."""
    upload = body["file"]
    filename = os.path.basename((upload.filename or "upload").replace("\\", "/")) or "upload"
    path = _spool(upload)
    if path.stat().st_size > current_app.extensions["registry.settings"].import_background_bytes:
        return _in_background(path, filename, body)
    try:
        summary = services.run_import(
            get_session(),
            current_user(),
            path,
            filename,
            dry_run=body["dry_run"],
            partial=body["partial"],
            errors_limit=ERRORS_SHOWN,
        )
    except services.UnusableFile as exc:
        raise UnusableRoll(exc.message) from exc
    finally:
        path.unlink(missing_ok=True)
    return _answer(summary)


def _spool(upload) -> Path:
    """The upload saved under a random name in ``<instance>/uploads`` (which only the
    registry's user can read), where a background job can still find it."""
    folder = jobs.uploads_folder(current_app.instance_path)
    path = folder / f"api-{current_user().id}-{secrets.token_urlsafe(16)}"
    try:
        upload.save(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _in_background(path: Path, filename: str, options: dict):
    """202 with the job that imports the file (see ``jobs.start_in_background``)."""
    try:
        job = jobs.start_in_background(
            get_session(), current_user(), path, filename, options["partial"], options["dry_run"]
        )
    except services.UnusableFile as exc:
        raise UnusableRoll(exc.message) from exc
    job_id = job.id
    # A response of its own: the route's schema is the 201's.
    response = jsonify(ImportJobSchema().dump(_job_body(job)))
    response.status_code = 202
    response.headers["Location"] = url_for("imports.job", job_id=job_id)
    return response


def _answer(summary: services.Summary) -> dict:
    """The summary of a finished import, or 422 ``import_rejected`` carrying it."""
    if summary.status == "rejected":
        body = _described(summary)
        errors = body.pop("errors")
        del body["status"]  # the code says it (and `status` is the HTTP status there)
        raise ImportRejected(
            _(
                "the roll has errors in {rows} rows; nothing was written",
                rows=summary.rejected,
            ),
            errors,
            **body,
        )
    return _described(summary)


@blp.route("/jobs/<id:job_id>", methods=["GET"])
@require("admin", "bureau", "hr")
@blp.response(200, ImportJobSchema)
def job(job_id):
    """A background import: `running` with the rows read so far and how much of the
    file (per mille); `done` with the import's `summary` (its `status` says accepted,
    partial or rejected); `failed` with a `message` (a file that is no roll, or a
    restart of the server in the middle: nothing was written then)."""
    session = get_session()
    return _job_body(jobs.get_job(session, job_id), session)


def _job_body(job, session=None) -> dict:
    summary = None
    if job.status == "done" and job.batch_id is not None and session is not None:
        batch = services.get_batch(session, job.batch_id)
        summary = _described(services.summary_of(session, batch, errors_limit=ERRORS_SHOWN))
    return {
        "job_id": job.id,
        "status": job.status,
        "filename": job.filename,
        "dry_run": job.dry_run,
        "partial": job.partial,
        "rows_done": job.rows_done,
        "permille": job.permille,
        "batch_id": job.batch_id,
        "message": job.message,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "summary": summary,
    }


@blp.route("", methods=["GET"])
@require("admin", "bureau", "hr")
@blp.arguments(ImportQuerySchema, location="query")
@blp.response(200, ImportBatchSchema(many=True))
@paginate(blp)
def list_imports(query, pagination_parameters):
    """Imports, newest first, with their counts; `status` to see only those."""
    page = services.list_batches(
        get_session(),
        status=query["status"],
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/<id:batch_id>", methods=["GET"])
@require("admin", "bureau", "hr")
@blp.response(200, ImportSummarySchema)
def status(batch_id):
    """An import's summary and its first errors."""
    session = get_session()
    batch = services.get_batch(session, batch_id)
    return _described(services.summary_of(session, batch, errors_limit=ERRORS_SHOWN))


@blp.route("/<id:batch_id>/errors.csv", methods=["GET"])
@require("admin", "bureau", "hr")
@blp.response(200, description="UTF-8 with BOM, for Excel", content_type="text/csv")
def error_report(batch_id):
    """Every error of an import as CSV (行号, 列, 表头, 问题) that Excel opens as it is."""
    session = get_session()
    services.get_batch(session, batch_id)
    return errors_csv(session, batch_id)


def errors_csv(session, batch_id: int) -> Response:
    """Every error of the batch as CSV, streamed (the API's and the page's download)."""

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        yield "\ufeff" + buffer.getvalue()
        for error in services.iter_errors(session, batch_id):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(
                [error["row"], error["column"] or "", error["header"] or "", error["message"]]
            )
            yield buffer.getvalue()

    return Response(
        stream_with_context(lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{batch_id}-errors.csv"'},
    )
