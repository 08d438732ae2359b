import json
import os
import sys
import time

import click

from cli.common import (
    cli_actor,
    echo_listing,
    page_options,
    session_scope,
    table_csv_or_json,
)
from registry.imports import services
from registry.imports.schemas import ImportBatchSchema
from registry.messages import _
from registry.vocabulary import IMPORT_STATUSES

SHOWN_ERRORS = 20  # in the text format; --format json lists them all
EXIT_REJECTED, EXIT_UNUSABLE = 1, 2
# Rows are validated and encrypted in a second process too when there is a core for it.
WORKERS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class _ProgressBar:
    """A progress bar on stderr over how much of the file is read, with the rows read,
    rows per second and the time left (click's estimate)."""

    STEPS = 1000  # the bar's length: per mille of the file

    def __init__(self, file=None):
        self.started = time.monotonic()
        self.rows = 0
        self.file = file or sys.stderr
        self.bar = None  # drawn at the first batch: not for a file refused outright

    def _start(self):
        self.bar = click.progressbar(
            length=self.STEPS,
            label="导入（importing）",
            show_eta=True,
            show_percent=True,
            item_show_func=self._rate,
            file=self.file,
        )
        self.bar.__enter__()

    def _rate(self, _item) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{self.rows:,} 行，{self.rows / elapsed:,.0f} 行/秒（rows, rows/s）"

    def __call__(self, rows: int, read: float) -> None:
        if self.bar is None:
            self._start()
        self.rows = rows
        step = round(read * self.STEPS)
        self.bar.update(max(0, step - self.bar.pos), current_item=rows)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("import-roll")
@click.argument("file")
@click.option("--dry-run", is_flag=True, help="validate and report; write no certificate")
@click.option("--partial", is_flag=True, help="write the valid rows of a file with errors")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option("--encoding", help="the CSV's encoding (detected otherwise): utf-8, gbk, gb18030")
@click.option(
    "--sheet", help="the worksheet of a workbook (otherwise the first with a roll's header)"
)
@click.pass_context
def import_roll(ctx, file, dry_run, partial, format_, encoding, sheet):
    """Import a roll of certificates (CSV, XLSX, XLS or ODS): all rows or none, unless
    --partial.

    Exit 0 accepted, 1 rejected, 2 unusable (no such file, not a roll)."""
    # A bar only for a person watching a terminal, never in JSON output for programs.
    progress = _ProgressBar() if sys.stderr.isatty() and format_ == "text" else None
    try:
        with session_scope() as session:
            summary = services.run_import(
                session,
                cli_actor(),
                file,
                dry_run=dry_run,
                partial=partial,
                encoding=encoding,
                sheet=sheet,
                progress=progress,
                errors_limit=None if format_ == "json" else SHOWN_ERRORS,
                workers=WORKERS,
            )
    except services.UnusableFile as exc:
        click.echo(f"错误 Error: {exc.message}", err=True)
        ctx.exit(EXIT_UNUSABLE)
    finally:
        if progress is not None:
            progress.done()
    if format_ == "json":
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_text(summary, file)
    if summary.status == "rejected":
        ctx.exit(EXIT_REJECTED)


def _print_text(summary: services.Summary, file: str) -> None:
    status = IMPORT_STATUSES[summary.status]
    dry = " " + _("dry run: nothing written") if summary.dry_run else ""
    click.echo(
        _(
            "import {batch}: {status}",
            batch=summary.batch_id,
            status=summary.status,
            status_name=status,
        )
        + dry
    )
    click.echo(
        _(
            "rows {rows}  accepted {accepted}  unchanged {unchanged}  rejected {rejected}",
            rows=summary.rows,
            accepted=summary.accepted,
            unchanged=summary.unchanged,
            rejected=summary.rejected,
        )
    )
    click.echo(
        _(
            "created {created}, updated {updated}, unchanged {unchanged}, rejected {rejected} "
            "rows; people created {people}",
            created=summary.created,
            updated=summary.updated,
            unchanged=summary.unchanged,
            rejected=summary.rejected,
            people=summary.people_created,
        )
    )
    if summary.updated_fields:
        fields = "，".join(f"{f} {n}" for f, n in summary.updated_fields.items())
        click.echo("  " + _("fields updated: {fields}", fields=fields))
    if summary.sheet:
        click.echo(
            _(
                "sheet {sheet!r}, header in row {row}",
                sheet=summary.sheet,
                row=summary.header_row,
            )
        )
    else:
        click.echo(_("header in row {row}", row=summary.header_row))
    if summary.ignored_columns:
        ignored = "、".join(summary.ignored_columns)
        click.echo(_("columns ignored: {columns}", columns=ignored))
    if summary.skipped:
        rows = "、".join(map(str, summary.skipped_rows))
        more = "…" if summary.skipped > len(summary.skipped_rows) else ""
        click.echo(
            _(
                "{count} rows skipped as no data (totals, signatures, dates): rows {rows}{more}",
                count=summary.skipped,
                rows=rows,
                more=more,
            )
        )
    for error in summary.errors:
        where = error["header"] or error["column"] or ""
        where = f" {where}" if where else ""
        # The label of a bilingual message of the roll's own, as the roll's report reads.
        click.echo(f"  第{error['row']}行{where}: {error['message']}")
    if summary.errors_total > len(summary.errors):
        click.echo(
            _(
                "… {count} errors in all; list them with "
                "`registry import-roll {file} --dry-run --format json` or download "
                "/api/v1/imports/{batch}/errors.csv",
                count=summary.errors_total,
                file=file,
                batch=summary.batch_id,
            )
        )


LIST_COLUMNS = (
    "batch_id",
    "created_at",
    "status",
    "filename",
    "rows",
    "accepted",
    "unchanged",
    "rejected",
    "actor",
)


@click.group("imports")
def imports_group():
    """Roll imports (名册导入) made so far."""


@imports_group.command("list")
@click.option("--status", type=click.Choice(list(IMPORT_STATUSES)))
@page_options
@table_csv_or_json()
def list_(status, page, page_size, format_):
    """Imports, newest first, with their counts."""
    with session_scope() as session:
        found = services.list_batches(session, status=status, page=page, page_size=page_size)
        rows = ImportBatchSchema(many=True).dump(found.items)
    echo_listing(
        found,
        rows,
        LIST_COLUMNS,
        format_,
        empty=_("no imports"),
        shown=lambda r: {**r, "status": f"{r['status_name']} {r['status']}"},
    )


COMMANDS = (import_roll, imports_group)
