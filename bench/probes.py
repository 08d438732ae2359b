"""The registry probed as an attacker would probe it: `registry serve` (gunicorn, two
workers) on a fresh SQLite instance, and for each probe what was sent, how many times,
and what came back, as one table.

    .venv/bin/python bench/probes.py

Exit 1 when a probe finds what it looks for (a number recovered, a 5xx, HTML where the
error shape belongs, a number in a log, a file others may read, a cut log unnoticed);
0 otherwise. Each probe also has a test in the suite; this is the same ground walked
end to end, with the counts the hardening note reports.
"""

import json
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.identity import gb11643_check_char  # noqa: E402
from tests.conftest import CODES  # noqa: E402
from tests.imports.test_limits import _bomb  # noqa: E402
from tests.live import REGISTRY, environment, served  # noqa: E402

PASSWORD = "probe password, not secret"
ROWS: list[tuple[str, str, str, bool]] = []  # probe, tried, answered, held


def _call(base, method, path, token=None, body=None, raw=None, headers=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def _raw(base, payload: bytes) -> tuple[int, str]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall(payload)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
    kind = next(
        (
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("content-type")
        ),
        "",
    )
    return status, kind


def id_number(n: int) -> str:
    """A valid resident number, a different birth date for each ``n``."""
    born = date(1980, 1, 1) + timedelta(days=n)
    first17 = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return first17 + gb11643_check_char(first17)


def row(probe, tried, answered, held):
    ROWS.append((probe, tried, answered, held))


def _run(env, *args, stdin=None):
    return subprocess.run(
        [REGISTRY, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )


def _setup(env) -> dict:
    assert _run(env, "init").returncode == 0
    assert (
        _run(
            env,
            "institutions",
            "add",
            "--code",
            CODES[0],
            "--name",
            "探针托育园",
            "--district",
            "杭州市西湖区",
        ).returncode
        == 0
    )
    tokens = {}
    for username, role, extra in (
        ("director", "director", ["--institution", CODES[0]]),
        ("hiring", "director", ["--institution", CODES[0]]),
        ("bureau", "bureau", []),
        ("hr", "hr", []),
    ):
        made = _run(
            env,
            "users",
            "create",
            "--username",
            username,
            "--role",
            role,
            *extra,
            stdin=PASSWORD + "\n",
        )
        assert made.returncode == 0, made.stderr
        token = _run(env, "tokens", "create", "--username", username, "--label", "probe")
        tokens[username] = token.stdout.strip().splitlines()[-1]
    return tokens


def probe_unmasking(base, tokens):
    answers = []
    for n in range(200):
        status, headers, _ = _call(
            base, "POST", "/api/v1/people/lookup", tokens["director"], {"id_number": id_number(n)}
        )
        answers.append(status)
    refused = answers.count(429)
    row(
        "lookups by number, one director, as fast as it can",
        "200",
        f"{answers.count(404) + answers.count(200)} answered, {refused} × 429",
        refused > 0 and 500 not in answers,
    )
    _, _, body = _call(base, "GET", "/api/v1/alerts?kind=lookup_misses", tokens["bureau"])
    alerts = json.loads(body)
    row(
        "the bureau told of those misses",
        "1 alert list",
        f"{len(alerts)} lookup_misses alert(s)",
        len(alerts) == 1,
    )
    statuses = [
        _call(base, "GET", f"/api/v1/people/{n}", tokens["bureau"])[0] for n in range(1, 51)
    ]
    row(
        "people addressed by sequential ids",
        "50",
        f"{statuses.count(404)} × 404",
        statuses.count(404) == 50,
    )


def probe_slow_body(base, tokens):
    host, port = base.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)), timeout=60)
    body = b'{"reason": "slow", "name": "' + b"x" * 20_000 + b'"}'
    slow.sendall(
        b"PATCH /api/v1/people/"
        + b"0" * 32
        + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {tokens['hr']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:1000]
    )
    checks = [
        _call(
            base,
            "POST",
            "/api/v1/ban-checks",
            tokens["hiring"],
            {"id_number": id_number(1_000 + n)},
        )[0]
        for n in range(20)
    ]
    slow.close()
    row(
        "hiring checks while a 20 KB PATCH hangs after 1 KB",
        "20",
        ", ".join(f"{checks.count(s)} × {s}" for s in sorted(set(checks))),
        all(s < 500 for s in checks),
    )


def probe_bounded_input(base, tokens):
    # A 10 MB body is answered from its declared length, before it is sent.
    status, kind = _raw(
        base,
        b"POST /api/v1/people HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {tokens['bureau']}\r\nContent-Length: {10 * 2**20}\r\n".encode()
        + b"Connection: close\r\n\r\n[0,",
    )
    row("a 10 MB JSON array", "1", f"{status} {kind}", status == 413 and "json" in kind)
    cases = (
        ("1,000 nested brackets", "POST", "/api/v1/people", b"[" * 1000 + b"]" * 1000),
        # Under the 1 MB body limit, so that the caps answer (a larger one is a 413).
        (
            "20,000 classes (under 1 MB)",
            "POST",
            "/api/v1/institutions",
            json.dumps(
                {
                    "code": CODES[1],
                    "name": "x",
                    "district": "杭州市西湖区",
                    "classes": [{"type": "toddler", "children": 1}] * 20_000,
                }
            ).encode(),
        ),
        (
            "a 900 KB name",
            "POST",
            "/api/v1/people",
            json.dumps(
                {"id_number": id_number(2_000), "name": "a" * 900_000, "education": "bachelor"}
            ).encode(),
        ),
    )
    for probe, method, path, raw in cases:
        status, headers, body = _call(base, method, path, tokens["bureau"], raw=raw)
        shaped = (
            headers.get("Content-Type", "").startswith("application/json") and b'"code"' in body
        )
        row(
            probe,
            "1",
            f"{status} {json.loads(body).get('code') if shaped else body[:40]!r}",
            status in (413, 422) and shaped,
        )
    with tempfile.TemporaryDirectory() as folder:
        bomb = _bomb(Path(folder))
    boundary = "probe-boundary"
    upload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="名册.xlsx"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + bomb
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, headers, body = _call(
        base,
        "POST",
        "/api/v1/imports",
        tokens["hr"],
        raw=upload,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    row(
        f"an XLSX of {len(bomb) // 1024} KB holding one 1 GiB string",
        "1",
        f"{status} {json.loads(body).get('code')}",
        status == 422,
    )


def probe_gunicorn(base):
    cases = (
        ("a 10 KB request line", b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("a 16 KB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 16_000 + b"\r\n\r\n"),
        (
            "200 headers",
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: 1\r\n" % n for n in range(200))
            + b"\r\n",
        ),
        ("a malformed request line", b"GET\r\n\r\n"),
    )
    for probe, payload in cases:
        status, kind = _raw(base, payload)
        row(
            f"gunicorn: {probe}",
            "1",
            f"{status} {kind}",
            kind.startswith("application/json") and status < 500,
        )


def probe_logs(base, access_log: Path, error_log: Path):
    number = id_number(3_000)
    _call(base, "GET", f"/api/v1/people?id_number={number}")
    _call(base, "GET", f"/api/v1/people/{number}")
    _raw(base, f"GET /api/v1/people/{number}\r\n\r\n".encode())
    found = sum(number in path.read_text() for path in (access_log, error_log))
    row(
        "a number in a URL's query, path and a bad request line",
        "3",
        f"in {found} of 2 logs",
        found == 0,
    )


def probe_files(instance: Path):
    loose = []
    for path in [instance, *instance.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.name} {mode:o}")
    count = 1 + sum(1 for _ in instance.rglob("*"))
    row(
        "files and folders of the instance others may read",
        str(count),
        ", ".join(loose) or "none",
        not loose,
    )


def probe_anchor(env, instance: Path):
    assert _run(env, "audit", "verify").returncode == 0
    (instance / "audit-anchor.json").unlink()
    verify = _run(env, "audit", "verify")
    row(
        "the audit anchor deleted, then `registry audit verify`",
        "1",
        f"exit {verify.returncode}",
        verify.returncode == 1,
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        env = environment(instance, f"sqlite:///{instance}/registry.db")
        tokens = _setup(env)
        access_log, error_log = Path(folder) / "access.log", Path(folder) / "error.log"
        with served(env, 2, "--access-log", str(access_log), "--error-log", str(error_log)) as base:
            probe_unmasking(base, tokens)
            probe_slow_body(base, tokens)
            probe_bounded_input(base, tokens)
            probe_gunicorn(base)
            probe_logs(base, access_log, error_log)
        probe_files(instance)
        probe_anchor(env, instance)
    width = max(len(r[0]) for r in ROWS)
    print(f"{'probe'.ljust(width)} | tried | answered | held")
    for probe, tried, answered, held in ROWS:
        print(f"{probe.ljust(width)} | {tried} | {answered} | {'yes' if held else 'NO'}")
    return 0 if all(r[3] for r in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
