"""The pages of bans and hiring checks: an inspector verifies a receipt.

Thin as the API's views: read the form, call the same code, render a template.
"""

from datetime import UTC, datetime

from flask import Blueprint, render_template, request

from registry.crypto import current_keyring
from registry.db import get_session
from registry.errors import RegistryError
from registry.institutions.services import get_institution
from registry.web import page

from . import receipts

bp = Blueprint("bans_pages", __name__)

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
