"""What every command shares: the app, the session, and how errors are shown."""

import getpass
import sys
from contextlib import contextmanager

import click

from registry.config import ConfigError
from registry.errors import RegistryError


def format_error(exc: RegistryError) -> str:
    lines = [exc.message]
    for field, messages in (exc.errors or {}).items():
        for message in messages if isinstance(messages, list) else [messages]:
            lines.append(f"  {field}: {message}")
    return "\n".join(lines)


class RegistryGroup(click.Group):
    """Turns domain and configuration errors into a message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RegistryError as exc:
            raise click.ClickException(format_error(exc)) from exc
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


def get_app():
    """The app given by a test (``obj``), or one made from the environment."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        from registry import create_app

        root.obj = create_app()
    return root.obj


@contextmanager
def session_scope():
    """A session in an app context; the command commits, nothing else does."""
    from registry.db import get_session

    app = get_app()
    with app.app_context():
        yield get_session()


def read_secret(prompt: str) -> str:
    """A password from a terminal (asked twice) or from stdin (first line)."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def cli_actor() -> str:
    """Who did it, for the audit log: the operating-system account running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
