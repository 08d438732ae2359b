import json
from datetime import date
from pathlib import Path

import click

from cli.common import DAY, echo_csv, echo_table, session_scope, table_csv_or_json
from registry import clock
from registry.errors import RegistryError
from registry.institutions.services import get_institution
from registry.messages import _
from registry.rates import services
from registry.rates.schemas import ExplanationSchema, RatesSchema

EXPLAIN_COLUMNS = ("role", "name", "id_number", "start", "certified", "certificate", "reason")


def _percent(value) -> str:
    return "" if value is None else f"{value:.1%}"


def _yes_no(value) -> str:
    return {True: "yes", False: "NO", None: ""}[value]


def _meets(entry: dict) -> str:
    """NO only where the target is due; below one not yet due says so."""
    if entry["meets_target"] is False and entry.get("due") is False:
        return "no (not yet due)"
    return _yes_no(entry["meets_target"])


def _plain(value):
    return "" if value is None else value


def _due(entry: dict) -> str:
    if "due_on" not in entry:
        return ""
    return "due" if entry["due"] else f"from {entry['due_on']}"


def _rows(report: dict, for_terminal: bool) -> list[dict]:
    """Institutions, then the districts' roll-ups, as one table; ``level`` tells which."""
    show = (lambda f, v: f(v)) if for_terminal else (lambda f, v: "" if v is None else v)
    rows = []
    for level, entries in (
        ("institution", report["institutions"]),
        ("district", report["districts"]),
    ):
        for entry in entries:
            rows.append(
                {
                    "level": level,
                    "district": entry["district"],
                    "code": entry.get("code", ""),
                    "name": entry.get("name", ""),
                    "institutions": entry.get("institutions", ""),
                    "staff": entry["staff"],
                    "certified": entry["certified"],
                    "rate": show(_percent, entry["rate"]),
                    "target": show(_percent, entry["target"]),
                    "meets_target": _meets(entry)
                    if for_terminal
                    else _plain(entry["meets_target"]),
                    "due": _due(entry) if for_terminal else _plain(entry.get("due")),
                }
            )
    return rows


def _usage(exc: RegistryError, option: str, value: str):
    """Bad input is a usage error (exit 2) naming the option and the value."""
    if value in exc.message:
        return click.BadParameter(exc.message, param_hint=option)
    details = [m for messages in (exc.errors or {}).values() for m in messages]
    return click.BadParameter("; ".join([f"{value!r}: {exc.message}", *details]), param_hint=option)


@click.command()
@click.option("--as-of", type=DAY, help="default: today")
@click.option("--district", help="only this district, in any spelling its ruleset knows")
@click.option(
    "--below-target",
    is_flag=True,
    help="only institutions and districts below a target that is due on the date",
)
@table_csv_or_json()
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="also draw the rates as a bar chart, PNG or SVG by the file's extension",
)
@click.option("--explain", "code", help="the staff counted for one institution (its code)")
def rates(as_of, district, below_target, format_, chart_path, code):
    """Certification rates (从业人员持证率) per institution and district, as the README
    defines them, against each district's target."""
    day = as_of or clock.today()
    if chart_path is not None:
        from registry.rates import chart  # matplotlib: loaded only for a chart

        if chart_path.suffix.lower() not in chart.FORMATS:
            raise click.BadParameter(
                _("{name!r}: the chart is written as .png or .svg", name=chart_path.name),
                param_hint="--chart",
            )
    if code is not None:
        if district or below_target or chart_path:
            raise click.UsageError(
                _("--explain shows one institution: leave out the other choices")
            )
        return _explain(code, day, format_)
    with session_scope() as session:
        try:
            report = services.rates(session, day, district)
        except RegistryError as exc:
            raise _usage(exc, "--district", district) from exc
        report = RatesSchema().dump(report)
    if below_target:
        for part in ("institutions", "districts"):
            report[part] = [e for e in report[part] if services.missed(e)]
    if chart_path is not None:
        try:
            notes = chart.draw(report, chart_path, chart.cjk_font())
        except chart.ChartError as exc:
            raise click.BadParameter(str(exc), param_hint="--chart") from exc
        except OSError as exc:  # no such folder, no room, not allowed
            raise click.BadParameter(
                _("cannot write {path}: {reason}", path=chart_path, reason=exc.strerror),
                param_hint="--chart",
            ) from exc
        for note in notes:
            click.echo(_("note: {note}", note=note), err=True)
    if format_ == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    elif format_ == "csv":
        echo_csv(services.csv_rows(report), services.CSV_COLUMNS)
    elif not report["institutions"] and not report["districts"]:
        click.echo(
            _("no institution is below a target that is due")
            if below_target
            else _("no institution")
        )
    else:
        click.echo(_("certification rates on {day}", day=day))
        echo_table(_rows(report, for_terminal=True), services.CSV_COLUMNS)


def _explain(code: str, day: date, format_: str) -> None:
    with session_scope() as session:
        try:
            institution = get_institution(session, code)
        except RegistryError as exc:
            raise _usage(exc, "--explain", code) from exc
        explanation = ExplanationSchema().dump(services.explain(session, institution, day))
    if format_ == "json":
        click.echo(json.dumps(explanation, ensure_ascii=False, indent=2))
        return
    rows = [
        {
            **person,
            "certified": _yes_no(person["certified"]),
            "certificate": ""
            if person["certificate"] is None
            else f"{person['certificate']['kind']} {person['certificate']['number']} "
            f"({person['certificate']['issuer']}, {person['certificate']['issued_on']}"
            f" – {person['certificate']['expires_on'] or 'no expiry'})",
            "reason": person["reason"] or "",
        }
        for person in explanation["counted"]
    ]
    if format_ == "csv":
        echo_csv(rows, EXPLAIN_COLUMNS)
        return
    e = explanation
    click.echo(
        _(
            "{name} ({code}, {district}) on {day}:",
            name=e["name"],
            code=e["institution"],
            district=e["district"],
            day=e["as_of"],
        )
    )
    click.echo(
        _(
            "{certified} of {staff} staff certified, rate {rate}, target {target}",
            certified=e["certified"],
            staff=e["staff"],
            rate=_percent(e["rate"]) or "none",
            target=_percent(e["target"]) or "none",
        )
        + ("" if "due_on" not in e else f" ({_due(e)})")
    )
    if rows:
        echo_table(rows, EXPLAIN_COLUMNS)


COMMANDS = (rates,)
