"""Files and folders of an instance: only the account running the registry may use them.

The instance folder is 700; the SQLite database, its WAL and shared-memory files and the
audit anchor are 600. New ones are made so (the database file is created 600 before
SQLite first opens it, and SQLite gives its WAL and shared-memory files the database's
mode). Existing ones that are more open, from a release before this one or a copy made
with another umask, are tightened at start and the change is logged: tightening takes
nothing from the registry's own account. A file the registry cannot chmod (another
account owns it) stops the start with the command that fixes it.

The keys are not fixed silently: a key that others could read may have been copied, so
``crypto.check_private`` refuses them with the ``chmod`` to run, for the operator to
decide.
"""

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from registry.config import ConfigError, Settings
from registry.messages import _

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
ANCHOR = "audit-anchor.json"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or one in memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def private_files(settings: Settings) -> list[Path]:
    """The files of an instance that must be 600 (those that exist or will)."""
    files = [settings.instance_path / ANCHOR]
    database = sqlite_path(settings.database_url)
    if database is not None:
        files += [database] + [Path(f"{database}{suffix}") for suffix in SQLITE_COMPANIONS]
    return files


def secure_instance(settings: Settings) -> list[tuple[Path, int, int]]:
    """Make the instance folder and the database file if missing, with their modes, and
    tighten those that are more open; returns (path, old mode, new mode) of each change."""
    changed = []
    folder = settings.instance_path
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    changed += _tighten(folder, FOLDER_MODE)
    database = sqlite_path(settings.database_url)
    if database is not None and not database.exists() and database.parent.is_dir():
        try:
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass  # another process made it first; its mode is checked below
    for path in private_files(settings):
        if path.exists():
            changed += _tighten(path, FILE_MODE)
    for path, old, new in changed:
        log.warning("tightened the mode of %s from %o to %o", path, old, new)
    return changed


def _tighten(path: Path, wanted: int) -> list[tuple[Path, int, int]]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return []
    new = mode & wanted
    try:
        os.chmod(path, new)
    except PermissionError as exc:
        raise ConfigError(
            _(
                "{path}: the group or other users may use it (mode {mode:o}) and the registry "
                "cannot change that; fix it with: chmod {wanted:o} {path}",
                path=path,
                mode=mode,
                wanted=wanted,
            )
        ) from exc
    return [(path, mode, new)]
