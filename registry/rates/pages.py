"""The certification-rate pages (持证率): per district and institution on a date, the
figures of ``registry rates`` with the chart drawn inline as SVG, only the targets due
and missed when asked, the CSV, and each institution's explanation. The bureau's and
the inspector's (read-only)."""

import csv
import io

from flask import Blueprint, Response, render_template, request
from marshmallow import ValidationError

from registry import clock
from registry.db import get_session
from registry.errors import Invalid
from registry.institutions.services import get_institution
from registry.messages import _
from registry.vocabulary import CERTIFICATE_KINDS, STAFF_ROLES
from registry.web import form_errors, page

from . import services
from .schemas import RatesQuerySchema, RatesSchema

bp = Blueprint("rates_pages", __name__)

READERS = ("bureau", "admin", "inspector")


def _query():
    """The page's choices from the address: (as_of, district, below, errors)."""
    args = {k: v.strip() for k, v in request.args.items() if k in ("as_of", "district")}
    args = {k: v for k, v in args.items() if v}
    below = request.args.get("below") == "1"
    try:
        query = RatesQuerySchema().load(args)
    except ValidationError as exc:
        return None, None, below, form_errors(exc.messages)
    return query["as_of"] or clock.today(), query["district"], below, {}


def _report(day, district, below):
    report = services.rates(get_session(), day, district)
    if below:
        for part in ("institutions", "districts"):
            report[part] = [e for e in report[part] if services.missed(e)]
    return report


@bp.route("/rates")
@page(*READERS)
def index():
    day, district, below, errors = _query()
    report = svg = max_bars = None
    if not errors:
        try:
            report = _report(day, district, below)
        except Invalid as exc:
            errors = form_errors(exc.errors or {"district": [exc.message]})
    if report and report["institutions"]:
        from . import chart  # matplotlib: loaded when a chart is drawn, not with the app

        max_bars = chart.MAX_BARS
        try:
            svg = chart.svg_markup(report, f"{day} 各机构持证率图")
        except chart.ChartError:
            svg = None  # too many bars: the page says so and the table stays
    return render_template(
        "rates/index.html",
        report=report,
        day=day,
        as_of=request.args.get("as_of", "") if errors.get("as_of") else (day or ""),
        district=request.args.get("district", ""),
        below=below,
        errors=errors,
        svg=svg,
        max_bars=max_bars,
        csv_args={k: v for k, v in request.args.items() if k in ("as_of", "district", "below")},
    ), (422 if errors else 200)


@bp.route("/rates.csv")
@page(*READERS)
def download():
    day, district, below, errors = _query()
    if errors:
        raise Invalid(_("the choices are invalid"), errors)
    report = _report(day, district, below)
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 only after a byte-order mark
    writer = csv.DictWriter(
        out, fieldnames=services.CSV_COLUMNS, lineterminator="\r\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(services.csv_rows(RatesSchema().dump(report)))
    name = f"rates-{day.isoformat()}{'-below-target' if below else ''}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/rates/<code>")
@page(*READERS)
def explain(code):
    day, _district, _below, errors = _query()
    if errors:
        raise Invalid(_("the date is invalid"), errors)
    session = get_session()
    institution = get_institution(session, code)
    return render_template(
        "rates/explain.html",
        e=services.explain(session, institution, day),
        day=day,
        roles=STAFF_ROLES,
        kinds=CERTIFICATE_KINDS,
    )
