import base64

from flask import current_app

from registry import clock, limits
from registry.api import Blueprint
from registry.auth.access import asking_for, current_user, public, require
from registry.crypto import current_keyring
from registry.db import begin_writing, get_session
from registry.paging import paginate, respond

from . import services
from .schemas import (
    BanQuerySchema,
    BanSchema,
    CheckRecordSchema,
    CheckRequestSchema,
    CheckResultSchema,
    PersonQuerySchema,
    PublicKeysSchema,
    RevokeBanSchema,
)

blp = Blueprint("bans", __name__, url_prefix="/api/v1", description="禁止从业（黑名单）")

# One instance for every check: given the class, webargs makes a schema per request.
CHECK_REQUEST = CheckRequestSchema()


@blp.route("/bans", methods=["POST"])
@require("admin", "bureau")
@blp.arguments(BanSchema)
@blp.response(201, BanSchema)
def add_ban(data):
    """Record a ban; every current employment of the person raises an alert at once.
    409 with the existing `id` when the number is already under an active ban."""
    session = get_session()
    ban, alerts = services.add_ban(session, current_user(), data)
    return services.describe_ban(ban, alerts=len(alerts))


@blp.route("/bans", methods=["GET"])
@require("admin", "bureau")
@blp.arguments(BanQuerySchema, location="query")
@blp.response(200, BanSchema(many=True))
@paginate(blp)
def list_bans(query, pagination_parameters):
    """The blacklist, newest decision first: name, masked number, category, authority,
    decision and dates; `status` `active` or `revoked` to see only those."""
    page = services.list_bans(
        get_session(),
        status=query["status"],
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/bans/<id:ban_id>/revoke", methods=["POST"])
@require("admin", "bureau")
@blp.arguments(RevokeBanSchema)
@blp.response(200, BanSchema)
def revoke_ban(data, ban_id):
    """Revoke a ban with a reason; the row stays, and checks answer `clear` again."""
    session = get_session()
    ban = services.revoke_ban(
        session, current_user(), services.get_ban(session, ban_id), data["reason"]
    )
    return services.describe_ban(ban)


@blp.route("/ban-checks", methods=["POST"])
@require("director", "bureau", "inspector")
@blp.arguments(CHECK_REQUEST)
@blp.response(200, CheckResultSchema)
def check(data):
    """Check a candidate before hiring: `clear` or `barred` (with whom to contact), never
    the ban's details, with a signed receipt. Rate limited per user (429)."""
    session, user, identity = get_session(), current_user(), data["identity"]
    institution = asking_for(data["institution"])
    ban_id = services.find_ban_id(session, identity, clock.today())
    begin_writing(session)
    row = services.record_check(
        session, user, identity, ban_id, purpose=data["purpose"], institution=institution
    )
    limits.admit(session, user, stored=1)
    # A named exception to the one commit at the end of the request: the check commits
    # here, so that signing the receipt does not hold SQLite's write lock.
    session.commit()
    answer = {
        "result": row.result,
        "check_id": row.id,
        "checked_at": row.checked_at,
        "receipt": services.sign_receipt(row, institution, identity),
    }
    if row.result == "barred":
        answer["contact"] = current_app.extensions["registry.settings"].ban_contact
    return answer


@blp.route("/ban-checks/for-person", methods=["POST"])
@require("admin", "bureau")
@blp.arguments(PersonQuerySchema)
@blp.response(200, CheckRecordSchema(many=True))
@paginate(blp)
def checks_for_person(data, pagination_parameters):
    """Who checked this person: the checks of the number, newest first (`page` and
    `page_size` in the query string; the number only in the body)."""
    page = services.checks_of(
        get_session(),
        data["identity"],
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/keys/receipts", methods=["GET"])
@public
@blp.response(200, PublicKeysSchema)
def receipt_keys():
    """The public keys that sign receipts, for verifying them offline. No token needed."""
    return {
        "keys": [
            {"kid": kid, "algorithm": "Ed25519", "public_key": base64.b64encode(key).decode()}
            for kid, key in sorted(current_keyring().public_keys().items())
        ]
    }
