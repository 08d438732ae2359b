"""Files and folders of an instance: the folder 700; the database, its WAL and shared
memory and the audit anchor 600, made so and tightened at start; keys that the group or
others may use are refused with the chmod that fixes them."""

import logging
import os
import stat

import pytest
from click.testing import CliRunner

from cli import main
from registry import create_app, crypto, files
from registry.audit import record_event
from registry.auth.models import SystemActor
from registry.config import load_settings
from registry.db import command_transaction


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def instance(tmp_path, monkeypatch, loose_umask):
    """The environment of a SQLite instance made by `registry init` under umask 022."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(folder))
    monkeypatch.delenv("REGISTRY_DATABASE_URL", raising=False)
    monkeypatch.delenv("REGISTRY_KEYS_DIR", raising=False)
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    return load_settings()


def test_init_makes_every_file_private_whatever_the_umask(instance):
    assert os.umask(0o022) == 0o022  # the command put the process's mask back
    assert _mode(instance.instance_path) == 0o700
    database = files.sqlite_path(instance.database_url)
    assert database.parent == instance.instance_path and _mode(database) == 0o600
    for path in [instance.keys_dir, *instance.keys_dir.rglob("*")]:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_the_wal_shared_memory_and_anchor_are_private(instance):
    app = create_app(instance)
    with app.app_context(), command_transaction() as session:
        record_event(session, SystemActor("test"), "test.event", "test:1")
    app.extensions["registry.engine"].dispose()
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    database = files.sqlite_path(instance.database_url)
    app = create_app(instance)
    try:
        with app.extensions["registry.engine"].connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM audit_events")
            for suffix in ("-wal", "-shm"):
                companion = database.with_name(database.name + suffix)
                assert companion.exists() and _mode(companion) == 0o600, companion
    finally:
        app.extensions["registry.engine"].dispose()
    assert _mode(instance.instance_path / files.ANCHOR) == 0o600


def test_looser_files_are_tightened_at_start_and_logged(instance, caplog):
    database = files.sqlite_path(instance.database_url)
    anchor = instance.instance_path / files.ANCHOR
    anchor.write_text("{}")
    wal = database.with_name(database.name + "-wal")
    wal.touch()
    for path, mode in ((instance.instance_path, 0o755), (database, 0o644), (anchor, 0o644)):
        path.chmod(mode)
    wal.chmod(0o664)
    with caplog.at_level(logging.WARNING, logger="registry.files"):
        app = create_app(instance)
    app.extensions["registry.engine"].dispose()
    assert _mode(instance.instance_path) == 0o700
    assert (_mode(database), _mode(anchor)) == (0o600, 0o600)
    logged = caplog.text
    # SQLite removes an empty WAL when the last connection closes: the log tells.
    assert f"tightened the mode of {wal} from 664 to 600" in logged
    assert f"tightened the mode of {database} from 644 to 600" in logged
    assert f"tightened the mode of {instance.instance_path} from 755 to 700" in logged


@pytest.mark.parametrize(
    "where, mode, fix",
    [
        (lambda keys: keys, 0o755, 700),
        (lambda keys: keys / "encryption", 0o750, 700),
        (lambda keys: next((keys / "blind_index").iterdir()), 0o640, 600),
        (lambda keys: next((keys / "receipts").iterdir()), 0o602, 600),
    ],
)
def test_keys_the_group_or_others_may_use_are_refused_with_the_fix(instance, where, mode, fix):
    path = where(instance.keys_dir)
    path.chmod(mode)
    with pytest.raises(crypto.KeyFileError) as info:
        create_app(instance)
    assert f"fix it with: chmod {fix} {path}" in str(info.value)
    assert _mode(path) == mode  # not changed behind the operator's back
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 1 and f"chmod {fix} {path}" in result.output
    os.system(f"chmod {fix} {path}")  # noqa: S605 - the command the message gives
    app = create_app(instance)
    app.extensions["registry.engine"].dispose()
