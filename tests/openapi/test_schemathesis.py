"""The schemathesis command against the registry served by gunicorn: every operation of
the OpenAPI document, every check (``--checks all``), on SQLite or on the PostgreSQL of
REGISTRY_TEST_DATABASE_URL. A finding fails the test with schemathesis's own report:
the operation, the check, the response and a curl line that repeats the request.

Bounded for CI (a few examples per operation, deterministic generation); the README
says how to run it deeper by hand.
"""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from registry import clock
from tests.conftest import CODES, id_number
from tests.live import REGISTRY, environment, registry, served

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CONFIG = Path(__file__).with_name("schemathesis.toml")
USERNAME = "schemathesis"
MAX_EXAMPLES = int(os.environ.get("REGISTRY_SCHEMATHESIS_EXAMPLES", "8"))


def _call(base, token, method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (our server)
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None


def _seed(env, base) -> dict:
    """A few records of every kind, so that the document's paths lead somewhere: their ids
    become the path parameters of the run."""
    for username in (USERNAME, "auditor"):  # the run's user, and one the run leaves alone
        registry(env, "users", "create", "--username", username, "--role", "bureau",
                 input="correct horse battery\n")  # fmt: skip
    token = registry(env, "tokens", "create", "--username", USERNAME).stdout.split()[-1]
    call = lambda method, path, body=None: _call(base, token, method, path, body)  # noqa: E731
    institution = {"code": CODES[0], "name": "西湖区第一托育园", "district": "西湖区"}
    call("POST", "/api/v1/institutions", institution)
    registry(env, "users", "create", "--username", "director", "--role", "director",
             "--institution", CODES[0], input="correct horse battery\n")  # fmt: skip
    person = call("POST", "/api/v1/people",
                  {"id_number": id_number(1), "name": "王芳", "education": "bachelor"})  # fmt: skip
    other = call("POST", "/api/v1/people",
                 {"id_number": id_number(2), "name": "李娜", "education": "master"})  # fmt: skip
    certificate = call("POST", f"/api/v1/people/{person['id']}/certificates", {
        "kind": "childcare_worker", "level": "四级", "number": "ST-0001",
        "issuer": "杭州市人力资源和社会保障局", "issued_on": "2024-03-01"})  # fmt: skip
    # The server runs on the real clock: the health certificate and the start are today's.
    today = clock.today().isoformat()
    call("POST", f"/api/v1/people/{person['id']}/certificates", {
        "kind": "health_certificate", "number": "ST-0002", "issuer": "西湖区妇幼保健院",
        "issued_on": today})  # fmt: skip
    employment = call("POST", f"/api/v1/institutions/{CODES[0]}/employments", {
        "id_number": id_number(1), "role": "other", "start": today,
        "declaration": True})  # fmt: skip
    ban = call("POST", "/api/v1/bans", {
        "id_number": id_number(3), "name": "张某", "category": "abuse",
        "authority": "杭州市西湖区卫生健康局", "decision_no": "西卫禁〔2026〕3号",
        "effective_on": "2026-01-05"})  # fmt: skip
    users = call("GET", "/api/v1/users")
    tokens = call("GET", "/api/v1/tokens")
    return {
        "code": CODES[0],
        "person_id": other["id"],
        "certificate_id": certificate["id"],
        "employment_id": employment["id"],
        "ban_id": ban["id"],
        "user_id": max(user["id"] for user in users),
        "token_id": min(t["id"] for t in tokens),
        "token": registry(env, "tokens", "create", "--username", USERNAME).stdout.split()[-1],
    }


PATH_PARAMETERS = ("code", "person_id", "certificate_id", "employment_id", "ban_id", "user_id",
                   "token_id")  # fmt: skip


def _config(seeded: dict) -> str:
    """The committed configuration, with the seeded records as the path parameters."""
    lines = ["[parameters]"]
    lines += [f'"path.{name}" = {json.dumps(seeded[name])}' for name in PATH_PARAMETERS]
    return "\n".join(lines) + "\n\n" + CONFIG.read_text(encoding="utf-8")


def test_the_api_keeps_every_check_of_its_document(tmp_path, scratch_database_url):
    env = environment(
        tmp_path / "instance",
        scratch_database_url,
        REGISTRY_LIMIT_PER_MINUTE="0",
        REGISTRY_LIMIT_PER_DAY="0",
    )
    registry(env, "init")
    with served(env, workers=2) as base:
        seeded = _seed(env, base)
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(seeded), encoding="utf-8")
        run_env = {
            **env,
            "SCHEMATHESIS_HOOKS": str(HOOKS),
            "REGISTRY_TEST_COMMAND": REGISTRY,
            "REGISTRY_TEST_USERNAME": USERNAME,
            "REGISTRY_TEST_TOKEN": seeded["token"],
        }
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "--no-color",
                "--config-file",
                str(config),
                "run",
                f"{base}/api/v1/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-deterministic",
                "--suppress-health-check",
                "all",
                "--continue-on-failure",
                "--workers",
                "2",
            ],  # fmt: skip
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        # The run reached the services, not only the validation layer: it recorded
        # institutions and bans of its own beside the seeded ones.
        token = registry(env, "tokens", "create", "--username", "auditor").stdout.split()[-1]
        totals = {
            path: _total(base, token, path) for path in ("/api/v1/institutions", "/api/v1/bans")
        }
    assert result.returncode == 0, result.stdout[-60_000:] + result.stderr[-5_000:]
    assert re.search(r"Selected: (\d+)/\1", result.stdout), result.stdout[-5_000:]
    assert all(total > 1 for total in totals.values()), totals


def _total(base, token, path) -> int:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (our server)
        return json.loads(response.headers["X-Pagination"])["total"]
