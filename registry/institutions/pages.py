"""The bureau's pages of institutions: the list (district filter, search), add, edit.
Thin as the API's views: the API's schemas read the form, the same services write."""

from flask import Blueprint, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from registry.db import get_session
from registry.errors import Conflict, Invalid
from registry.paging import PAGE_SIZE
from registry.vocabulary import CLASS_TYPES
from registry.web import form_errors, page, page_number

from . import services
from .schemas import InstitutionSchema, InstitutionUpdateSchema

bp = Blueprint("institutions_pages", __name__)

# Empty rows offered for classes below those an institution has.
SPARE_CLASS_ROWS = 3
MAX_CLASS_ROWS = 200


@bp.route("/institutions")
@page("bureau", "admin")
def index():
    district = " ".join(request.args.get("district", "").split()) or None
    search = request.args.get("q", "").strip() or None
    errors = {}
    try:
        found = services.list_institutions(
            get_session(),
            district=district,
            search=search,
            page=page_number(),
            page_size=PAGE_SIZE,
        )
    except Invalid as exc:
        errors = form_errors(exc.errors or {"district": [exc.message]})
        found = None
    return render_template(
        "institutions/index.html",
        found=found,
        district=district or "",
        search=search or "",
        errors=errors,
        class_types=CLASS_TYPES,
        added=request.args.get("added"),
        saved=request.args.get("saved"),
    )


def _form() -> dict:
    """The form as the API's JSON would carry it; what is not a number stays text so
    that the schema names it."""
    form = request.form
    classes = []
    rows = form.get("class_rows", "")
    for index in range(min(int(rows), MAX_CLASS_ROWS) if rows.isdigit() else 0):
        kind = form.get(f"classes-{index}-type", "").strip()
        children = form.get(f"classes-{index}-children", "").strip()
        if not kind and not children:
            continue
        classes.append(
            {"type": kind, "children": int(children) if children.isdigit() else children}
        )
    data = {
        "name": form.get("name", ""),
        "district": form.get("district", ""),
        "classes": classes,
        "meals_on_site": form.get("meals_on_site") == "yes",
    }
    if "code" in form:
        data["code"] = form.get("code", "")
    return data


def _rows(classes: list[dict]) -> list[dict]:
    return list(classes) + [{"type": "", "children": ""}] * SPARE_CLASS_ROWS


def _render_form(institution, values: dict, errors: dict, status: int = 200):
    return (
        render_template(
            "institutions/form.html",
            institution=institution,
            values=values,
            rows=_rows(values.get("classes", [])),
            errors=errors,
            class_types=CLASS_TYPES,
        ),
        status,
    )


@bp.route("/institutions/new", methods=["GET", "POST"])
@page("bureau", "admin")
def add():
    if request.method == "GET":
        return _render_form(None, {"meals_on_site": False, "classes": []}, {})
    values = _form()
    try:
        data = InstitutionSchema().load(values)
        institution = services.create_institution(get_session(), g.page_user, data)
    except ValidationError as exc:
        return _render_form(None, values, form_errors(exc.messages), 422)
    except Conflict:
        errors = {"code": "该统一社会信用代码的机构已登记。"}
        return _render_form(None, values, errors, 409)
    return redirect(url_for(".index", added=institution.code))


@bp.route("/institutions/<code>/edit", methods=["GET", "POST"])
@page("bureau", "admin")
def edit(code):
    session = get_session()
    institution = services.get_institution(session, code)
    if request.method == "GET":
        values = {
            "name": institution.name,
            "district": institution.district,
            "meals_on_site": institution.meals_on_site,
            "classes": [{"type": c.type, "children": c.children} for c in institution.classes],
        }
        return _render_form(institution, values, {})
    values = _form()
    values.pop("code", None)
    try:
        data = InstitutionUpdateSchema().load(values)
        services.update_institution(session, g.page_user, institution, data)
    except ValidationError as exc:
        return _render_form(institution, values, form_errors(exc.messages), 422)
    return redirect(url_for(".index", saved=institution.code))
