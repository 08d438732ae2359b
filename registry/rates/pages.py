"""The certification-rate pages (持证率): per district and institution on a date, the
figures of ``registry rates``, the institutions 50 to a page, the chart as its own SVG
on request, only the targets due and missed when asked, the CSV, and each institution's
explanation. The bureau's and the inspector's (read-only).

A district's report costs a second or more at 1,000 institutions and 100,000 staff, and
its chart more: both are kept, per server process, for as long as nothing that moves a
rate has changed (``_data_version``) and at most ``KEPT_FOR``; the page says when its
figures were computed.
"""

import csv
import hashlib
import io
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template, request, url_for
from marshmallow import ValidationError

from registry import clock
from registry.audit import AuditEvent
from registry.credentials.models import Certificate
from registry.db import get_session
from registry.errors import Invalid
from registry.institutions.models import Institution
from registry.institutions.services import get_institution
from registry.messages import _
from registry.paging import PAGE_SIZE, Page
from registry.staffing.models import Employment
from registry.vocabulary import CERTIFICATE_KINDS, STAFF_ROLES
from registry.web import form_errors, page, page_number

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


# How long a computed report is kept at most, even if nothing in the registry changed.
KEPT_FOR = 300  # seconds
# How many reports (a date and a district) a server process keeps.
KEPT_REPORTS = 32


@dataclass
class _Kept:
    version: tuple
    report: dict
    computed_at: datetime
    expires: float
    charts: dict = field(default_factory=dict)  # below -> svg text


class _Reports:
    """The reports computed by this process, newest used last."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kept: OrderedDict = OrderedDict()

    def get(self, key, version) -> _Kept | None:
        with self.lock:
            kept = self.kept.get(key)
            if kept is None or kept.version != version or kept.expires < time.monotonic():
                return None
            self.kept.move_to_end(key)
            return kept

    def put(self, key, kept: _Kept) -> None:
        with self.lock:
            self.kept[key] = kept
            self.kept.move_to_end(key)
            while len(self.kept) > KEPT_REPORTS:
                self.kept.popitem(last=False)


def _reports() -> _Reports:
    return current_app.extensions.setdefault("rates_reports", _Reports())


# The audited changes that can move a rate: staff, certificates, institutions (a
# district), people merged, rolls imported, a backup restored.
CHANGES = (
    "backup.restored",
    "certificate.recorded",
    "certificate.renewed",
    "certificate.revoked",
    "employment.ended",
    "employment.started",
    "import.accepted",
    "institution.created",
    "institution.updated",
    "person.merged",
)


def _data_version(session) -> tuple:
    """What changes whenever the figures may: the newest audit event of each change in
    ``CHANGES`` (hiring checks, lookups and sign-ins are not among them), and the newest
    employment, certificate and institution (rows written around the services). One
    statement of index reads."""
    newest = [
        sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.action == action)
        for action in CHANGES
    ] + [sa.select(sa.func.max(model.id)) for model in (Employment, Certificate, Institution)]
    return tuple(session.execute(sa.select(*(q.scalar_subquery() for q in newest))).one())


def _computed(day, district) -> _Kept:
    """The whole report for ``day`` and ``district`` (every institution), computed now
    or kept from a view since which nothing changed."""
    session = get_session()
    key, version = (day, district), _data_version(session)
    kept = _reports().get(key, version)
    if kept is None:
        kept = _Kept(
            version,
            services.rates(session, day, district),
            clock.now(),
            time.monotonic() + KEPT_FOR,
        )
        _reports().put(key, kept)
    return kept


def _report(kept: _Kept, below: bool) -> dict:
    report = kept.report
    if below:
        report = report | {
            part: [e for e in report[part] if services.missed(e)]
            for part in ("institutions", "districts")
        }
    return report


@bp.route("/rates")
@page(*READERS)
def index():
    day, district, below, errors = _query()
    report = kept = institutions = None
    if not errors:
        try:
            kept = _computed(day, district)
        except Invalid as exc:
            errors = form_errors(exc.errors or {"district": [exc.message]})
        else:
            report = _report(kept, below)
            number, everyone = page_number(), report["institutions"]
            shown = everyone[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
            institutions = Page(shown, len(everyone), number, PAGE_SIZE)
    from . import chart  # its MAX_BARS; matplotlib loads once per process

    choices = {k: v for k, v in request.args.items() if k in ("as_of", "district", "below")}
    return render_template(
        "rates/index.html",
        report=report,
        institutions=institutions,
        computed_at=kept and kept.computed_at,
        day=day,
        as_of=request.args.get("as_of", "") if errors.get("as_of") else (day or ""),
        district=request.args.get("district", ""),
        below=below,
        errors=errors,
        max_bars=chart.MAX_BARS,
        chart_url=url_for(".chart_svg", **choices),
        csv_args=choices,
    ), (422 if errors else 200)


@bp.route("/rates/chart.svg")
@page(*READERS)
def chart_svg():
    """The chart of the page's institutions (at most ``MAX_BARS``), drawn once per
    report and kept with it; the browser keeps it too, and asks again with its tag."""
    from . import chart  # matplotlib: loaded when a chart is drawn, not with the app

    day, district, below, errors = _query()
    if errors:
        raise Invalid(_("the choices are invalid"), errors)
    kept = _computed(day, district)
    report = _report(kept, below)
    # The report's date, district, filter and data: ASCII, as a header must be.
    tag = hashlib.sha256(repr((day, district, below, kept.version)).encode()).hexdigest()[:32]
    headers = {
        "ETag": f'"{tag}"',
        "Cache-Control": f"private, max-age={KEPT_FOR}",
        "Last-Modified": kept.computed_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }
    if request.if_none_match.contains(tag):
        return Response(status=304, headers=headers)
    svg = kept.charts.get(below)
    if svg is None:
        try:
            svg = chart.svg_markup(report, f"{day} 各机构持证率图")
        except chart.ChartError as exc:  # too many bars
            raise Invalid(str(exc), {"district": [str(exc)]}) from None
        kept.charts[below] = svg
    return Response(svg, mimetype="image/svg+xml", headers=headers)


@bp.route("/rates.csv")
@page(*READERS)
def download():
    day, district, below, errors = _query()
    if errors:
        raise Invalid(_("the choices are invalid"), errors)
    report = _report(_computed(day, district), below)
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
