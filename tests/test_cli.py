"""The `registry` command: in-process for the details, as a real subprocess end to end."""

import fcntl
import json
import os
import pty
import select
import socket
import stat
import subprocess
import sys
import termios
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import create_app, crypto
from registry.auth import services as auth
from registry.auth.models import SystemActor, User
from registry.config import load_settings
from registry.db import get_session, make_engine
from registry.identity import parse_identity
from registry.institutions.models import Institution
from registry.people.models import Person
from registry.people.services import register_person
from tests.conftest import CODES, id_number

# The console script installed beside this Python, as a user runs it.
REGISTRY = [str(Path(sys.executable).with_name("registry"))]


def test_institutions_add_and_list(run, session):
    result = run(
        "institutions",
        "add",
        "--code",
        CODES[0].lower(),
        "--name",
        "拱墅区小星星托育园",
        "--district",
        "拱墅区",
    )
    assert result.exit_code == 0, result.output
    assert CODES[0] in result.output
    assert (
        session.scalar(sa.select(Institution.name).where(Institution.code == CODES[0]))
        == "拱墅区小星星托育园"
    )
    result = run("institutions", "list", "--district", "拱墅区")
    assert result.stdout.splitlines()[1].split()[:3] == [CODES[0], "拱墅区", "拱墅区小星星托育园"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--code", "91350100M000100Y44", "--name", "A", "--district", "B"],
            "check character should be 3",
        ),
        (["--code", CODES[0], "--name", " ", "--district", "B"], "name: 不能为空"),
    ],
)
def test_institutions_add_refuses_bad_input(run, session, args, message):
    result = run("institutions", "add", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Institution)) == 0


def test_institutions_add_refuses_a_duplicate(run, make_institution):
    make_institution(CODES[0])
    result = run("institutions", "add", "--code", CODES[0], "--name", "A", "--district", "B")
    assert result.exit_code == 1
    assert "already registered" in result.output


def test_users_create_reads_the_password_from_stdin(run, session, make_institution):
    make_institution(CODES[0])
    result = run(
        "users",
        "create",
        "--username",
        "zhang.director",
        "--role",
        "director",
        "--institution",
        CODES[0],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "password" not in result.output.lower()
    user = session.scalar(sa.select(User).where(User.username == "zhang.director"))
    assert user.role == "director" and user.institution.code == CODES[0]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--username", "u1", "--role", "bureau"], "short\n", "at least 10 characters"),
        (
            ["--username", "u1", "--role", "director"],
            "a long enough password\n",
            "bound to one institution",
        ),
        (
            ["--username", "u1", "--role", "king"],
            "a long enough password\n",
            "'king' is not one of",
        ),
        (
            ["--username", "u1", "--role", "director", "--institution", CODES[3]],
            "a long enough password\n",
            "no institution",
        ),
    ],
)
def test_users_create_refuses_bad_input(run, session, args, stdin, message):
    result = run("users", "create", *args, input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_duplicate_username(run, make_user):
    make_user("hr", username="li.hr")
    result = run(
        "users", "create", "--username", "li.hr", "--role", "hr", input="a long enough password\n"
    )
    assert result.exit_code == 1 and "is taken" in result.output


def test_tokens_create_prints_the_token_alone_on_the_last_line(run, session, make_user):
    user, _ = make_user("inspector", username="chen.inspector")
    result = run("tokens", "create", "--username", "chen.inspector")
    assert result.exit_code == 0
    token = result.stdout.splitlines()[-1]
    assert auth.authenticate_token(session, token) == user
    assert run("tokens", "create", "--username", "nobody").exit_code == 1


# -- end to end, as a user on a fresh machine runs it --------------------------------


def _env(tmp_path: Path, database_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        REGISTRY_DATABASE_URL=database_url,
        **extra,
    )
    return env


def _registry(env, *args, input=None):
    return subprocess.run(
        [*REGISTRY, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fresh_instance_end_to_end(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    first = _registry(env, "init")
    assert first.returncode == 0, first.stderr
    assert "created blind_index key" in first.stdout
    keys = [p for p in (tmp_path / "instance" / "keys").rglob("*") if p.is_file()]
    assert len(keys) == 3 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys)

    again = _registry(env, "init")  # idempotent: no new keys, same schema
    assert again.returncode == 0 and "created" not in again.stdout
    assert len([p for p in (tmp_path / "instance" / "keys").rglob("*") if p.is_file()]) == 3

    assert (
        _registry(
            env, "institutions", "add", "--code", CODES[0], "--name", "园", "--district", "西湖区"
        ).returncode
        == 0
    )
    token = _user_with_token(env, "admin", "admin")
    bad = _registry(
        env, "institutions", "add", "--code", "bad", "--name", "园", "--district", "西湖区"
    )
    assert bad.returncode == 1 and "Error:" in bad.stderr and "Traceback" not in bad.stderr
    dump = _dump(scratch_database_url)
    assert "admin" in dump and CODES[0] in dump  # the dump does hold the rows
    assert token not in dump and "a long enough password" not in dump

    port = _free_port()
    server = subprocess.Popen(
        [*REGISTRY, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/api/v1/institutions/{CODES[0]}", token)
        assert f'"code":"{CODES[0]}"' in body.replace(" ", "")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "gunicorn" in output.lower()  # a production server, not Flask's


def _dump(database_url: str) -> str:
    """Every row of every table, as text: what a stolen database would show."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            metadata = sa.MetaData()
            metadata.reflect(connection)
            rows = [connection.execute(t.select()).all() for t in metadata.sorted_tables]
    finally:
        engine.dispose()
    return repr(rows)


def test_init_indexes_the_names_of_people_registered_before(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    engine = make_engine(scratch_database_url)
    try:
        app = create_app(load_settings({k: v for k, v in env.items() if k.startswith("REGISTRY_")}))
        with app.app_context():
            session = get_session()
            data = {"identity": parse_identity(id_number(3)), "name": "王芳", "education": None}
            register_person(session, SystemActor("test"), data)
            session.execute(sa.update(Person).values(name_index=None, name_index_kid=None))
            session.commit()
        app.extensions["registry.engine"].dispose()
        result = _registry(env, "init")
        assert result.returncode == 0, result.stderr
        assert "indexed the names of 1 people" in result.stdout
        with engine.connect() as connection:
            assert connection.scalar(sa.select(Person.name_index)) is not None
        assert "indexed" not in _registry(env, "init").stdout  # nothing left to do
    finally:
        engine.dispose()


def test_init_refuses_to_replace_lost_keys_of_an_existing_database(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    blind = tmp_path / "instance" / "keys" / "blind_index"
    for key in blind.iterdir():
        key.unlink()
    result = _registry(env, "init")
    assert result.returncode == 1
    assert "restore them from the backup" in result.stderr and "blind_index" in result.stderr
    assert list(blind.iterdir()) == []


def test_commands_before_init_say_what_to_do(tmp_path, scratch_database_url):
    crypto.generate_missing_keys(tmp_path / "instance" / "keys")
    result = _registry(_env(tmp_path, scratch_database_url), "institutions", "list")
    assert result.returncode == 1
    assert "请先运行 `registry init`" in result.stderr and "Traceback" not in result.stderr


def _user_with_token(env, username: str, role: str, *institution: str) -> str:
    """Creates a user through the command line and returns a new API token for it."""
    options = ("--institution", *institution) if institution else ()
    created = _registry(
        env,
        *("users", "create", "--username", username, "--role", role, *options),
        input="a long enough password\n",
    )
    assert created.returncode == 0, created.stderr
    return _registry(env, "tokens", "create", "--username", username).stdout.splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_when_up(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_production_init_refuses_to_make_keys(tmp_path, scratch_database_url):
    result = _registry(_env(tmp_path, scratch_database_url, REGISTRY_ENV="production"), "init")
    assert result.returncode == 1
    assert "production never generates keys" in result.stderr
    assert not (tmp_path / "instance" / "keys").exists()


def test_users_create_asks_for_the_password_twice_on_a_terminal(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    with on_terminal(env, "users", "create", "--username", "wu.hr", "--role", "hr") as (
        process,
        screen,
    ):
        screen.expect("Password:")
        screen.type("first attempt at it")
        screen.expect("Repeat for confirmation:")
        screen.type("something else")
        screen.expect("do not match")
        screen.expect("Password:")
        screen.type("a long enough password")
        screen.expect("Repeat for confirmation:")
        screen.type("a long enough password")
        screen.expect("created hr user wu.hr")
        assert process.wait(timeout=30) == 0
    assert "a long enough password" not in screen.shown  # typed, never echoed


@contextmanager
def on_terminal(env, *args: str):
    """``registry *args`` on a pseudo-terminal of its own, in a session whose controlling
    terminal it is (where getpass asks): yields the process and the screen, and kills
    the process afterwards."""
    main_fd, terminal = pty.openpty()
    process = subprocess.Popen(
        [*REGISTRY, *args],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(terminal)
    try:
        yield process, _Terminal(main_fd)
    finally:
        process.kill()
        process.wait()
        os.close(main_fd)


class _Terminal:
    """The far end of a pseudo-terminal, read like a person watching it.

    ``expect`` consumes the screen up to and including the text, and keeps what came
    after it: the process may print its next prompt in the same chunk.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.shown = ""
        self._unread = ""

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self._unread:
            ready, _, _ = select.select([self.fd], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"{text!r} did not appear; the terminal showed {self.shown!r}")
            chunk = os.read(self.fd, 4096).decode(errors="replace")
            self.shown += chunk
            self._unread += chunk
        self._unread = self._unread[self._unread.index(text) + len(text) :]


def test_institutions_list_by_district_in_any_spelling(run, make_institution):
    make_institution(CODES[0], name="甲园", district="杭州市拱墅区")
    make_institution(CODES[1], name="乙园", district="拱墅区")
    make_institution(CODES[2], name="丙园", district="西湖区")
    for spelling in ("拱墅区", "杭州市拱墅区"):
        listed = run("institutions", "list", "--district", spelling, "--format", "json")
        assert sorted(i["name"] for i in json.loads(listed.stdout)) == ["乙园", "甲园"]
    csv_out = run("institutions", "list", "--format", "csv").stdout
    assert csv_out.startswith("\ufeffcode,district,name,ruleset") and len(csv_out.splitlines()) == 4
    unknown = run("institutions", "list", "--district", "火星区")
    assert unknown.exit_code == 1 and "火星区" in unknown.output


@pytest.mark.parametrize(
    "typed", ["2026-03-01", "2026/3/1", "2026.3.1", "2026年3月1日", "20260301"]
)
def test_dates_on_the_command_line_take_the_forms_of_a_roll(run, typed):
    rates = run("rates", "--as-of", typed, "--format", "json")
    assert rates.exit_code == 0, rates.output
    assert json.loads(rates.stdout)["as_of"] == "2026-03-01"
    rescreen = run("rescreen", "--as-of", typed, "--format", "json")
    assert rescreen.exit_code == 0, rescreen.output
    assert json.loads(rescreen.stdout)["as_of"] == "2026-03-01"
