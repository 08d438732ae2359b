from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from registry.fields import InputSchema
from registry.vocabulary import IMPORT_STATUSES


class ImportFileSchema(InputSchema):
    file = Upload(
        required=True,
        metadata={
            "description": "the roll: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX, XLS or ODS"
        },
    )


class ImportOptionsSchema(InputSchema):
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "validate and report; write nothing"}
    )
    partial = fields.Boolean(
        load_default=False, metadata={"description": "write the valid rows of a file with errors"}
    )


class ImportUploadSchema(ImportFileSchema, ImportOptionsSchema):
    """The multipart body of an upload: the file and, beside it, its options."""


class RowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "as the spreadsheet shows it (header = 1)"})
    column = fields.String(allow_none=True, metadata={"example": "id_number"})
    header = fields.String(allow_none=True, metadata={"description": "the file's own header"})
    message = fields.String()


class ImportSummarySchema(Schema):
    """SPEC §3's summary, the same as `registry import-roll --format json`, plus the
    batch's state."""

    batch_id = fields.Integer()
    rows = fields.Integer(metadata={"description": "data rows read"})
    accepted = fields.Integer(metadata={"description": "rows written: new or updated"})
    unchanged = fields.Integer()
    rejected = fields.Integer(metadata={"description": "rows with errors"})
    errors = fields.List(
        fields.Nested(RowErrorSchema),
        metadata={"description": "the first 1,000 errors; all of them in errors.csv"},
    )
    created = fields.Integer(metadata={"description": "new certificates"})
    updated = fields.Integer(metadata={"description": "certificates whose data changed"})
    updated_fields = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "per field, how many certificates it changed on"},
    )
    people_created = fields.Integer(metadata={"description": "people new to the registry"})
    header_row = fields.Integer(
        allow_none=True, metadata={"description": "the row the header was found in"}
    )
    sheet = fields.String(allow_none=True, metadata={"description": "the worksheet read"})
    ignored_columns = fields.List(
        fields.String(), metadata={"description": "the file's columns the registry does not use"}
    )
    skipped = fields.Integer(
        metadata={"description": "rows that are no data (合计, 制表人, a date), skipped"}
    )
    skipped_rows = fields.List(
        fields.Integer(), metadata={"description": "the first 100 of the skipped rows"}
    )
    status = fields.String(metadata={"example": "accepted"})
    filename = fields.String()
    dry_run = fields.Boolean()
    partial = fields.Boolean()
    errors_total = fields.Integer()


class RejectedImportSchema(ImportSummarySchema):
    """422 import_rejected: the error shape, carrying the summary (without `status`);
    `errors` lists the rows' errors."""

    class Meta:
        exclude = ("status",)

    code = fields.String(metadata={"example": "import_rejected"})
    message = fields.String()
    errors = fields.Raw(
        metadata={
            "description": "import_rejected: the rows' errors, a list of "
            "{row, column, header, message} (the first 1,000); a request without a file "
            "(code invalid): messages by field name"
        }
    )


class ImportQuerySchema(InputSchema):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(list(IMPORT_STATUSES)),
        metadata={"description": ", ".join(f"{k} {v}" for k, v in IMPORT_STATUSES.items())},
    )


class ImportBatchSchema(Schema):
    """An import as the list shows it: the file, who, when, and the counts."""

    batch_id = fields.Integer(attribute="id")
    filename = fields.String()
    status = fields.String()
    status_name = fields.Function(lambda batch: IMPORT_STATUSES[batch.status])
    dry_run = fields.Boolean()
    partial = fields.Boolean()
    rows = fields.Integer()
    accepted = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    actor = fields.String(metadata={"description": "who imported it"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class ImportJobSchema(Schema):
    """A roll imported in the background: how far it got, then its summary."""

    job_id = fields.Integer()
    status = fields.String(
        metadata={"description": "running, done or failed (nothing written)", "example": "running"}
    )
    filename = fields.String()
    dry_run = fields.Boolean()
    partial = fields.Boolean()
    rows_done = fields.Integer(metadata={"description": "data rows read so far"})
    permille = fields.Integer(metadata={"description": "how much of the file is read, 0 to 1000"})
    batch_id = fields.Integer(
        allow_none=True, metadata={"description": "the import's batch, once done"}
    )
    message = fields.String(allow_none=True, metadata={"description": "why it failed"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    summary = fields.Nested(
        ImportSummarySchema,
        allow_none=True,
        metadata={"description": "once done: what POST /imports answers for a small file"},
    )
