from pathlib import Path

import click

from cli.common import get_app, session_scope
from registry.audit import Anchor, check_anchor, newest_anchor, verify_chain
from registry.messages import _


@click.group()
def audit():
    """The hash-chained audit log."""


@audit.command("verify")
@click.option(
    "--anchor",
    "anchor_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where the newest verified event is kept (default: <instance>/audit-anchor.json)",
)
def verify(anchor_path):
    """Walk the audit chain; exit 1 naming the first broken event.

    The newest event of an intact chain is kept in an anchor file outside the database;
    the next run checks that it is still there, unchanged, which shows a chain rebuilt
    or cut back by somebody with write access to the database.
    """
    anchor_path = anchor_path or get_app().extensions["registry.settings"].instance_path / (
        "audit-anchor.json"
    )
    anchor = Anchor.read(anchor_path)
    with session_scope() as session:
        # Verifying only reads: on SQLite it must not hold the write lock while it walks
        # the whole log, or every write would wait for it.
        session.connection(execution_options={"registry_writes": False})
        intact, problem = verify_chain(session)
        if problem is None and anchor is not None:
            problem = check_anchor(session, anchor)
        newest = newest_anchor(session, intact) if problem is None else None
    if problem is not None:
        raise click.ClickException(
            _(
                "audit chain broken at {problem} ({intact} events before it are intact)",
                problem=problem,
                intact=intact,
            )
        )
    if newest is not None:
        newest.write(anchor_path)
    click.echo(_("audit chain intact: {intact} events", intact=intact))


COMMANDS = (audit,)
