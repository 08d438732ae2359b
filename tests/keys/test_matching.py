"""At start the registry refuses keys that are not its database's, naming the key and
what to do; a database made before the check value gets it at its first start."""

import base64
import os
import secrets
import shutil

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from cli import main
from migrations import alembic_config
from registry import crypto
from registry.auth.models import SystemActor
from registry.config import ConfigError
from registry.db import get_session
from registry.identity import parse_identity
from registry.keys import matching
from registry.keys.models import KeyCheck
from registry.people import services as people
from tests.conftest import id_number


@pytest.fixture
def own(make_app, scratch_database_url, tmp_path):
    """An instance of its own: keys, a migrated database, the check value stored at its
    first start, one person registered."""
    keys = tmp_path / "keys"
    crypto.generate_missing_keys(keys)
    command.upgrade(alembic_config(scratch_database_url), "head")
    app = make_app(database_url=scratch_database_url, keys_dir=keys)
    with app.app_context():
        session = get_session()
        people.register_person(
            session,
            SystemActor("test"),
            {
                "identity": parse_identity(id_number(1)),
                "name": "王芳",
                "education": "bachelor",
                "major": None,
                "experience": [],
            },
        )
        session.commit()
    return app, keys


def _stored(app) -> dict | None:
    with app.app_context():
        session = get_session()
        values = matching.stored_values(session)
        session.rollback()
    return values


def test_the_first_start_stores_the_check_value_of_every_key(own):
    app, keys = own
    stored = _stored(app)
    keyring = crypto.Keyring.load(keys)
    assert set(stored) == {"blind_index", "encryption", "receipts"}
    assert set(stored["blind_index"]) == set(keyring.blind_keys)
    assert set(stored["encryption"]) == set(keyring.encryption_keys)
    assert set(stored["receipts"]) == set(keyring.signing_keys)
    # Keyed values: nothing of a key is in them.
    for path in keys.rglob("*.key"):
        raw = base64.b64decode(path.read_bytes())
        assert all(raw.hex()[:32] != value for v in stored.values() for value in v.values())


def test_keys_of_another_instance_are_refused_at_start(own, make_app, tmp_path):
    app, _keys = own
    other = tmp_path / "other-keys"
    crypto.generate_missing_keys(other)
    with pytest.raises(matching.KeyMismatch) as info:
        make_app(database_url=app.extensions["registry.settings"].database_url, keys_dir=other)
    message = str(info.value)
    assert "都不是写入本数据库时所用的密钥" in message
    assert "another instance's keys" in message and "registry restore DIR" in message
    assert str(other) in message


def test_a_replaced_key_is_named_at_start(own, make_app):
    app, keys = own
    path = next((keys / "blind_index").glob("*.key"))
    path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(secrets.token_bytes(32)) + b"\n")
    os.close(fd)
    with pytest.raises(matching.KeyMismatch) as info:
        make_app(database_url=app.extensions["registry.settings"].database_url, keys_dir=keys)
    kid = path.name.removesuffix(".key")
    assert f"blind_index 密钥 {kid} 不是写入本数据库时所用的密钥" in str(info.value)


def test_commands_refuse_to_start_with_keys_of_another_instance(own, tmp_path, monkeypatch):
    app, _keys = own
    settings = app.extensions["registry.settings"]
    other = tmp_path / "other-keys"
    crypto.generate_missing_keys(other)
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(settings.instance_path))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REGISTRY_KEYS_DIR", str(other))
    for args in (["audit", "verify"], ["init"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert "another instance's keys" in result.output and "Traceback" not in result.output


def test_an_old_database_gets_the_value_only_when_its_rows_read_under_the_keys(
    own, make_app, tmp_path
):
    app, keys = own
    url = app.extensions["registry.settings"].database_url
    engine = app.extensions["registry.engine"]
    with engine.begin() as connection:
        connection.execute(sa.delete(KeyCheck))  # as before the check value existed
    other = tmp_path / "other-keys"
    crypto.generate_missing_keys(other)
    with pytest.raises(ConfigError) as info:
        make_app(database_url=url, keys_dir=other)
    assert "people 1" in str(info.value) and "put back" in str(info.value)
    assert _stored(app) is None  # nothing recorded for the wrong keys

    make_app(database_url=url, keys_dir=keys)
    assert _stored(app) == matching.current_values(keys)


def test_a_retired_key_still_vouches_for_the_database(own, make_app):
    """A rotation stopped after retiring the old keys and before recording the new."""
    app, keys = own
    keyring = crypto.Keyring.load(keys)
    for purpose in ("blind_index", "encryption"):
        crypto.generate_key(keys, purpose)
    crypto.retire_key(keys, "blind_index", keyring.active_blind_kid)
    crypto.retire_key(keys, "encryption", keyring.active_encryption_kid)
    make_app(database_url=app.extensions["registry.settings"].database_url, keys_dir=keys)
    shutil.rmtree(keys / "retired")
    with pytest.raises(matching.KeyMismatch):
        make_app(database_url=app.extensions["registry.settings"].database_url, keys_dir=keys)
