"""What every command shares: the app, the session, and how errors are shown."""

import csv
import getpass
import io
import json
import sys
import unicodedata
from contextlib import contextmanager
from datetime import date

import click
import sqlalchemy as sa
from marshmallow import ValidationError

from registry.auth.models import SystemActor
from registry.config import ConfigError
from registry.db import is_unique_violation
from registry.errors import BUSY_MESSAGE, CONFLICT_MESSAGE, Invalid, RegistryError, is_busy
from registry.imports.rows import CellError, parse_date
from registry.messages import _, translate
from registry.paging import MAX_PAGE_SIZE, PAGE_SIZE, Page


def format_error(exc: RegistryError) -> str:
    lines = [exc.message]
    for field, messages in (exc.errors or {}).items():
        for message in messages if isinstance(messages, list) else [messages]:
            lines.append(
                f"  {field}: {translate(message) if isinstance(message, str) else message}"
            )
    return "\n".join(lines)


class CommandError(click.ClickException):
    """A command's error on stderr, exit status 1, introduced in Chinese and English."""

    def format_message(self) -> str:
        return self.message

    def show(self, file=None) -> None:
        click.echo(f"错误 Error: {self.format_message()}", err=True, file=file)


class RegistryGroup(click.Group):
    """Turns domain, configuration and database errors into a message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RegistryError as exc:
            raise CommandError(format_error(exc)) from exc
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise CommandError(CONFLICT_MESSAGE) from exc
        except sa.exc.DBAPIError as exc:
            if isinstance(exc, sa.exc.OperationalError) and is_busy(exc):
                raise CommandError(BUSY_MESSAGE) from exc
            # First line only: the rest may quote the values of the statement.
            reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
            raise CommandError(
                _(
                    "the database refused the command ({reason}); a new one needs `registry init`",
                    reason=reason,
                )
            ) from exc


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
    """A session in an app context, committed when the block ends and rolled back when
    it raises: the one place a command commits."""
    from registry.db import command_transaction

    with get_app().app_context(), command_transaction() as session:
        yield session


def load(schema, data: dict, message: str) -> dict:
    """Validate options with the schema the API uses; ``Invalid`` names each bad field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Invalid(message, exc.messages) from exc


class DayType(click.ParamType):
    """A date option in the forms a roll's dates take (2026-11-20, 2026/11/20,
    2026.11.20, 2026年11月20日, 20261120), parsed by the roll's own parser; a bad one is a
    usage error (exit 2) that names the value."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            day = parse_date(value)
        except CellError as exc:
            self.fail(f"{value!r}: {exc.message}", param, ctx)
        if day is None:
            self.fail(_("the date must not be empty"), param, ctx)
        return day


DAY = DayType()


def stdin_is_terminal() -> bool:
    """Whether a person types at this command (tests of the prompt replace it)."""
    return sys.stdin.isatty()


def read_id_number(value: str | None, param_hint: str = "'--id-number'") -> str:
    """An identity number kept out of the process list: ``-`` reads the first line of
    standard input; omitted (or ``-`` on a terminal), it is asked without echo; omitted
    with no terminal, a usage error (exit 2). A number given in place still works."""
    if value == "-" and stdin_is_terminal():
        value = None  # asked without echo rather than read as typed, shown on the screen
    if value == "-":
        line = sys.stdin.readline()
        if not line.strip():
            raise click.BadParameter(
                _("standard input held no identity number (one line is read)"),
                param_hint=param_hint,
            )
        return line.strip()
    if value is not None:
        return value
    if not stdin_is_terminal():
        raise click.UsageError(
            _(
                "no identity number: give {option} - and write it to standard input, "
                "or run the command on a terminal to be asked for it",
                option=param_hint.strip("'"),
            )
        )
    return click.prompt(_("identity number"), hide_input=True).strip()


def id_number_option(*, required: bool = True, help: str = "证件号码 (any typed form)"):
    """``--id-number``: ``-`` reads the number from standard input, and when it is omitted
    a terminal asks for it without echo, so that it never shows in ``ps`` or the shell's
    history. ``required=False`` leaves an omitted number None (the command decides)."""

    def resolve(ctx, param, value):
        if value is None and not required:
            return None
        return read_id_number(value, param.get_error_hint(ctx))

    return click.option(
        "--id-number",
        "id_number",
        callback=resolve,
        metavar="-|N",
        help=f"{help}; - reads it from standard input; omitted, a terminal asks for it",
    )


def read_secret(prompt: str) -> str:
    """A password from a terminal (asked twice) or from stdin (first line)."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def cli_actor() -> SystemActor:
    """Who did it, for the audit log: the operating-system account running the command."""
    try:
        return SystemActor(f"cli:{getpass.getuser()}")
    except (KeyError, OSError):
        return SystemActor("cli")


def table_csv_or_json():
    """The ``--format`` of commands that print rows."""
    return click.option(
        "--format",
        "format_",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
    )


def echo_table(rows: list[dict], columns: tuple[str, ...]) -> None:
    """Rows as aligned columns on a terminal, Chinese characters taking two cells."""
    widths = {c: max(_width(c), *(_width(str(r[c])) for r in rows)) for c in columns}
    for row in [dict(zip(columns, columns, strict=True)), *rows]:
        click.echo("  ".join(_pad(str(row[c]), widths[c]) for c in columns).rstrip())


def echo_csv(rows: list[dict], columns: tuple[str, ...]) -> None:
    """Rows as CSV on stdout, UTF-8 with a byte-order mark so that Excel reads the
    Chinese correctly."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    click.echo(out.getvalue(), nl=False)


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def page_options(command):
    """``--page`` and ``--page-size`` of the commands that list, as the API's ``page``
    and ``page_size``."""
    command = click.option(
        "--page-size",
        type=click.IntRange(1, MAX_PAGE_SIZE),
        default=PAGE_SIZE,
        show_default=True,
        help="rows per page (每页条数)",
    )(command)
    return click.option(
        "--page", type=click.IntRange(min=1), default=1, show_default=True, help="页码 page"
    )(command)


def echo_listing(
    found: Page,
    rows: list[dict],
    columns: tuple[str, ...],
    format_: str,
    *,
    empty: str,
    shown=None,
) -> None:
    """One page of a list command: JSON, CSV or a table (``shown`` turns a row into what
    the table shows), ``empty`` when there is nothing, then where the page lies."""
    if format_ == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif format_ == "csv":
        echo_csv(rows, columns)
    elif not rows:
        click.echo(empty)
    else:
        echo_table([shown(r) for r in rows] if shown else rows, columns)
    echo_page_footer(found)


def echo_page_footer(page: Page) -> None:
    """Where this page lies in the list, on stderr so that CSV and JSON stay clean."""
    if page.page is None:
        return
    click.echo(
        _(
            "page {page} of {pages}, {total} in all",
            page=page.page,
            pages=page.pages,
            total=page.total,
        ),
        err=True,
    )
