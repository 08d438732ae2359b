"""The domain errors and the one JSON error shape: ``{"code", "message", "errors"?}``.

Services raise a ``RegistryError`` subclass; the CLI prints its message and exits
non-zero, the API answers with its status. Nothing else reaches a client: an unexpected
exception is logged and answered with a bare 500.
"""

import logging
import re
import sqlite3
import traceback

from flask import has_request_context, jsonify, request
from marshmallow import INCLUDE, Schema, fields
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from registry.db import is_unique_violation
from registry.messages import _, translate


class RedactIdentityNumbers(logging.Filter):
    """Masks anything shaped like a resident identity number in a log record and its
    traceback: an exception's message may quote what a user typed. Like every mask, it
    keeps the first 3 and the last 4 characters (the area code and the birth date
    hidden)."""

    PATTERN = re.compile(r"(?<!\d)(\d{3})(\d{8}|\d{11})(\d{3}[0-9Xx]|\d{4})(?!\d)")

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)))
        return True

    @classmethod
    def redact(cls, text: str) -> str:
        return cls.PATTERN.sub(lambda m: m[1] + "*" * len(m[2]) + m[3], text)


log = logging.getLogger(__name__)
log.addFilter(RedactIdentityNumbers())


class RegistryError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, errors: dict | None = None, *, audited=False, **extra):
        super().__init__(message)
        self.message = message
        self.errors = errors
        # A refusal that is itself on record (a lookup that found nobody, a hire refused):
        # the transaction boundary commits the audit event before answering.
        self.audited = audited
        self.extra = extra  # additional fields of the answer, e.g. the existing id on 409


class Unauthorized(RegistryError):
    status = 401
    code = "unauthorized"


class Forbidden(RegistryError):
    status = 403
    code = "forbidden"


class NotFound(RegistryError):
    status = 404
    code = "not_found"


class Conflict(RegistryError):
    status = 409
    code = "conflict"


class _TryAgain(RegistryError):
    """A refusal that ``Retry-After`` (seconds) says when to try again."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class RateLimited(_TryAgain):
    """Too many checks in the window; ``Retry-After`` says when the next one is admitted."""

    status = 429
    code = "rate_limited"


class Busy(_TryAgain):
    """A write that must wait for another (a roll being imported); nothing was changed."""

    status = 503
    code = "busy"


class Invalid(RegistryError):
    """Well-formed input that breaks a rule; ``errors`` maps field names to messages."""

    status = 422
    code = "invalid"


# Codes for errors raised by Flask, werkzeug and the request parser.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "busy",
}


def error_response(status: int, code: str, message: str, errors=None, headers=None, **extra):
    body = {"code": code, "message": message, **extra}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ErrorSchema(Schema):
    """The one error shape, as the OpenAPI document shows it. Some errors add fields:
    a 409 for a duplicate names the existing record's ``id``."""

    class Meta:
        unknown = INCLUDE  # documented as open: errors may carry more fields

    code = fields.String(metadata={"example": "invalid"})
    message = fields.String()
    errors = fields.Dict(metadata={"description": "messages by field name"})
    id = fields.Raw(
        metadata={
            "description": "409 duplicate: the existing record (a person's public id, a "
            "string; another record's integer id)"
        }
    )


def _handle_registry_error(exc: RegistryError):
    return error_response(
        exc.status,
        exc.code,
        exc.message,
        _translated(exc.errors),
        headers=getattr(exc, "headers", None),
        **exc.extra,
    )


def http_error_response(exc: HTTPException):
    status = exc.code or 500
    errors = None
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if messages:
        # webargs groups messages by location ({"json": {...}, "query": {...}});
        # clients care about the field, not where the parser found it.
        errors = {}
        for location_errors in messages.values():
            errors.update(location_errors if isinstance(location_errors, dict) else {})
    if errors:
        message = _("request body or parameters are invalid")
    else:
        message = _HTTP_MESSAGES.get(status) or exc.description or exc.name
    headers = dict(data.get("headers") or {})
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        # RFC 9110: a 405 names the methods the address does take.
        headers.setdefault("Allow", ", ".join(sorted(exc.valid_methods)))
    return error_response(
        status, _HTTP_CODES.get(status, "error"), message, _translated(errors), headers
    )


# What a person reads for the errors werkzeug raises (its own texts are English).
_HTTP_MESSAGES = {
    400: _("the request is malformed"),
    401: _("sign in or send an API token"),
    403: _("you may not do this"),
    404: _("there is nothing at this address"),
    405: _("this address does not take this method"),
    413: _("the request is too large"),
    415: _("the request's content type is not accepted here"),
    429: _("too many requests; try again later"),
}


def _translated(errors):
    """Field messages (marshmallow's own among them) in Chinese and English."""
    if isinstance(errors, dict):
        return {key: _translated(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_translated(value) for value in errors]
    return translate(errors) if isinstance(errors, str) else errors


CONFLICT_MESSAGE = _(
    "the change conflicts with a record written at the same time; nothing was changed"
)


def _handle_integrity_error(exc: IntegrityError):
    # The services check uniqueness first and say what collides; this is the race
    # where two requests passed the check at once, and the constraint stopped one.
    # Any other broken constraint is a bug of ours, not the client's conflict.
    if not is_unique_violation(exc):
        return _handle_unexpected(exc)
    log.warning("unique constraint stopped a concurrent write")
    return error_response(409, "conflict", CONFLICT_MESSAGE)


# Seconds a client is told to wait when the database was busy with other writes.
BUSY_RETRY_AFTER = 2
BUSY_MESSAGE = _("the registry is busy with other writes; nothing was changed, try again shortly")
# PostgreSQL: lock_not_available (lock_timeout) and query_canceled (statement_timeout).
_PG_BUSY = ("55P03", "57014")


def is_busy(exc: OperationalError) -> bool:
    """Whether the database refused for want of a lock in time: SQLite's "database is
    locked" after the busy timeout, PostgreSQL's lock or statement time-out."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        return "database is locked" in str(orig)
    return getattr(orig, "sqlstate", None) in _PG_BUSY


def _handle_operational_error(exc: OperationalError):
    # Another writer held the lock longer than we wait: the request changed nothing
    # (its transaction is rolled back) and may simply be sent again.
    if not is_busy(exc):
        return _handle_unexpected(exc)
    log.warning("database busy: a request gave up waiting for the write lock")
    return error_response(503, "busy", BUSY_MESSAGE, headers={"Retry-After": str(BUSY_RETRY_AFTER)})


def _handle_unexpected(exc: Exception):
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", _("internal error"))


def register_error_handlers(app) -> None:
    app.register_error_handler(RegistryError, _for_pages(_handle_registry_error))
    app.register_error_handler(HTTPException, _for_pages(http_error_response))
    app.register_error_handler(IntegrityError, _for_pages(_handle_integrity_error))
    app.register_error_handler(OperationalError, _for_pages(_handle_operational_error))
    app.register_error_handler(Exception, _for_pages(_handle_unexpected))


def _for_pages(handler):
    """The same answer, shown to a person on a web page in the layout instead of as
    JSON: a missing page, a forbidden one or a failure is never raw JSON or a trace."""

    def handle(exc):
        response = handler(exc)
        if not has_request_context() or request.path.startswith(("/api/", "/static/")):
            return response
        from registry.web import error_page

        body = response.get_json(silent=True) or {}
        page, status = error_page(response.status_code, body.get("message"))
        retry_after = response.headers.get("Retry-After")
        return page, status, {"Retry-After": retry_after} if retry_after else {}

    return handle


class ImportRejected(Invalid):
    """A roll with errors, not written: the summary rides along the one error shape."""

    code = "import_rejected"


class UnusableRoll(Invalid):
    """A file that is not a roll we can read (old .xls, an HTML export, no header)."""

    code = "unusable_file"


class NotEligible(Conflict):
    """A hire refused: the answer carries the verdict's reasons."""

    code = "not_eligible"
