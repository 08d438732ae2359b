"""Backup, wipe, restore: every answer the same, on the database under test (SQLite, or
PostgreSQL through pg_dump and pg_restore). Committed for real, on an instance of its
own, through the commands an operator runs."""

import glob
import json
import os
import shutil
import stat
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from cli import main
from migrations import alembic_config
from registry import clock, create_app, crypto, files
from registry.audit import verify_chain
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.config import load_settings
from registry.db import get_session
from registry.institutions import services as institutions
from tests.conftest import CODES, id_number

PASSPHRASE = "correct horse battery staple"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
BARRED = id_number(1)  # registered, employed, banned
BANNED_ONLY = id_number(2)
REVOKED = id_number(3)  # registered; a ban revoked
CLEAR = id_number(4)  # registered, certified
NEVER_SEEN = id_number(7)


@pytest.fixture(autouse=True)
def fixed_clock():
    with clock.fixed_at(NOW):
        yield


@pytest.fixture
def instance(tmp_path, scratch_database_url, monkeypatch):
    """The environment of an instance of its own, set up by `registry init`; the PostgreSQL
    client tools on PATH."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(folder))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", scratch_database_url)
    monkeypatch.setenv("REGISTRY_LIMIT_PER_MINUTE", "0")
    tools = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if tools:
        monkeypatch.setenv("PATH", f"{tools[-1]}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    return load_settings()


class Apps:
    """Apps made in a test, their connections closed at its end."""

    def __init__(self):
        self.made = []

    def __call__(self, settings):
        self.made.append(create_app(settings))
        return self.made[-1]

    def close(self):
        for app in self.made:
            app.extensions["registry.engine"].dispose()


@pytest.fixture
def apps():
    made = Apps()
    yield made
    made.close()


def _run(app, *args, input=None):
    return CliRunner().invoke(main, list(args), obj=app, input=input)


def _seed(app) -> dict:
    """A bureau, a director, people, bans (one revoked), certificates and an employment,
    all through the API; returns the tokens' headers."""
    with app.app_context():
        session = get_session()
        institutions.create_institution(
            session,
            SystemActor("test"),
            {"code": CODES[0], "name": "西湖区第一托育园", "district": "西湖区"},
        )
        headers = {}
        for role, institution in (("bureau", None), ("director", CODES[0])):
            user = auth.create_user(
                session,
                SystemActor("test"),
                {
                    "username": role,
                    "password": "correct horse battery",
                    "role": role,
                    "institution": institution,
                },
            )
            token = auth.create_token(session, SystemActor("test"), user)
            headers[role] = {"Authorization": f"Bearer {token}"}
        session.commit()
    client = app.test_client()

    def post(url, body, who="bureau", status=201):
        response = client.post(url, json=body, headers=headers[who])
        assert response.status_code == status, response.get_json()
        return response.get_json()

    people = {}
    for number, name in ((BARRED, "王芳"), (REVOKED, "李娜"), (CLEAR, "赵敏")):
        body = {"id_number": number, "name": name, "education": "bachelor", "experience": []}
        people[number] = post("/api/v1/people", body)["id"]
    for number in (BARRED, CLEAR):
        for kind, level in (("health_certificate", None), ("childcare_worker", "四级")):
            post(
                f"/api/v1/people/{people[number]}/certificates",
                {
                    "kind": kind,
                    "level": level,
                    "number": f"{kind}-{number[-4:]}",
                    "issuer": "杭州市西湖区人力资源和社会保障局",
                    "issued_on": "2026-03-01",
                },
            )
    post(
        f"/api/v1/institutions/{CODES[0]}/employments",
        {"id_number": CLEAR, "role": "cook", "start": "2026-11-01", "declaration": True},
        who="director",
    )

    def ban(number, name):
        body = {
            "id_number": number,
            "name": name,
            "category": "abuse",
            "authority": "杭州市西湖区卫生健康局",
            "decision_no": "西卫禁〔2026〕3号",
            "effective_on": "2026-01-01",
        }
        return post("/api/v1/bans", body)["id"]

    ban(BARRED, "王芳")
    ban(BANNED_ONLY, "陈某")
    post(f"/api/v1/bans/{ban(REVOKED, '李娜')}/revoke", {"reason": "复议撤销"}, status=200)
    return headers


def _answers(app, headers) -> dict:
    """What the registry answers: hiring checks, lookups, eligibility, rates, the bans
    list and the audit chain."""
    client = app.test_client()

    def ask(method, url, who, body=None):
        response = client.open(url, method=method, json=body, headers=headers[who])
        assert response.status_code == 200, (url, response.get_json())
        return response.get_json()

    answers = {}
    for number in (BARRED, BANNED_ONLY, REVOKED, CLEAR, NEVER_SEEN):
        check = ask("POST", "/api/v1/ban-checks", "director", {"id_number": number.lower()})
        answers[f"check {number}"] = _stable(check)
    for number in (BARRED, REVOKED, CLEAR):
        found = ask("POST", "/api/v1/people/lookup", "director", {"id_number": number})
        answers[f"lookup {number}"] = found
    answers["eligibility"] = _stable(
        ask(
            "POST",
            "/api/v1/eligibility",
            "director",
            {"id_number": CLEAR, "role": "caregiver", "as_of": "2026-11-20"},
        )
    )
    answers["rates"] = ask("GET", "/api/v1/rates?as_of=2026-11-20", "bureau")
    answers["bans"] = ask("GET", "/api/v1/bans", "bureau")
    return answers


def _stable(answer: dict) -> dict:
    """An answer without what every new question changes: the number of the check made
    and its receipt."""
    return {k: v for k, v in answer.items() if k not in ("check_id", "receipt", "checked_at")}


def _audit(app) -> tuple[int, object]:
    with app.app_context():
        session = get_session()
        result = verify_chain(session)
        session.rollback()
    return result


def _wipe(settings) -> None:
    """The database and the keys gone, as after losing the server."""
    database = files.sqlite_path(settings.database_url)
    if database is not None:
        for path in files.private_files(settings):
            path.unlink(missing_ok=True)
    else:
        engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            for table in sa.inspect(connection).get_table_names():
                connection.exec_driver_sql(f'DROP TABLE "{table}" CASCADE')
        engine.dispose()
    shutil.rmtree(settings.keys_dir)
    (settings.instance_path / files.ANCHOR).unlink(missing_ok=True)


def _backup(app, folder):
    return _run(app, "backup", str(folder), "--passphrase", "-", input=PASSPHRASE + "\n")


def _restore(folder, *options, passphrase=PASSPHRASE):
    return CliRunner().invoke(
        main, ["restore", str(folder), "--passphrase", "-", *options], input=passphrase + "\n"
    )


def test_backup_wipe_restore_gives_every_answer_the_same(instance, apps, tmp_path):
    app = apps(instance)
    headers = _seed(app)
    before = _answers(app, headers)
    assert before[f"check {BARRED}"]["result"] == "barred"
    assert before[f"check {CLEAR}"]["result"] == "clear"
    assert before[f"lookup {CLEAR}"]["name"] == "赵敏"
    verified = _run(app, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    events, problem = _audit(app)
    assert problem is None and events > 10
    anchor = (instance.instance_path / files.ANCHOR).read_bytes()

    folder = tmp_path / "backup"
    result = _backup(app, folder)
    assert result.exit_code == 0, result.output
    kind = "sqlite" if files.sqlite_path(instance.database_url) else "postgresql"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["database"]["kind"] == kind
    head = ScriptDirectory.from_config(alembic_config(instance.database_url)).get_current_head()
    assert manifest["database"]["alembic_revision"] == head
    assert manifest["created_at"] == NOW.isoformat()
    keyring = crypto.Keyring.load(instance.keys_dir)
    assert set(manifest["key_check"]["blind_index"]) == set(keyring.blind_keys)
    assert manifest["key_files"] == 3 and "and 3 key files" in result.output
    assert set(manifest["files"]) == {
        "audit-anchor.json",
        "keys.enc",
        "database.sqlite3" if kind == "sqlite" else "database.pgdump",
    }
    for name in manifest["files"]:
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    # The keys are sealed: no key's base64 is readable in any file of the backup.
    for path in (instance.keys_dir).rglob("*.key"):
        secret = path.read_bytes().strip()
        assert all(secret not in (folder / name).read_bytes() for name in manifest["files"])
    app.extensions["registry.engine"].dispose()

    _wipe(instance)
    with pytest.raises(crypto.KeyFileError):
        create_app(instance)

    restored = _restore(folder)
    assert restored.exit_code == 0, restored.output
    assert "the keys match the database" in restored.output
    assert (instance.instance_path / files.ANCHOR).read_bytes() == anchor

    again = apps(instance)
    # The chain as it was, and the restore recorded at its end.
    events_after, problem = _audit(again)
    assert problem is None and events_after == events + 1
    verified = _run(again, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert _answers(again, headers) == before


def test_restore_refuses_a_database_in_use_unless_forced(instance, apps, tmp_path):
    app = apps(instance)
    _seed(app)
    assert _backup(app, tmp_path / "backup").exit_code == 0
    app.extensions["registry.engine"].dispose()

    refused = _restore(tmp_path / "backup")
    assert refused.exit_code == 1
    assert "数据库不是空的" in refused.output and "--force" in refused.output
    assert "Nothing was restored" in refused.output

    keys_before = sorted(p.name for p in instance.keys_dir.rglob("*.key"))
    forced = _restore(tmp_path / "backup", "--force")
    assert forced.exit_code == 0, forced.output
    kept = [p for p in instance.instance_path.iterdir() if p.name.startswith("keys.replaced-")]
    assert len(kept) == 1 and sorted(p.name for p in kept[0].rglob("*.key")) == keys_before
    assert kept[0].stat().st_mode & 0o777 == 0o700


def test_a_wrong_passphrase_fails_cleanly_and_changes_nothing(instance, apps, tmp_path):
    app = apps(instance)
    assert _backup(app, tmp_path / "backup").exit_code == 0
    app.extensions["registry.engine"].dispose()
    _wipe(instance)

    result = _restore(tmp_path / "backup", passphrase="not the passphrase at all")
    assert result.exit_code == 1
    assert "口令无法打开此备份中的密钥" in result.output
    assert "nothing was restored" in result.output and "Traceback" not in result.output
    assert not instance.keys_dir.exists()
    assert (
        files.sqlite_path(instance.database_url) is None
        or not files.sqlite_path(instance.database_url).exists()
    )


def test_a_tampered_file_fails_on_its_hash(instance, apps, tmp_path):
    app = apps(instance)
    folder = tmp_path / "backup"
    assert _backup(app, folder).exit_code == 0
    app.extensions["registry.engine"].dispose()
    _wipe(instance)
    database = next(p for p in folder.iterdir() if p.name.startswith("database."))
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))

    result = _restore(folder)
    assert result.exit_code == 1
    assert f"{database.name}：其 SHA-256 与清单不符" in result.output
    assert not instance.keys_dir.exists()

    # A manifest rewritten to match the altered file still fails: the sealed keys carry
    # the database's hash.
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][database.name]["sha256"] = __import__("hashlib").sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = _restore(folder)
    assert result.exit_code == 1
    assert "不是与这些密钥一同备份的数据库" in result.output
    assert not instance.keys_dir.exists()


def test_a_short_passphrase_is_refused(instance, apps, tmp_path):
    app = apps(instance)
    result = _run(app, "backup", str(tmp_path / "b"), "--passphrase", "-", input="short\n")
    assert result.exit_code == 1
    assert "口令至少需要 12 个字符" in result.output
    assert not (tmp_path / "b").exists()


def test_the_passphrase_is_never_an_argument(instance, apps, tmp_path):
    app = apps(instance)
    result = _run(app, "backup", str(tmp_path / "b"), "--passphrase", PASSPHRASE)
    assert result.exit_code == 2 and not (tmp_path / "b").exists()


def test_pg_dump_missing_from_path_is_named(instance, apps, tmp_path, monkeypatch):
    if files.sqlite_path(instance.database_url) is not None:
        pytest.skip("SQLite is copied by its own backup API")
    app = apps(instance)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    result = _backup(app, tmp_path / "b")
    assert result.exit_code == 1
    assert "在 PATH 中找不到 pg_dump" in result.output


def test_every_file_of_the_keys_folder_comes_back(instance, apps, tmp_path):
    """Retired keys (backups made before a rotation need them) and key files of other
    purposes (a checkpoint key, say) are sealed and restored with the others."""
    keys = instance.keys_dir
    old = crypto.Keyring.load(keys)
    crypto.generate_key(keys, "encryption")
    crypto.retire_key(keys, "encryption", old.active_encryption_kid)
    other = keys / "checkpoint"
    other.mkdir(mode=0o700)
    fd = os.open(other / "20261120T020000000000Z-abcdef.pem", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"a key file of another purpose\n")
    os.close(fd)
    before = {p.relative_to(keys): p.read_bytes() for p in keys.rglob("*") if p.is_file()}
    app = apps(instance)
    result = _backup(app, tmp_path / "backup")
    assert result.exit_code == 0, result.output
    app.extensions["registry.engine"].dispose()
    assert json.loads((tmp_path / "backup" / "manifest.json").read_text())["key_files"] == 5

    _wipe(instance)
    restored = _restore(tmp_path / "backup")
    assert restored.exit_code == 0, restored.output
    after = {p.relative_to(keys): p.read_bytes() for p in keys.rglob("*") if p.is_file()}
    assert after == before
    for path in [keys, *keys.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600)
