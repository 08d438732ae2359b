"""`registry backup DIR` and `registry restore DIR`."""

import sys
from pathlib import Path

import click

from cli.common import CommandError, cli_actor, get_app, session_scope
from registry import clock, create_app
from registry.audit import record_event
from registry.backup import services
from registry.config import load_settings
from registry.messages import _

PASSPHRASE = click.option(
    "--passphrase",
    "passphrase_from",
    type=click.Choice(["-"]),
    default=None,
    help="- : read the passphrase from the first line of standard input (never give it "
    "on the command line); without it, it is asked on the terminal",
)


def _read_passphrase(source: str | None, *, confirm: bool) -> str:
    if source == "-":
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError(
            _("no terminal to ask the passphrase on: give it on standard input with --passphrase -")
        )
    return click.prompt(_("passphrase of the backup"), hide_input=True, confirmation_prompt=confirm)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@PASSPHRASE
def backup(folder, passphrase_from):
    """Back up the database and the keys (wrapped under a passphrase) to a new folder."""
    app = get_app()  # the keys must match the database before they are backed up
    settings = app.extensions["registry.settings"]
    passphrase = _read_passphrase(passphrase_from, confirm=True)
    manifest = services.backup(settings, folder, passphrase, clock.now())
    with session_scope() as session:  # who took a copy of every identity number, and when
        record_event(
            session,
            cli_actor(),
            "backup.created",
            f"backup:{manifest['created_at']}",
            {"folder": str(folder.resolve()), "database": manifest["database"]},
        )
    click.echo(
        _(
            "backed up the {kind} database (migration {revision}) and {count} key files "
            "to {folder}",
            kind=manifest["database"]["kind"],
            revision=manifest["database"]["alembic_revision"],
            count=manifest["key_files"],
            folder=folder,
        )
    )
    for name, entry in manifest["files"].items():
        click.echo(f"  {name}  {entry['bytes']}  sha256:{entry['sha256']}")
    click.echo(
        _(
            "keep the passphrase apart from the backup: without it the keys, and so the "
            "identity numbers, cannot be restored"
        )
    )


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@PASSPHRASE
@click.option(
    "--force",
    is_flag=True,
    help="replace a database that is not empty and keys already there (kept aside)",
)
def restore(folder, passphrase_from, force):
    """Put a backup's database and keys back, after checking its files, its passphrase
    and that its keys are the database's. Stop the servers first."""
    settings = load_settings()
    passphrase = _read_passphrase(passphrase_from, confirm=False)
    done = services.restore(settings, folder, passphrase, force=force, now=clock.now())
    manifest = done["manifest"]
    if done["keys_kept"]:
        click.echo(_("the keys that were there are kept in {folder}", folder=done["keys_kept"]))
    if done["anchor_kept"]:
        click.echo(_("the audit anchor that was there is kept as {path}", path=done["anchor_kept"]))
    # The checks of every start: folder and file modes, the keys against the database.
    app = create_app(settings)
    try:
        from registry.db import command_transaction

        with app.app_context(), command_transaction() as session:
            record_event(
                session,
                cli_actor(),
                "backup.restored",
                f"backup:{manifest['created_at']}",
                {
                    "created_at": manifest["created_at"],
                    "alembic_revision": manifest["database"]["alembic_revision"],
                },
            )
    finally:
        app.extensions["registry.engine"].dispose()
    click.echo(
        _(
            "restored the {kind} database of {created} (migration {revision}) and {count} key "
            "files; the keys match the database. Run `registry init` if this release is newer, "
            "then start the servers",
            kind=manifest["database"]["kind"],
            created=manifest["created_at"],
            revision=manifest["database"]["alembic_revision"],
            count=done["keys"],
        )
    )


COMMANDS = (backup, restore)
