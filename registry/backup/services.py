"""Backups that restore: the database and the keys, one consistent pair.

A backup folder holds:

    manifest.json       format, created time, database kind and migration, the key check
                        values, and every other file with its SHA-256 (written last)
    database.sqlite3    SQLite: a copy made with SQLite's online backup API
    database.pgdump     PostgreSQL: ``pg_dump --format=custom``
    keys.enc            every file of the keys folder, sealed with AES-256-GCM under a key
                        derived from a passphrase with scrypt; inside, the database file's
                        hash again, so that the pair cannot be swapped unnoticed
    audit-anchor.json   the audit anchor, when the instance keeps one

A restore checks the hashes, opens the keys, checks that they are the database's keys
(their check values) and only then writes anything. Functions here take the settings
and never start the app: the app's own start check runs after a restore.
"""

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from registry import crypto, files
from registry.config import Settings
from registry.errors import RegistryError
from registry.keys import matching
from registry.keys.services import exclusive
from registry.messages import _

FORMAT = 1
MANIFEST = "manifest.json"
KEYS = "keys.enc"
DATABASE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
ANCHOR = files.ANCHOR
MIN_PASSPHRASE = 12
# Files of the keys folder that are no keys: a lock and a key being written.
_NOT_KEYS = (".rotation.lock",)


class BackupError(RegistryError):
    code = "backup_failed"


def database_kind(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    if backend not in DATABASE:
        raise BackupError(_("cannot back up a {backend} database", backend=backend))
    return backend


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(
            _(
                "the passphrase must have at least {count} characters",
                count=MIN_PASSPHRASE,
            )
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, files.FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _key_files(keys_dir: Path) -> dict[str, str]:
    """Every file of the keys folder (retired keys and any other key file included), by
    path relative to it, base64."""
    found = {}
    for folder, dirs, names in os.walk(keys_dir):
        dirs.sort()
        for name in sorted(names):
            if name in _NOT_KEYS or name.endswith(".partial"):
                continue
            path = Path(folder) / name
            found[path.relative_to(keys_dir).as_posix()] = base64.b64encode(
                path.read_bytes()
            ).decode()
    return found


# -- backup ----------------------------------------------------------------------------


def backup(settings: Settings, target: Path, passphrase: str, now: datetime) -> dict:
    """Write a backup of the instance to the folder ``target`` (new or empty); returns
    its manifest. Holds the key-rotation lock, so that the keys copied are those of the
    database copied."""
    check_passphrase(passphrase)
    kind = database_kind(settings.database_url)
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(
            _("{folder} is not an empty folder; a backup goes into a new one", folder=target)
        )
    target.mkdir(mode=files.FOLDER_MODE, parents=True, exist_ok=True)
    database = target / DATABASE[kind]
    keys_dir = settings.keys_dir
    with exclusive(keys_dir):
        if kind == "sqlite":
            _sqlite_copy(files.sqlite_path(settings.database_url), database)
            revision, key_check = _sqlite_state(database)
        else:
            revision, key_check = _database_state(settings.database_url)
            _pg_dump(settings.database_url, database)
        if key_check is None:
            raise BackupError(
                _(
                    "the database holds no key check value yet: run `registry init` first, "
                    "then back up"
                )
            )
        matching.compare(key_check, keys_dir)  # never a backup of keys that do not fit
        database_hash = _sha256(database)
        payload = {
            "format": FORMAT,
            "database": {"file": database.name, "sha256": database_hash},
            "key_check": key_check,
            "files": _key_files(keys_dir),
        }
    box = crypto.wrap_secret(json.dumps(payload).encode(), passphrase)
    _write_private(target / KEYS, json.dumps(box).encode())
    anchor = settings.instance_path / ANCHOR
    if anchor.exists():
        _write_private(target / ANCHOR, anchor.read_bytes())
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "database": {"kind": kind, "alembic_revision": revision},
        "key_check": key_check,
        "key_files": len(payload["files"]),
        "files": {
            path.name: {"sha256": _sha256(path), "bytes": path.stat().st_size}
            for path in sorted(target.iterdir())
        },
    }
    _write_private(target / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    crypto._fsync_dir(target)
    return manifest


def _sqlite_copy(source: Path, target: Path) -> None:
    if source is None or not source.exists():
        raise BackupError(_("there is no database to back up at {path}", path=source))
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, files.FILE_MODE))
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)  # a consistent copy while servers keep writing
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def _sqlite_state(path: Path) -> tuple[str | None, dict | None]:
    return _database_state(f"sqlite:///{path}")


def _database_state(database_url: str) -> tuple[str | None, dict | None]:
    """The migration the database is at and its key check values (None when missing)."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            revision = (
                connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
                if inspector.has_table("alembic_version")
                else None
            )
            key_check = None
            if inspector.has_table("key_check"):
                raw = connection.scalar(sa.text('SELECT "values" FROM key_check WHERE id = 1'))
                key_check = json.loads(raw) if isinstance(raw, str) else raw
            return revision, key_check
    finally:
        engine.dispose()


# -- PostgreSQL ------------------------------------------------------------------------


def _pg_environment(database_url: str) -> dict[str, str]:
    """The connection as libpq's environment variables: the password never on a command
    line, where any account could read it in the process list."""
    url = make_url(database_url)
    env = dict(os.environ)
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
        ("PGSSLMODE", url.query.get("sslmode")),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            _(
                "{tool} was not found on PATH: install the PostgreSQL client tools of the "
                "server's version (Debian: apt install postgresql-client) or add their folder "
                "to PATH",
                tool=name,
            )
        )
    return path


def _run_pg(args: list[str], database_url: str) -> None:
    result = subprocess.run(  # noqa: S603 - a tool found on PATH, no shell, fixed arguments
        args, env=_pg_environment(database_url), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise BackupError(
            _(
                "{tool} failed (exit status {status}): {reason}",
                tool=Path(args[0]).name,
                status=result.returncode,
                reason=lines[0] if lines else "-",
            )
        )


def _pg_dump(database_url: str, target: Path) -> None:
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, files.FILE_MODE))
    _run_pg(
        [
            _pg_tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={target}",
        ],
        database_url,
    )


def _pg_restore(database_url: str, source: Path) -> None:
    _run_pg(
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={make_url(database_url).database}",
            str(source),
        ],
        database_url,
    )


# -- restore ---------------------------------------------------------------------------


def read_manifest(source: Path) -> dict:
    path = Path(source) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            _("{path} is missing: not a backup, or one that did not finish", path=path)
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(_("{path} is not a manifest ({reason})", path=path, reason=exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(
            _(
                "{path}: unknown backup format {format}",
                path=path,
                format=manifest.get("format") if isinstance(manifest, dict) else "?",
            )
        )
    return manifest


def verify_files(source: Path, manifest: dict) -> None:
    """Every file the manifest lists is there with its hash; nothing else is trusted."""
    listed = manifest.get("files") or {}
    needed = {KEYS, DATABASE.get(manifest.get("database", {}).get("kind"), "?")}
    for name in sorted(needed - set(listed)):
        raise BackupError(_("the manifest lists no {file}; nothing was restored", file=name))
    for name, entry in sorted(listed.items()):
        path = Path(source) / name
        if name != path.name or name in (".", ".."):
            raise BackupError(_("the manifest names a file outside the backup: {file}", file=name))
        if not path.is_file():
            raise BackupError(
                _("{file} is missing from the backup; nothing was restored", file=name)
            )
        if _sha256(path) != entry.get("sha256"):
            raise BackupError(
                _(
                    "{file}: its SHA-256 is not the one in the manifest (damaged or altered); "
                    "nothing was restored",
                    file=name,
                )
            )


def open_keys(source: Path, manifest: dict, passphrase: str) -> dict:
    """The sealed contents of ``keys.enc``, checked against the manifest."""
    try:
        box = json.loads((Path(source) / KEYS).read_text(encoding="utf-8"))
        payload = json.loads(crypto.unwrap_secret(box, passphrase))
    except (crypto.WrongPassphrase, ValueError) as exc:
        raise BackupError(
            _(
                "the passphrase does not open the keys of this backup (or {file} was altered); "
                "nothing was restored",
                file=KEYS,
            )
        ) from exc
    database = DATABASE[manifest["database"]["kind"]]
    if payload.get("database", {}).get("sha256") != manifest["files"][database]["sha256"]:
        raise BackupError(
            _(
                "{file} is not the database these keys were backed up with; nothing was restored",
                file=database,
            )
        )
    return payload


def _database_empty(database_url: str) -> bool:
    path = files.sqlite_path(database_url)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return True
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return not sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _keys_empty(keys_dir: Path) -> bool:
    return not keys_dir.exists() or not any(p.is_file() for p in keys_dir.rglob("*"))


def restore(settings: Settings, source: Path, passphrase: str, *, force: bool, now) -> dict:
    """Put the database and the keys of the backup in ``source`` back in place of the
    instance's; returns what was done. Nothing is written before the backup's hashes,
    passphrase and key check values have all been checked."""
    source = Path(source)
    manifest = read_manifest(source)
    kind = manifest.get("database", {}).get("kind")
    if kind not in DATABASE:
        raise BackupError(_("unknown database kind {kind} in the manifest", kind=kind))
    configured = database_kind(settings.database_url)
    if kind != configured:
        raise BackupError(
            _(
                "this is a backup of a {kind} database and the registry is configured for "
                "{configured}; set REGISTRY_DATABASE_URL to a {kind} database",
                kind=kind,
                configured=configured,
            )
        )
    verify_files(source, manifest)
    payload = open_keys(source, manifest, passphrase)
    database = source / DATABASE[kind]
    if kind == "sqlite":
        _revision, key_check = _sqlite_state(database)
        if key_check != payload.get("key_check"):
            raise BackupError(
                _("the database of the backup has other key check values than its keys")
            )
    keys_dir = settings.keys_dir
    occupied = []
    if not _database_empty(settings.database_url):
        occupied.append(_("the database is not empty"))
    if not _keys_empty(keys_dir):
        occupied.append(_("{folder} holds keys", folder=keys_dir))
    if occupied and not force:
        raise BackupError(
            _(
                "{what}; restoring would replace them. Nothing was restored: run again with "
                "--force to replace them (the keys now there are kept aside)",
                what="; ".join(occupied),
            )
        )
    settings.instance_path.mkdir(mode=files.FOLDER_MODE, parents=True, exist_ok=True)
    keys_dir.parent.mkdir(mode=files.FOLDER_MODE, parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".keys-restoring-", dir=keys_dir.parent))
    try:
        for relative, data in payload["files"].items():
            path = staged / relative
            if ".." in Path(relative).parts or Path(relative).is_absolute():
                raise BackupError(
                    _("the manifest names a file outside the backup: {file}", file=relative)
                )
            path.parent.mkdir(mode=files.FOLDER_MODE, parents=True, exist_ok=True)
            _write_private(path, base64.b64decode(data))
        matching.compare(payload["key_check"], staged)  # the keys are the database's
        crypto.Keyring.load(staged)  # and load
        if kind == "sqlite":
            _sqlite_restore(database, files.sqlite_path(settings.database_url))
        else:
            _pg_replace(settings.database_url, database)
        kept = None
        if keys_dir.exists() and _keys_empty(keys_dir):
            shutil.rmtree(keys_dir)  # folders only: nothing to keep
        elif keys_dir.exists():
            kept = keys_dir.with_name(f"{keys_dir.name}.replaced-{now:%Y%m%dT%H%M%S}")
            keys_dir.rename(kept)
        staged.rename(keys_dir)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    anchor = settings.instance_path / ANCHOR
    anchor_kept = None
    if anchor.exists():
        anchor_kept = anchor.with_name(f"{ANCHOR}.replaced-{now:%Y%m%dT%H%M%S}")
        anchor.rename(anchor_kept)
    if (source / ANCHOR).exists():
        _write_private(anchor, (source / ANCHOR).read_bytes())
    return {
        "manifest": manifest,
        "keys": len(payload["files"]),
        "keys_kept": kept,
        "anchor": (source / ANCHOR).exists(),
        "anchor_kept": anchor_kept,
    }


def _sqlite_restore(source: Path, target: Path) -> None:
    if not target.exists():
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, files.FILE_MODE))
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode = WAL")
    finally:
        dst.close()
        src.close()


def _pg_replace(database_url: str, dump: Path) -> None:
    """Drop what the configured database holds, then load the dump into it."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            for table in sa.inspect(connection).get_table_names():
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    finally:
        engine.dispose()
    _pg_restore(database_url, dump)
