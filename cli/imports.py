import json
import os
import sys
import time

import click

from cli.common import (
    cli_actor,
    echo_csv,
    echo_page_footer,
    echo_table,
    page_options,
    session_scope,
    table_csv_or_json,
)
from registry.imports import services
from registry.imports.schemas import ImportBatchSchema
from registry.vocabulary import IMPORT_STATUSES

SHOWN_ERRORS = 20  # in the text format; --format json lists them all
EXIT_REJECTED, EXIT_UNUSABLE = 1, 2
# Rows are validated and encrypted in a second process too when there is a core for it.
WORKERS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class _ProgressLine:
    """Rows read and rows per second on one line of stderr, rewritten in place."""

    def __init__(self):
        self.started = time.monotonic()

    def __call__(self, rows: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        click.echo(
            f"\r已读取 {rows:,} 行，{rows / elapsed:,.0f} 行/秒（{rows:,} rows read, "
            f"{rows / elapsed:,.0f} rows/s）",
            nl=False,
            err=True,
        )

    def done(self) -> None:
        click.echo("", err=True)


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
@click.option("--sheet", help="the worksheet of an XLSX (the first otherwise)")
@click.pass_context
def import_roll(ctx, file, dry_run, partial, format_, encoding, sheet):
    """Import a roll of certificates (CSV or XLSX): all rows or none, unless --partial.

    Exit 0 accepted, 1 rejected, 2 unusable (no such file, not a roll)."""
    progress = _ProgressLine() if sys.stderr.isatty() else None
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
        click.echo(f"Error: {exc.message}", err=True)
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
    dry = "（试运行，未写入 dry run: nothing written）" if summary.dry_run else ""
    click.echo(f"导入批次 {summary.batch_id}：{status}（{summary.status}）{dry}")
    click.echo(
        f"rows {summary.rows}  accepted {summary.accepted}  unchanged {summary.unchanged}  "
        f"rejected {summary.rejected}"
    )
    for error in summary.errors:
        where = error["header"] or error["column"] or ""
        where = f" {where}" if where else ""
        click.echo(f"  第{error['row']}行{where}: {error['message']}")
    if summary.errors_total > len(summary.errors):
        click.echo(
            f"… {summary.errors_total} errors in all; list them with "
            f"`registry import-roll {file} --dry-run --format json` or download "
            f"/api/v1/imports/{summary.batch_id}/errors.csv"
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
    if format_ == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif format_ == "csv":
        echo_csv(rows, LIST_COLUMNS)
    elif not rows:
        click.echo("没有导入记录（no imports）")
    else:
        shown = [{**r, "status": f"{r['status_name']} {r['status']}"} for r in rows]
        echo_table(shown, LIST_COLUMNS)
    echo_page_footer(found)


COMMANDS = (import_roll, imports_group)
