import json

import click

from cli.common import cli_actor, echo_table, load, read_secret, session_scope
from registry.auth import services
from registry.auth.schemas import NewUserSchema, PasswordResetSchema
from registry.messages import _
from registry.vocabulary import USER_ROLES


@click.group()
def users():
    """Users of the web pages and API."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(list(USER_ROLES)))
@click.option("--institution", "institution_code", help="统一社会信用代码 (directors only)")
@click.option(
    "--temporary",
    is_flag=True,
    help="the password is for one sign-in: the user must choose a new one then",
)
@click.option(
    "--exists-ok",
    is_flag=True,
    help="a user of that name already there is no error (and is left unchanged)",
)
def create_user(username, role, institution_code, temporary, exists_ok):
    """Create a user; the password is read from stdin (asked twice on a terminal)."""
    if exists_ok:
        with session_scope() as session:
            if services.find_user(session, username) is not None:
                click.echo(_("user {username} exists, left unchanged", username=username))
                return
    data = {"username": username, "role": role, "institution": institution_code}
    data = load(
        NewUserSchema(),
        {**data, "password": read_secret("Password")},
        _("the user cannot be created"),
    )
    with session_scope() as session:
        user = services.create_user(session, cli_actor(), data, temporary=temporary)
        click.echo(
            _(
                "created {role} user {username}",
                role=user.role,
                role_name=USER_ROLES.get(user.role, user.role),
                username=user.username,
            )
        )


@users.command("list")
@click.option("--role", type=click.Choice(list(USER_ROLES)))
@click.option("--format", "format_", type=click.Choice(["table", "json"]), default="table")
def list_users(role, format_):
    """Every user, by username."""
    with session_scope() as session:
        found, _total = services.list_users(session, offset=0, limit=1_000_000, role=role)
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "institution": u.institution.code if u.institution else "",
                "active": "yes" if u.active else "disabled",
                "must_change_password": "yes" if u.must_change_password else "",
            }
            for u in found
        ]
    if format_ == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif rows:
        echo_table(rows, ("username", "role", "institution", "active", "must_change_password"))
    else:
        click.echo(_("no users"))


@users.command("disable")
@click.argument("username")
def disable_user(username):
    """Disable a user: its web sessions end and its API tokens are revoked at once."""
    with session_scope() as session:
        services.disable_user(session, cli_actor(), services.get_user(session, username))
    click.echo(_("{username} disabled; sessions and tokens ended", username=username))


@users.command("enable")
@click.argument("username")
def enable_user(username):
    """Let a disabled user in again (its old tokens stay revoked)."""
    with session_scope() as session:
        services.enable_user(session, cli_actor(), services.get_user(session, username))
    click.echo(_("{username} enabled", username=username))


@users.command("set-role")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(list(USER_ROLES)))
@click.option("--institution", "institution_code", help="统一社会信用代码 (directors only)")
def set_role(username, role, institution_code):
    """Give a user another role; its web sessions end."""
    from registry.institutions.services import parse_code

    code = parse_code(institution_code) if institution_code else None
    with session_scope() as session:
        user = services.get_user(session, username)
        services.set_role(session, cli_actor(), user, role, code)
    click.echo(
        _(
            "the role of {username} is now {role}",
            username=username,
            role=role,
            role_name=USER_ROLES[role],
        )
    )


@users.command("reset-password")
@click.argument("username")
def reset_password(username):
    """Set a temporary password from stdin (asked twice on a terminal): the user's
    sessions end, and the next sign-in must choose a new password."""
    data = load(
        PasswordResetSchema(),
        {"password": read_secret("New password")},
        _("the password was not reset"),
    )
    with session_scope() as session:
        user = services.get_user(session, username)
        services.reset_password(session, cli_actor(), user, data["password"])
    click.echo(
        _(
            "password of {username} reset; a new one must be chosen at the next sign-in",
            username=username,
        )
    )


@click.group()
def tokens():
    """API tokens for programs."""


@tokens.command("create")
@click.option("--username", required=True)
@click.option("--label", default="", help="what the token is for, e.g. the program's name")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 3650),
    help="default: REGISTRY_TOKEN_DAYS (365)",
)
def create_token(username, label, expires_in_days):
    """Issue an API token; it is printed once, alone on the last line."""
    with session_scope() as session:
        user = services.get_user(session, username)
        token, row = services.issue_token(
            session, cli_actor(), user, label=label, expires_in_days=expires_in_days
        )
        expires = f"{row.expires_at:%Y-%m-%d}"
    click.echo(
        _(
            "API token {token} for {username}, valid until {expires} (shown once; keep it secret):",
            token=row.id,
            username=username,
            expires=expires,
        ),
        err=True,
    )
    click.echo(token)


@tokens.command("list")
@click.option("--username", help="only this user's tokens")
def list_tokens(username):
    """Tokens, newest first: id, user, label, state, dates. Never the tokens themselves."""
    with session_scope() as session:
        owner = services.get_user(session, username) if username else None
        found, _total = services.list_tokens(session, offset=0, limit=1_000_000, user=owner)
        rows = [
            {
                "id": t.id,
                "username": t.user.username,
                "label": t.label,
                "state": services.token_state(t),
                "created": f"{t.created_at:%Y-%m-%d}",
                "expires": f"{t.expires_at:%Y-%m-%d}",
                "last_used": f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "",
            }
            for t in found
        ]
    if rows:
        echo_table(rows, ("id", "username", "label", "state", "created", "expires", "last_used"))
    else:
        click.echo(_("no tokens"))


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
def revoke_token(token_id):
    """Revoke a token at once (by the id `tokens list` shows)."""
    with session_scope() as session:
        token = services.get_token(session, token_id)
        services.revoke_token(session, cli_actor(), token)
        at = token.revoked_at
    click.echo(_("token {token} revoked {at:%Y-%m-%d %H:%M} UTC", token=token_id, at=at))


COMMANDS = (users, tokens)
