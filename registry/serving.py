"""gunicorn's side of ``registry serve``: its limits, a worker whose own answers (a
malformed request, an over-long address or header, a request stopped at the worker
timeout) are the one JSON error shape, and logs that keep identity numbers out.

What gunicorn answers before the application runs never reaches ``registry.errors``;
this module gives those answers the same shape: ``{"code", "message"}``, Chinese first.
"""

import json
import logging
from http import HTTPStatus

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.workers.sync import SyncWorker

from registry.errors import RedactIdentityNumbers
from registry.messages import _

# The request line holds the method, the path and the query: the registry's longest are
# a page's search (a name of 100 characters, percent-encoded, is 900 bytes) and paging.
# Headers: a browser sends about 15, the cookies are two short ones.
LIMITS = {
    "limit_request_line": 4094,
    "limit_request_fields": 50,
    "limit_request_field_size": 8190,
}

# The path without the query string (%(U)s, never %(r)s or %(q)s), and no Referer: a
# page's address may carry a search. Numbers in the path are masked by the logger below.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'


def settings(*, bind: str, workers: int, timeout: int, access_log: str, error_log: str) -> dict:
    """gunicorn's settings for ``registry serve``."""
    return {
        "bind": bind,
        "workers": workers,
        "timeout": timeout,
        "worker_class": f"{__name__}.JsonErrorWorker",
        "logger_class": f"{__name__}.RedactingLogger",
        "accesslog": access_log,
        "errorlog": error_log,
        "access_log_format": ACCESS_LOG_FORMAT,
        **LIMITS,
    }


class RedactingLogger(Logger):
    """gunicorn's logger, masking anything shaped like an identity number in every line
    its handlers write: the access log, the error log (which quotes a malformed request
    line), and the registry's own loggers, which write through the same handlers."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            if not any(isinstance(f, RedactIdentityNumbers) for f in handler.filters):
                handler.addFilter(RedactIdentityNumbers())
        registry_log = logging.getLogger("registry")
        registry_log.handlers = list(self.error_log.handlers)
        registry_log.setLevel(logging.INFO)
        registry_log.propagate = False


# What gunicorn itself answers, and the registry's code and message for it.
_ANSWERS = {
    400: ("bad_request", _("the request is malformed")),
    403: ("forbidden", _("you may not do this")),
    414: ("uri_too_long", _("the address is too long")),
    417: ("bad_request", _("the request is malformed")),
    431: ("headers_too_large", _("the request's headers are too large")),
    500: ("internal_error", _("internal error")),
    501: ("not_implemented", _("the request's transfer coding is not supported")),
    503: ("timeout", _("the request took too long and was stopped; try again")),
}


def error_answer(status: int) -> bytes:
    """A whole HTTP response in the one error shape, for a socket."""
    code, message = _ANSWERS.get(status, _ANSWERS[400 if status < 500 else 500])
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class _Captured:
    """A client socket whose writes are kept, not sent: gunicorn's HTML error page."""

    def __init__(self, sock):
        self._sock = sock
        self.written = b""

    def sendall(self, data):
        self.written += bytes(data)

    def send(self, data):
        self.written += bytes(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class JsonErrorWorker(SyncWorker):
    """gunicorn's sync worker, answering in the error shape where it would answer HTML.

    gunicorn decides the status (and logs the request and the error, redacted); the
    page it writes is replaced by the JSON answer. A request still running at the worker
    timeout is stopped by the arbiter's SIGABRT: if the worker is in Python code (reading
    a slow body, say) and nothing of the answer has been sent, the client gets 503
    ``timeout``; a worker stuck in C code past the next second is killed and its client
    sees the connection close with no answer.
    """

    timed_out = False

    def handle_abort(self, sig, frame):
        self.timed_out = True
        super().handle_abort(sig, frame)

    def handle_error(self, req, client, addr, exc):
        if self.timed_out and isinstance(exc, SystemExit):
            self.log.error(
                "%s %s stopped at the worker timeout of %ss: answered 503",
                getattr(req, "method", "-"),
                getattr(req, "path", "(headers not read)"),  # never the query
                self.cfg.timeout,
            )
            status = 503
        else:
            captured = _Captured(client)
            super().handle_error(req, captured, addr, exc)
            try:
                status = int(captured.written.split(b" ", 2)[1])
            except (IndexError, ValueError):
                status = 500
        try:
            util.write_nonblock(client, error_answer(status))
        except Exception:  # the client has gone: nothing more to tell it
            self.log.debug("failed to send the error answer")
