"""``registry serve`` as clients meet it: gunicorn's own refusals and its worker
timeout answer in the one error shape, and its logs keep identity numbers out."""

import json
import os
import socket
import urllib.error
import urllib.request

import pytest

from tests import live
from tests.conftest import _create_scratch_database, _drop_database, id_number

NUMBER = id_number(3)
MASKED = NUMBER[:3] + "*" * 11 + NUMBER[-4:]


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """An initialised instance on a database of the backend under test."""
    folder = tmp_path_factory.mktemp("served")
    base = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    url = _create_scratch_database(base) if base else f"sqlite:///{folder / 'registry.db'}"
    env = live.environment(folder, url)
    live.registry(env, "init")
    yield folder, env
    if base:
        _drop_database(base, url)


@pytest.fixture(scope="module")
def server(instance):
    folder, env = instance
    logs = folder / "access.log", folder / "error.log"
    options = ("--access-log", str(logs[0]), "--error-log", str(logs[1]))
    with live.served(env, 1, *options) as base:
        yield base, logs


def _exchange(base: str, raw: bytes, timeout: float = 30) -> tuple[int, dict, bytes]:
    """Sends ``raw`` as it is and reads the whole answer: status, headers, body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body


def _assert_error_shape(headers: dict, body: bytes, code: str) -> None:
    assert headers["content-type"].startswith("application/json")
    assert b"<html" not in body.lower() and b"Traceback" not in body
    answer = json.loads(body)
    assert answer["code"] == code
    assert not answer["message"][0].isascii() and "（" in answer["message"]  # Chinese first


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(
            b"GET /api/v1/" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "uri_too_long",
            id="request line over its limit",
        ),
        pytest.param(
            b"GET /api/v1/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "headers_too_large",
            id="a header over its limit",
        ),
        pytest.param(
            b"GET /api/v1/ HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-Many-%d: 1\r\n" % n for n in range(60))
            + b"\r\n",
            431,
            "headers_too_large",
            id="too many headers",
        ),
        pytest.param(b"NOT A REQUEST\r\n\r\n", 400, "bad_request", id="malformed request line"),
        pytest.param(b"GET / HTTP/9.9\r\n\r\n", 400, "bad_request", id="unknown HTTP version"),
        pytest.param(
            b"GET /api/v1/ HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
            400,
            "bad_request",
            id="malformed header",
        ),
    ],
)
def test_gunicorns_own_refusals_are_the_error_shape(server, raw, status, code):
    base, _ = server
    answered, headers, body = _exchange(base, raw)
    assert answered == status
    _assert_error_shape(headers, body, code)


def test_the_applications_answers_are_unchanged(server):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(base + "/api/v1/people/lookup", timeout=30)  # noqa: S310
    assert refused.value.code == 405
    assert json.loads(refused.value.read())["code"] == "method_not_allowed"


def test_a_request_past_the_worker_timeout_is_answered_503(instance):
    folder, env = instance
    error_log = folder / "timeout-error.log"
    with live.served(env, 1, "--timeout", "2", "--error-log", str(error_log)) as base:
        # A body announced and never finished: the worker waits for it past the timeout.
        raw = (
            b"POST /login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1000\r\n\r\nusername=a"
        )
        status, headers, body = _exchange(base, raw, timeout=60)
    assert status == 503
    _assert_error_shape(headers, body, "timeout")
    assert "POST /login stopped at the worker timeout of 2s: answered 503" in error_log.read_text()


def test_logs_keep_no_identity_number_from_a_path_or_a_query(server):
    base, (access_log, error_log) = server
    for path in (
        f"/api/v1/people/{NUMBER}",
        f"/api/v1/people?id_number={NUMBER}",
        f"/director/check?id_number={NUMBER}&name=%E7%8E%8B",
    ):
        try:
            urllib.request.urlopen(base + path, timeout=30).close()  # noqa: S310
        except urllib.error.HTTPError as error:
            error.close()
    # gunicorn quotes a malformed request line in its error log.
    _exchange(base, f"GET /api/v1/people/{NUMBER}\r\n\r\n".encode())
    _exchange(base, f"GET /api/v1/people/{NUMBER} HTTP/1.1\r\nBad Header: 1\r\n\r\n".encode())
    access = access_log.read_text()
    errors = error_log.read_text()
    assert NUMBER not in access and NUMBER not in errors
    assert f'"GET /api/v1/people/{MASKED} HTTP/1.1" 404' in access
    assert '"GET /api/v1/people HTTP/1.1"' in access  # the path, not the query
    assert '"GET /director/check HTTP/1.1"' in access
    assert "id_number" not in access
    assert MASKED in errors  # the malformed line was logged, masked


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(server):
    base, _ = server
    # Only the headers and a first kilobyte of a 10 MB body: the answer comes at once,
    # before any user is looked up (there is no token) and before the body is read.
    raw = (
        b"POST /api/v1/people HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (10 * 1024 * 1024) + b"[" + b"1," * 512
    )
    status, headers, body = _exchange(base, raw)
    assert status == 413
    _assert_error_shape(headers, body, "too_large")
