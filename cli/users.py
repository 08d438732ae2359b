import click

from cli.common import cli_actor, load, read_secret, session_scope
from registry.auth import services
from registry.auth.schemas import NewUserSchema
from registry.vocabulary import USER_ROLES


@click.group()
def users():
    """Users of the web pages and API."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(list(USER_ROLES)))
@click.option("--institution", "institution_code", help="统一社会信用代码 (directors only)")
def create_user(username, role, institution_code):
    """Create a user; the password is read from stdin (asked twice on a terminal)."""
    data = {"username": username, "role": role, "institution": institution_code}
    data = load(
        NewUserSchema(), {**data, "password": read_secret("Password")}, "the user cannot be created"
    )
    with session_scope() as session:
        user = services.create_user(session, cli_actor(), data)
        click.echo(f"created {user.role} user {user.username}")


@click.group()
def tokens():
    """API tokens for programs."""


@tokens.command("create")
@click.option("--username", required=True)
def create_token(username):
    """Issue an API token; it is printed once, alone on the last line."""
    with session_scope() as session:
        user = services.get_user(session, username)
        token = services.create_token(session, cli_actor(), user)
    click.echo(f"API token for {username} (shown once; keep it secret):", err=True)
    click.echo(token)


COMMANDS = (users, tokens)
