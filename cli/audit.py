import click

from cli.common import session_scope
from registry.audit import verify_chain


@click.group()
def audit():
    """The hash-chained audit log."""


@audit.command("verify")
def verify():
    """Walk the audit chain; exit 1 naming the first broken event."""
    with session_scope() as session:
        # Verifying only reads: on SQLite it must not hold the write lock while it walks
        # the whole log, or every write would wait for it.
        session.connection(execution_options={"registry_writes": False})
        intact, problem = verify_chain(session)
    if problem is not None:
        raise click.ClickException(
            f"audit chain broken at {problem} ({intact} events before it are intact)"
        )
    click.echo(f"audit chain intact: {intact} events")


COMMANDS = (audit,)
