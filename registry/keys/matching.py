"""Keys that match their database.

``registry init`` (or the first start after the upgrade that added it) stores the check
value of every key in the ``key_check`` row; at every start the keys in the folder must
be the ones recorded there. A server started with another instance's keys, or with a key
replaced, would encrypt under keys nobody can read later, and, worse, compute blind
indexes that match no ban: barred people would check clear. It refuses to start instead,
naming the key and what to do.

A key rotation adds keys before it records them and retires the old ones after: keys the
database does not know are accepted while at least one recorded key of their purpose is
in the folder (or in ``retired/``) and every recorded key found there is the same key.
"""

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import crypto
from registry.config import ConfigError
from registry.db import utcnow
from registry.keys.models import KeyCheck
from registry.messages import _


class KeyMismatch(ConfigError):
    """The keys in the folder are not the ones the database was written with."""


def current_values(keys_dir: Path) -> dict[str, dict[str, str]]:
    """The check values to record: the keys in use (not the retired ones)."""
    return crypto.check_values(keys_dir)


def compare(stored: dict, keys_dir: Path) -> None:
    """Raise ``KeyMismatch`` unless the keys in ``keys_dir`` are those of ``stored``."""
    found = crypto.check_values(keys_dir, retired=True)
    for purpose in crypto.PURPOSES:
        expected = stored.get(purpose) or {}
        if not expected:
            continue
        have = found.get(purpose, {})
        for kid in sorted(expected):
            if kid in have and have[kid] != expected[kid]:
                raise KeyMismatch(
                    _(
                        "the {purpose} key {kid} in {folder} is not the key this database was "
                        "written with (its check value differs); put back this database's keys "
                        "from the backup made with it (`registry restore DIR`)",
                        purpose=purpose,
                        kid=kid,
                        folder=keys_dir,
                    )
                )
        if not set(expected) & set(have):
            raise KeyMismatch(
                _(
                    "none of the {purpose} keys in {folder} ({found}) is one this database was "
                    "written with ({expected}): they are another instance's keys, or this is "
                    "another instance's database. Put back the keys that belong to it "
                    "(`registry restore DIR` from the backup made with it)",
                    purpose=purpose,
                    folder=keys_dir,
                    found=", ".join(sorted(have)) or "-",
                    expected=", ".join(sorted(expected)),
                )
            )


def check_database(engine: sa.Engine, keyring: crypto.Keyring) -> None:
    """At start: the keys must match the database. A database without the check value yet
    (made before it existed) gets it, once its stored rows decrypt under these keys. A
    database not yet migrated is left to ``registry init``."""
    keys_dir = keyring.keys_dir
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(KeyCheck.__tablename__):
            return
        stored = connection.scalar(sa.select(KeyCheck.values).where(KeyCheck.id == 1))
        if stored is None:
            _check_stored_rows(connection, keyring)
    if stored is not None:
        compare(stored, keys_dir)
        return
    try:
        with engine.connect() as connection:
            connection.execution_options(registry_writes=True)
            with connection.begin():
                connection.execute(
                    sa.insert(KeyCheck).values(
                        id=1, values=current_values(keys_dir), recorded_at=utcnow()
                    )
                )
    except sa.exc.IntegrityError:
        pass  # another process of this instance recorded it first: compare with it
    with engine.connect() as connection:
        compare(connection.scalar(sa.select(KeyCheck.values)), keys_dir)


def _check_stored_rows(connection: sa.Connection, keyring: crypto.Keyring) -> None:
    """The first person and the first ban must decrypt under these keys, and their blind
    index must be the one these keys compute, before these keys are recorded as the
    database's."""
    from registry.bans import services as bans
    from registry.bans.models import Ban
    from registry.identity import IdentityNumber
    from registry.people import services as people
    from registry.people.models import Person

    for model, context in ((Person, people.NUMBER_CONTEXT), (Ban, bans.NUMBER_CONTEXT)):
        row = connection.execute(
            sa.select(
                model.id, model.id_type, model.id_index, model.id_index_kid, model.id_number_enc
            )
            .order_by(model.id)
            .limit(1)
        ).first()
        if row is None:
            continue
        table = model.__tablename__
        try:
            number = keyring.decrypt(row.id_number_enc, context)
        except crypto.DecryptionError as exc:
            raise KeyMismatch(
                _(
                    "{table} {row}: cannot be read with the keys in {folder} ({reason}); these "
                    "are not the keys this database was written with: put back its keys",
                    table=table,
                    row=row.id,
                    folder=keyring.keys_dir,
                    reason=exc,
                )
            ) from exc
        kid = row.id_index_kid
        canonical = IdentityNumber(row.id_type, number).canonical
        if kid not in keyring.blind_keys or keyring.blind_index(canonical, kid) != row.id_index:
            raise KeyMismatch(
                _(
                    "{table} {row}: its blind index was computed with blind_index key {kid}, "
                    "which is not in {folder}: put back this database's keys",
                    table=table,
                    row=row.id,
                    kid=kid,
                    folder=keyring.keys_dir,
                )
            )


def record(session: Session, keys_dir: Path) -> None:
    """Store the check values of the keys now in the folder (``init``, key rotation), in
    the caller's transaction."""
    row = session.get(KeyCheck, 1)
    if row is None:
        session.add(KeyCheck(id=1, values=current_values(keys_dir), recorded_at=utcnow()))
    else:
        row.values = current_values(keys_dir)
        row.recorded_at = utcnow()


def stored_values(session: Session) -> dict | None:
    return session.scalar(sa.select(KeyCheck.values).where(KeyCheck.id == 1))
