import time
from datetime import UTC, datetime

import click

from cli.common import cli_actor, get_app, session_scope
from registry import crypto
from registry.imports.turns import wait_for_merges
from registry.keys import matching, services
from registry.messages import _

# Passes over the tables before giving up on rows that servers still write under old keys.
PASSES = 3
PROGRESS_EVERY = 5.0  # seconds


@click.group()
def keys():
    """The keys that protect identity numbers."""


@keys.command("rotate")
@click.option(
    "--batch",
    "batch_size",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="rows re-keyed in one transaction",
)
@click.option(
    "--grace",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds to let running servers load the new keys before rows move to them",
)
@click.option(
    "--keys-only",
    is_flag=True,
    help="make the new keys and stop: copy them to every other server, then run again",
)
def rotate(batch_size, grace, keys_only):
    """New blind-index and encryption keys: re-key every row in batches, then retire the
    old keys. Safe to run again after an interruption: it continues where it stopped."""
    keys_dir = get_app().extensions["registry.settings"].keys_dir
    with services.exclusive(keys_dir):
        with session_scope() as session:
            services.pending(session, crypto.Keyring.load(keys_dir))  # the database answers
            session.rollback()
        made = services.prepare_keys(keys_dir)
        keyring = crypto.Keyring.load(keys_dir)
        targets = services.Targets.of(keyring)
        if made:
            click.echo(
                _("new keys: {keys}", keys=", ".join(f"{p} {kid}" for p, kid in made.items()))
            )
        else:
            click.echo(
                _(
                    "continuing a rotation to blind_index {blind}, encryption {encryption}",
                    blind=targets.blind_kid,
                    encryption=targets.encryption_kid,
                )
            )
        if keys_only:
            click.echo(
                _(
                    "copy {keys}/blind_index and {keys}/encryption to every server that has a "
                    "keys folder of its own, then run `registry keys rotate` again",
                    keys=keys_dir,
                )
            )
            return
        _wait_for_servers(targets, grace)
        summary = _rekey(keyring, batch_size)
        retired = services.retire_old_keys(keys_dir, targets)
        summary.update(
            blind_index=targets.blind_kid,
            encryption=targets.encryption_kid,
            retired={
                purpose: [kid for p, kid, _path in retired if p == purpose]
                for purpose in services.PURPOSES
            },
        )
        with session_scope() as session:
            # The check value follows the keys in the same transaction as the record.
            matching.record(session, keys_dir)
            services.record_rotation(session, cli_actor(), summary)
    _report(summary, retired, keys_dir)


def _told_of_merge() -> None:
    click.echo(_("waiting for a roll's merge to finish, to re-key its people"), err=True)


def _wait_for_servers(targets: services.Targets, grace: float) -> None:
    # A server that uses its keys looks for new key files first if it has not looked for a
    # second (crypto.current_keyring): once the grace period after the newest key was made
    # has passed, every check is made with the old and the new keys.
    newest = max(
        crypto.kid_created_at(targets.blind_kid), crypto.kid_created_at(targets.encryption_kid)
    )
    wait = newest.timestamp() + grace - datetime.now(UTC).timestamp()
    if wait > 0:
        click.echo(
            _("waiting {wait:.0f} s for running servers to load the new keys", wait=wait), err=True
        )
        time.sleep(wait)


def _rekey(keyring: crypto.Keyring, batch_size: int) -> dict:
    rows = dict.fromkeys(services.REKEYED, 0)
    with session_scope() as session:
        checks_before = sum(services.checks_under_old_keys(session, keyring).values())
        session.rollback()
        shown = time.monotonic()
        for _pass in range(PASSES):
            for batch in services.rekey(session, keyring, batch_size):
                session.commit()  # one transaction a batch: servers write in between
                rows[batch.table] += batch.rows
                if time.monotonic() - shown >= PROGRESS_EVERY:
                    shown = time.monotonic()
                    click.echo(
                        _(
                            "re-keyed {table}: {rows} rows …",
                            table=batch.table,
                            rows=rows[batch.table],
                        ),
                        err=True,
                    )
            left = services.pending(session, keyring)
            session.rollback()
            if not any(left.values()):
                break
            # A roll's people hidden while its merge is written are re-keyed after it.
            wait_for_merges(session.get_bind(), told=_told_of_merge)
        else:
            counts = ", ".join(f"{n} {table}" for table, n in left.items() if n)
            raise services.RotationError(
                _(
                    "rows are still being written under the old keys ({counts}); a server has "
                    "not loaded the new keys. Nothing was retired: fix that, then run again",
                    counts=counts,
                )
            )
        checks_left = services.checks_under_old_keys(session, keyring)
        session.rollback()
    rows["ban_checks"] = max(0, checks_before - sum(checks_left.values()))
    return {"rows": rows, "checks_not_rekeyed": checks_left}


def _report(summary: dict, retired: list, keys_dir) -> None:
    for table, n in summary["rows"].items():
        click.echo(_("re-keyed {table}: {rows} rows", table=table, rows=n))
    left = summary["checks_not_rekeyed"]
    if left:
        click.echo(
            _(
                "checks not re-keyed: {count} (nobody registered or banned has their number): "
                "they stay under key {keys} and are no longer found by number",
                count=sum(left.values()),
                keys=", ".join(left),
            )
        )
    else:
        click.echo(_("checks not re-keyed: 0"))
    for purpose, kid, path in retired:
        click.echo(_("retired {purpose} key {kid} to {path}", purpose=purpose, kid=kid, path=path))
    click.echo(
        _(
            "active keys: blind_index {blind}, encryption {encryption}",
            blind=summary["blind_index"],
            encryption=summary["encryption"],
        )
    )
    click.echo(
        _(
            "back up the new keys now: {blind}.key and {encryption}.key; without them the "
            "database cannot be read. Keep the retired keys as secret as ever: backups made "
            "before today need them.",
            blind=keys_dir / "blind_index" / summary["blind_index"],
            encryption=keys_dir / "encryption" / summary["encryption"],
        )
    )


COMMANDS = (keys,)
