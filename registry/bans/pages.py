"""The bureau's pages of the blacklist: record a ban with its decision, the list (numbers
masked), revoke with a reason, and the yearly re-screen; and the receipt check of
inspectors. The identity number travels
only in the POST body of the form and is never shown again but masked."""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import Blueprint, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from registry import clock
from registry.crypto import current_keyring
from registry.db import get_session
from registry.errors import Conflict, RegistryError
from registry.fields import Day
from registry.identity import InvalidIdentifier, parse_identity
from registry.institutions.models import Institution
from registry.institutions.services import get_institution
from registry.paging import PAGE_SIZE
from registry.vocabulary import BAN_CATEGORIES, BAN_STATUSES, STAFF_ROLES
from registry.web import form_errors, page, page_number

from . import receipts, services
from .schemas import BanSchema, RevokeBanSchema

bp = Blueprint("bans_pages", __name__)

ID_TYPE_NAMES = {
    "": "自动识别",
    "resident_id": "居民身份证",
    "hmt_residence": "港澳台居民居住证",
    "foreign_permanent_residence": "外国人永久居留身份证",
    "passport": "护照",
}
FIELDS = ("id_number", "id_type", "name", "category", "authority", "decision_no")


@bp.route("/bans")
@page("bureau", "admin")
def index():
    status = request.args.get("status") or None
    if status not in BAN_STATUSES:
        status = None
    found = services.list_bans(
        get_session(), status=status, page=page_number(), page_size=PAGE_SIZE
    )
    return render_template(
        "bans/index.html",
        found=found,
        status=status or "",
        statuses=BAN_STATUSES,
        categories=BAN_CATEGORIES,
        added=request.args.get("added"),
        alerts=request.args.get("alerts"),
        revoked=request.args.get("revoked"),
    )


def _render_form(values: dict, errors: dict, status: int = 200):
    page_ = render_template(
        "bans/form.html",
        values=values,
        errors=errors,
        categories=BAN_CATEGORIES,
        id_types=ID_TYPE_NAMES,
    )
    return page_, status


@bp.route("/bans/new", methods=["GET", "POST"])
@page("bureau", "admin")
def add():
    if request.method == "GET":
        return _render_form({}, {})
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    values["effective_on"] = request.form.get("effective_on", "").strip()
    values["until"] = request.form.get("until", "").strip()
    data = {k: v for k, v in values.items() if v or k in ("id_number", "effective_on")}
    data.setdefault("until", None)
    try:
        loaded = BanSchema().load(data)
        ban, alerts = services.add_ban(get_session(), g.page_user, loaded)
    except ValidationError as exc:
        errors = form_errors(exc.messages)
        if "id_number" not in errors:
            # The schema reads the number only once the other fields are valid: say at
            # once what is wrong with it too.
            try:
                parse_identity(values["id_number"], values["id_type"] or None)
            except InvalidIdentifier as bad:
                errors["id_number"] = bad.message
        return _render_form(values, errors, 422)
    except Conflict as exc:
        message = f"此证件号码已有一条有效的禁入记录（编号 {exc.extra.get('id')}），未重复记录。"
        return _render_form(values, {"id_number": message}, 409)
    return redirect(url_for(".index", added=ban.id, alerts=len(alerts)))


@bp.route("/bans/<int:ban_id>/revoke", methods=["GET", "POST"])
@page("bureau", "admin")
def revoke(ban_id):
    session = get_session()
    ban = services.get_ban(session, ban_id)
    described = services.describe_ban(ban)
    errors, reason = {}, request.form.get("reason", "").strip()
    if request.method == "POST":
        try:
            data = RevokeBanSchema().load({"reason": reason})
            services.revoke_ban(session, g.page_user, ban, data["reason"])
        except ValidationError as exc:
            errors = form_errors(exc.messages)
        except Conflict:
            errors = {"reason": "此禁入记录已经撤销过。"}
        else:
            return redirect(url_for(".index", revoked=ban.id))
    return (
        render_template(
            "bans/revoke.html",
            ban=described,
            categories=BAN_CATEGORIES,
            errors=errors,
            reason=reason,
        ),
        422 if errors else 200,
    )


@bp.route("/rescreen", methods=["GET", "POST"])
@page("bureau", "admin")
def rescreen():
    as_of_text = request.form.get("as_of", "").strip() or clock.today().isoformat()
    errors, report, names = {}, None, {}
    if request.method == "POST":
        try:
            as_of: date = Day().deserialize(as_of_text)
        except ValidationError as exc:
            errors = {"as_of": form_errors(exc.messages)["_schema"]}
        else:
            session = get_session()
            report = services.rescreen(session, g.page_user, as_of)
            codes = {hit["institution"] for hit in report["barred"]}
            if codes:
                query = sa.select(Institution.code, Institution.name)
                names = dict(session.execute(query.where(Institution.code.in_(codes))).all())
            report["as_of"] = as_of
    return (
        render_template(
            "bans/rescreen.html",
            as_of=as_of_text,
            errors=errors,
            report=report,
            names=names,
            roles=STAFF_ROLES,
        ),
        422 if errors else 200,
    )


# -- 回执核验 (inspectors) ------------------------------------------------------------

# A receipt is about 300 characters; anything far longer is not one.
MAX_RECEIPT_LENGTH = 4000


@bp.route("/receipts", methods=["GET", "POST"])
@page("inspector", "bureau", "admin")
def verify_receipt():
    """Paste a receipt token: valid or not (the same offline verification as
    ``registry receipts verify``), and what a valid one certifies."""
    if request.method == "GET":
        return render_template("bans/receipt.html", token="")
    token = request.form.get("token", "").strip()
    if not token:
        return render_template("bans/receipt.html", token="", error="请粘贴回执上的核验码。"), 422
    if len(token) > MAX_RECEIPT_LENGTH:
        return render_template(
            "bans/receipt.html",
            token="",
            invalid=f"这不是回执核验码：长度超过 {MAX_RECEIPT_LENGTH} 个字符。",
        )
    try:
        receipt = receipts.verify(token, current_keyring().public_keys())
    except receipts.InvalidReceipt as exc:
        return render_template("bans/receipt.html", token=token, invalid=str(exc))
    return render_template(
        "bans/receipt.html",
        token=token,
        receipt=receipt,
        checked_at=_moment(receipt.checked_at),
        institution=_institution(receipt.institution),
    )


def _moment(text: str):
    """The receipt's time (ISO 8601, UTC when it names no zone), or the text as it is."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _institution(code: str | None):
    """The registered institution a receipt names, if any (its name, for the reader)."""
    if not code:
        return None
    try:
        return get_institution(get_session(), code)
    except RegistryError:
        return None
