"""The bureau's page of alerts: every institution's, those not yet acknowledged first,
by institution and kind, acknowledged with one click."""

from flask import Blueprint, g, redirect, render_template, request, url_for

from registry.db import get_session
from registry.errors import Conflict, Invalid, NotFound
from registry.institutions.services import get_institution
from registry.paging import PAGE_SIZE
from registry.vocabulary import ALERT_KINDS, BAN_CATEGORIES
from registry.web import page, page_number, safe_next

from . import services

bp = Blueprint("alerts_pages", __name__)


@bp.route("/bureau/alerts")
@page("bureau", "admin")
def bureau():
    session = get_session()
    code = request.args.get("institution", "").strip()
    kind = request.args.get("kind") or None
    errors, institution = {}, None
    if kind not in ALERT_KINDS:
        kind = None
    if code:
        try:
            institution = get_institution(session, code)
        except (Invalid, NotFound):
            errors["institution"] = "没有这个统一社会信用代码的机构。"
    found = None
    if not errors:
        found = services.list_alerts(
            session,
            g.page_user,
            institution=institution,
            kind=kind,
            unacknowledged_first=True,
            page=page_number(),
            page_size=PAGE_SIZE,
        )
    return render_template(
        "alerts/bureau.html",
        found=found,
        code=code,
        kind=kind or "",
        kinds=ALERT_KINDS,
        categories=BAN_CATEGORIES,
        errors=errors,
        acknowledged=request.args.get("acknowledged"),
        problem=request.args.get("problem"),
    ), (422 if errors else 200)


@bp.route("/bureau/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@page("bureau", "admin")
def acknowledge(alert_id):
    back = safe_next(request.form.get("back")) or url_for(".bureau")
    try:
        services.acknowledge(get_session(), g.page_user, alert_id)
    except Conflict:
        return redirect(_with(back, problem="already"))
    return redirect(_with(back, acknowledged=alert_id))


def _with(address: str, **args) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(address)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("acknowledged", "problem")]
    query += [(k, str(v)) for k, v in args.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
