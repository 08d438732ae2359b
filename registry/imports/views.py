import csv
import io
import os
import tempfile

from flask import Response, stream_with_context
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from registry.auth.access import current_user, require
from registry.db import get_session
from registry.errors import ErrorSchema, ImportRejected, UnusableRoll
from registry.messages import _
from registry.paging import paginate, respond

from . import services
from .schemas import (
    ImportBatchSchema,
    ImportQuerySchema,
    ImportSummarySchema,
    ImportUploadSchema,
    RejectedImportSchema,
)


class _MultipartParser(FlaskParser):
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
@blp.alt_response(422, schema=RejectedImportSchema, description="rejected: nothing written")
@blp.alt_response(413, schema=ErrorSchema, description="the file is over the size limit")
def upload(body):
    """Import a roll (multipart field `file`): every row or none, unless `partial`.
    A rejected file is answered 422 `import_rejected` with the summary and its errors;
    a file that is not a roll at all 422 `unusable_file` (nothing recorded)."""
    upload = body["file"]
    filename = os.path.basename((upload.filename or "upload").replace("\\", "/")) or "upload"
    with tempfile.TemporaryFile() as spooled:
        upload.save(spooled)
        spooled.seek(0)
        try:
            summary = services.run_import(
                get_session(),
                current_user(),
                spooled,
                filename,
                dry_run=body["dry_run"],
                partial=body["partial"],
                errors_limit=ERRORS_SHOWN,
            )
        except services.UnusableFile as exc:
            raise UnusableRoll(exc.message) from exc
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
