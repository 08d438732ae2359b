"""The pages of staffing: an inspector reads an institution's roster.

Thin as the API's views: read the query, call the same services, render a template.
Nothing here changes anything.
"""

from flask import Blueprint, render_template, request
from marshmallow import ValidationError

from registry import clock
from registry.db import get_session
from registry.errors import Invalid, NotFound
from registry.institutions.services import get_institution, list_institutions
from registry.vocabulary import STAFF_ROLES
from registry.web import field_errors, page, page_number

from . import services
from .schemas import AsOfSchema

bp = Blueprint("staffing_pages", __name__)

PAGE_SIZE = 50


@bp.route("/rosters")
@page("inspector")
def rosters():
    """Choose an institution (by code, or from the list): its staff in post on a day,
    read-only. Institution codes are public (统一社会信用代码), so they may be in the
    address; identity numbers never are, and the roster shows none."""
    session = get_session()
    code = request.args.get("code", "").strip()
    as_of_text = request.args.get("as_of", "").strip()
    errors, institution, roster = {}, None, None
    try:
        day = AsOfSchema().load({"as_of": as_of_text} if as_of_text else {})["as_of"]
    except ValidationError as exc:
        errors, day = field_errors(exc.messages), None
    day = day or clock.today()
    if code:
        try:
            institution = get_institution(session, code)
        except Invalid as exc:
            errors.update(field_errors(exc.errors))
        except NotFound:
            errors["code"] = ["没有这个代码的机构（no institution with this code）"]
    if institution is not None and not errors:
        roster = services.roster(session, institution, day, page=page_number(), page_size=PAGE_SIZE)
    found = None
    if institution is None:
        found = list_institutions(session, page=page_number(), page_size=PAGE_SIZE)
    status = 422 if errors else 200
    return render_template(
        "staffing/rosters.html",
        code=code,
        as_of=as_of_text,
        day=day,
        errors=errors,
        institution=institution,
        roster=roster,
        found=roster or found,
        args={k: v for k, v in (("code", code), ("as_of", as_of_text)) if v},
        roles=STAFF_ROLES,
    ), status
