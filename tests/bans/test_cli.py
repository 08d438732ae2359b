"""The ban commands, in-process and, where it matters, as a user runs them."""

import base64
import hashlib
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from registry import clock
from tests.conftest import CODES, id_number
from tests.test_cli import REGISTRY, _env, _free_port, _get_when_up, _registry, _user_with_token

NUMBER = id_number(1)
TODAY = clock.today()
BAN = [
    "bans",
    "add",
    "--id-number",
    NUMBER,
    "--name",
    "张某",
    "--category",
    "abuse",
    "--authority",
    "杭州市西湖区卫生健康局",
    "--decision-no",
    "西卫禁〔2026〕3号",
    "--effective-on",
    "2026-01-01",
]


def test_add_check_revoke(run):
    added = run(*BAN)
    assert added.exit_code == 0, added.output
    ban_id = added.stdout.strip().splitlines()[-1]
    assert ban_id.isdigit()
    for typed in (NUMBER, NUMBER.lower(), " ".join(NUMBER)):
        checked = run("bans", "check", "--id-number", typed)
        assert (checked.exit_code, checked.stdout.strip()) == (3, "barred")
    clear = run("bans", "check", "--id-number", id_number(2))
    assert (clear.exit_code, clear.stdout.strip()) == (0, "clear")
    again = run(*BAN)
    assert again.exit_code == 1 and "already under an active ban" in again.output
    revoked = run("bans", "revoke", ban_id, "--reason", "复议撤销")
    assert revoked.exit_code == 0, revoked.output
    assert run("bans", "check", "--id-number", NUMBER).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bans", "check", "--id-number", NUMBER[:-1] + "Y"], "id_number"),
        (["bans", "check", "--id-number", "1234"], "id_number"),
        ([*BAN, "--until", "2025-01-01"], "until"),
    ],
)
def test_bad_input_exits_1_and_names_the_field(run, args, message):
    result = run(*args)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and NUMBER[:-1] not in result.output


@pytest.mark.parametrize(
    "typed", ["2026/1/5", "2026.01.05", "2026年1月5日", "20260105", "２０２６-01-05"]
)
def test_dates_in_the_forms_of_a_roll(run, typed):
    added = run(*BAN[:-1], typed, "--until", "2027年1月5日")
    assert added.exit_code == 0, added.output
    ban = run("bans", "list", "--format", "json")
    assert [(b["effective_on"], b["until"]) for b in json.loads(ban.stdout)] == [
        ("2026-01-05", "2027-01-05")
    ]


def test_the_old_option_name_still_works_unlisted(run):
    added = run(*BAN[:-2], "--effective", "2026-01-05")
    assert added.exit_code == 0, added.output
    assert "--effective-on" in run("bans", "add", "--help").output
    assert "--effective " not in run("bans", "add", "--help").output
    missing = run(*BAN[:-2])
    assert missing.exit_code == 2 and "--effective-on" in missing.output


@pytest.mark.parametrize("typed", ["2026-02-30", "2026/13/1", "yesterday", ""])
def test_a_bad_date_is_a_usage_error_naming_the_option(run, typed):
    result = run(*BAN[:-1], typed)
    assert result.exit_code == 2 and "--effective-on" in result.output
    assert "Traceback" not in result.output
    assert run("bans", "list", "--format", "json").stdout.strip() == "[]"


def test_receipts_verify_offline(run, client, tmp_path):
    run(*BAN)
    checked = run("bans", "check", "--id-number", NUMBER, "--receipt")
    token = checked.stdout.strip().splitlines()[-1]
    verified = run("receipts", "verify", token)
    assert verified.exit_code == 0, verified.output
    assert "barred" in verified.stdout and NUMBER[:3] + "*" * 11 + NUMBER[-4:] in verified.stdout
    # An inspector's copy of the published key, and nothing else.
    key_file = tmp_path / "keys.json"
    key_file.write_text(json.dumps(client.get("/api/v1/keys/receipts").get_json()))
    assert run("receipts", "verify", token, "--public-key", str(key_file)).exit_code == 0
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    forged = dict(payload, result="clear")
    encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    tampered = ".".join([token.split(".")[0], encoded, token.split(".")[2]])
    result = run("receipts", "verify", tampered, "--public-key", str(key_file))
    assert result.exit_code == 1 and "invalid receipt" in result.output
    assert run("receipts", "verify", "not-a-receipt").exit_code == 1


def test_who_checked_me(run, client, make_user, make_institution):
    _, director = make_user("director", make_institution())
    client.post(
        "/api/v1/ban-checks", json={"id_number": NUMBER, "purpose": "入职前查询"}, headers=director
    )
    rows = json.loads(
        run("checks", "for-person", "--id-number", NUMBER.lower(), "--format", "json").stdout
    )
    assert [(r["institution"], r["purpose"], r["result"]) for r in rows] == [
        (CODES[0], "入职前查询", "clear")
    ]
    assert "nobody" in run("checks", "for-person", "--id-number", id_number(3)).stdout


def test_rescreen_finds_a_ban_that_came_into_force(
    run, client, make_user, make_institution, make_person
):
    _, director = make_user("director", make_institution())
    make_person(1, certificates=[("health_certificate", TODAY - timedelta(days=10))])
    later = (TODAY + timedelta(days=30)).isoformat()
    assert run(*BAN[:-1], later).exit_code == 0  # a ban that starts next month
    hired = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments",
        json={"id_number": NUMBER, "role": "cook", "start": TODAY.isoformat(), "declaration": True},
        headers=director,
    )
    assert hired.status_code == 201, hired.get_json()  # not barred today: hired
    now = run("rescreen")
    assert now.exit_code == 0 and "0 barred in post" in now.stdout
    then = run("rescreen", "--as-of", later, "--format", "json")
    assert then.exit_code == 3
    report = json.loads(then.stdout)
    assert [(b["employment_id"], b["new_alert"]) for b in report["barred"]] == [
        (hired.get_json()["id"], True)
    ]
    assert (
        json.loads(run("rescreen", "--as-of", later, "--format", "json").stdout)["barred"][0][
            "new_alert"
        ]
        is False
    )
    assert len(client.get("/api/v1/alerts", headers=director).get_json()) == 1


# -- as a user runs it: gunicorn workers, a database dump --------------------------------


def _post(url, token, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_the_limit_holds_across_workers_and_a_dump_reveals_nobody(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url, REGISTRY_LIMIT_DIRECTOR_PER_MINUTE="5")
    assert _registry(env, "init").returncode == 0
    assert (
        _registry(
            env, "institutions", "add", "--code", CODES[0], "--name", "园", "--district", "西湖区"
        ).returncode
        == 0
    )
    token = _user_with_token(env, "li.director", "director", CODES[0])
    legacy = "110105491231002"  # 15 digits: 11010519491231002X
    for number in (NUMBER, legacy):
        assert _registry(env, *[number if a == NUMBER else a for a in BAN]).returncode == 0

    port = _free_port()
    server = subprocess.Popen(
        [*REGISTRY, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _get_when_up(f"http://127.0.0.1:{port}/api/v1/keys/receipts", token)
        url = f"http://127.0.0.1:{port}/api/v1/ban-checks"
        answers = [None] * 12
        barrier = threading.Barrier(12)

        def ask(i):
            barrier.wait()
            answers[i] = _post(url, token, {"id_number": NUMBER.lower()})

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[1].decode()
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * 5 + [429] * 7, statuses
    assert all(int(headers["Retry-After"]) >= 1 for status, headers, _ in answers if status == 429)
    assert all(body["result"] == "barred" for status, _, body in answers if status == 200)
    assert NUMBER not in log and NUMBER.lower() not in log

    dump = _dump_bytes(scratch_database_url, tmp_path)
    assert "西卫禁〔2026〕3号".encode() in dump  # the dump does hold the bans
    for secret in _forms_of(NUMBER) + _forms_of("11010519491231002X") + ["张某".encode()]:
        assert secret not in dump, secret


def _forms_of(number: str) -> list[bytes]:
    """The number and every unkeyed hash of it an attacker would try, hex and raw."""
    forms = [number.encode()]
    for text in (number, number.lower(), f"gb11643:{number}"):
        for name in ("md5", "sha1", "sha256"):
            digest = hashlib.new(name, text.encode()).digest()
            forms += [digest, digest.hex().encode(), digest.hex().upper().encode()]
    return forms


def _dump_bytes(database_url: str, tmp_path) -> bytes:
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        return b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    result = subprocess.run(
        ["pg_dump", "--data-only", "-h", url.host, "-U", url.username, url.database],
        env={**os.environ, "PGPASSWORD": url.password},
        capture_output=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def test_bans_list_masks_numbers_and_filters_by_status(run):
    first = run(*BAN).stdout.strip().splitlines()[-1]
    other = [*BAN[:3], id_number(2), *BAN[4:-1], "2026-02-01"]
    assert run(*other).exit_code == 0
    assert run("bans", "revoke", first, "--reason", "复议撤销").exit_code == 0
    listed = run("bans", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    bans = json.loads(listed.stdout)
    assert [(b["effective_on"], b["status"]) for b in bans] == [
        ("2026-02-01", "active"),
        ("2026-01-01", "revoked"),
    ]
    assert NUMBER not in listed.output and id_number(2) not in listed.output
    assert bans[1]["id_number_masked"].endswith(NUMBER[-4:])
    active = run("bans", "list", "--status", "active").stdout.splitlines()
    assert active[0].split()[:3] == ["id", "status", "name"]
    assert len(active) == 2 and "终身 for life" in active[1]
    csv_out = run("bans", "list", "--status", "revoked", "--format", "csv").stdout
    assert csv_out.startswith("\ufeffid,status,name") and len(csv_out.splitlines()) == 2
    assert run("bans", "list", "--status", "lifted").exit_code == 2
