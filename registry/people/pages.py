"""The HR clerk's pages for people (人员): find a person by identity number (in the
POST body only) or by exact name, see the certificates with their state, correct the
record with a reason, and record, revoke and renew certificates.

The forms are read with the API's schemas and handed to the same services; a form with
an error is shown again with what was typed and the message beside the field, and
nothing is written.
"""

from flask import Blueprint, g, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError

from registry import clock, limits
from registry.credentials import services as credentials
from registry.credentials.schemas import CertificateSchema, RenewalSchema, RevocationSchema
from registry.db import get_session
from registry.errors import Conflict, Invalid, NotFound
from registry.messages import translate
from registry.vocabulary import CERTIFICATE_KINDS, EDUCATION_LEVELS, EXPERIENCE_FIELDS
from registry.web import error_page, page

from . import services
from .schemas import CorrectionSchema, LookupSchema, NameSearchSchema

bp = Blueprint("people_pages", __name__, url_prefix="/hr/people")

ROLES = ("hr", "bureau")
STATES = {"valid": "有效", "expired": "已过期", "revoked": "已撤销", "not_yet_valid": "尚未生效"}
STATE_BADGES = {"valid": "ok", "expired": "advisory", "revoked": "fail", "not_yet_valid": "muted"}
ACTIONS = {"corrected": "更正", "merged": "并入", "merged_into": "被并入"}


def _load(schema: Schema, form: dict) -> tuple[dict | None, dict]:
    """``form`` through the API's ``schema``: (data, {}) or (None, {field: message})."""
    try:
        return schema.load(form), {}
    except ValidationError as exc:
        return None, _messages(exc.messages)


def _messages(errors) -> dict:
    """One Chinese message per field (the first), as a form shows it beside the field."""
    if not isinstance(errors, dict):
        return {"_": translate(str(errors))}
    shown = {}
    for field, messages in errors.items():
        while isinstance(messages, list | dict):
            messages = (list(messages.values()) if isinstance(messages, dict) else messages)[0]
        shown[field] = translate(str(messages))
    return shown


def _filled(form, names) -> dict:
    """The fields of ``names`` the user filled in (an empty field is not sent)."""
    return {name: form[name].strip() for name in names if form.get(name, "").strip()}


@bp.route("", methods=["GET"])
@page(*ROLES)
def people():
    return render_template("people/find.html", form={}, errors={}, found=None)


@bp.route("/find", methods=["POST"])
@page(*ROLES)
def find():
    """By number (one person, or 'not registered') or by exact name (a list)."""
    session = get_session()
    form = {"id_number": request.form.get("id_number", ""), "name": request.form.get("name", "")}
    if form["id_number"].strip():
        data, errors = _load(LookupSchema(), {"id_number": form["id_number"]})
        if errors:
            return _find_again(form, errors)
        limits.spend(session, g.page_user, "lookup")
        person = services.look_up(session, g.page_user, data["identity"])
        if person is None:  # the lookup stays audited: the page's answer commits it
            return _find_again(form, {"id_number": "没有登记此证件号码的人员。"}, 404)
        return redirect(url_for("people_pages.person", person_id=person.public_id))
    if form["name"].strip():
        data, errors = _load(NameSearchSchema(), {"name": form["name"]})
        if errors:
            return _find_again(form, errors)
        limits.spend(session, g.page_user, "search")
        found = services.search_by_name(session, g.page_user, data["name"])
        return render_template(
            "people/find.html", form=form, errors={}, found=found, educations=EDUCATION_LEVELS
        )
    return _find_again(form, {"id_number": "请输入证件号码或姓名。"})


def _find_again(form, errors, status=422):
    return render_template("people/find.html", form=form, errors=errors, found=None), status


@bp.route("/<person:person_id>", methods=["GET"])
@page(*ROLES)
def person(person_id):
    return _person_page(person_id)


def _person_page(person_id, *, form=None, errors=None, which=None, done=None, status=200):
    """The person, certificates and history; ``which`` names the form that had
    ``errors`` (kept with what was typed in ``form``)."""
    session = get_session()
    try:
        record = services.get_person(session, person_id)
    except NotFound:
        return error_page(404, "没有这个人员。")
    person = services.describe(session, record, clock.today())
    html = render_template(
        "people/person.html",
        person=person,
        history=services.history_of(session, record),
        form=form or {},
        errors=errors or {},
        which=which,
        done=done or request.args.get("done"),
        kinds=CERTIFICATE_KINDS,
        educations=EDUCATION_LEVELS,
        experience_fields=EXPERIENCE_FIELDS,
        states=STATES,
        badges=STATE_BADGES,
        actions=ACTIONS,
    )
    return html, status


def _refused(person_id, form, which, exc):
    """A service refused the change: nothing of it stays, the form is shown again."""
    get_session().rollback()
    errors = _messages(exc.errors) if getattr(exc, "errors", None) else {}
    errors["_"] = exc.message
    status = 409 if isinstance(exc, Conflict) else 422
    return _person_page(person_id, form=form, errors=errors, which=which, status=status)


def _done(person_id, what):
    return redirect(url_for("people_pages.person", person_id=person_id, done=what))


@bp.route("/<person:person_id>/correct", methods=["POST"])
@page(*ROLES)
def correct(person_id):
    fields = ("reason", "name", "education", "major")
    return _change_person(person_id, CorrectionSchema(), fields, "correct", services.correct_person)


@bp.route("/<person:person_id>/certificates", methods=["POST"])
@page(*ROLES)
def add_certificate(person_id):
    fields = ("kind", "level", "number", "issuer", "issued_on", "expires_on")
    add = credentials.add_certificate
    return _change_person(person_id, CertificateSchema(), fields, "add", add)


def _change_person(person_id, schema, fields: tuple[str, ...], which: str, change):
    """One of the person page's forms (``which``): its filled ``fields`` loaded by
    ``schema`` and handed to ``change``; the page again with the errors, or done."""
    session = get_session()
    form = request.form.to_dict()
    data, errors = _load(schema, _filled(form, fields))
    if errors:
        return _person_page(person_id, form=form, errors=errors, which=which, status=422)
    try:
        record = services.get_person(session, person_id)
        change(session, g.page_user, record, data)
    except NotFound:
        return error_page(404, "没有这个人员。")
    except (Invalid, Conflict) as exc:
        return _refused(person_id, form, which, exc)
    return _done(person_id, {"correct": "corrected", "add": "added"}[which])


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["POST"])
@page(*ROLES)
def revoke(certificate_id):
    return _certificate_change(certificate_id, "revoke")


@bp.route("/certificates/<int:certificate_id>/renew", methods=["POST"])
@page(*ROLES)
def renew(certificate_id):
    return _certificate_change(certificate_id, "renew")


def _certificate_change(certificate_id, action):
    session = get_session()
    try:
        certificate = credentials.get_certificate(session, certificate_id)
    except NotFound:
        return error_page(404, "没有这张证书。")
    person_id = services.public_ids(session, [certificate.person_id])[certificate.person_id]
    form = request.form.to_dict()
    which = f"{action}-{certificate_id}"
    if action == "revoke":
        data, errors = _load(RevocationSchema(), _filled(form, ("reason", "revoked_on")))
    else:
        fields = ("level", "number", "issuer", "issued_on", "expires_on")
        data, errors = _load(RenewalSchema(), _filled(form, fields))
    if errors:
        return _person_page(person_id, form=form, errors=errors, which=which, status=422)
    try:
        if action == "revoke":
            revoked_on = data["revoked_on"] or clock.today()
            credentials.revoke(session, g.page_user, certificate, data["reason"], revoked_on)
        else:
            credentials.renew(session, g.page_user, certificate, data)
    except (Invalid, Conflict) as exc:
        return _refused(person_id, form, which, exc)
    return _done(person_id, "revoked" if action == "revoke" else "renewed")
