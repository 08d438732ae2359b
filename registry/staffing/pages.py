"""The director's pages (机构负责人): check a candidate and print the receipt, hire, the
roster with ending an employment, compliance, expiring certificates and alerts; and the
inspector's read-only rosters.

As thin as the API's views: the form is read with the API's own schemas, the same
services answer. The identity number comes only in POST bodies and is shown masked,
except in the field the director typed.
"""

import segno
import sqlalchemy as sa
from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from registry import clock, limits
from registry.alerts import services as alert_services
from registry.bans import receipts
from registry.bans.models import BanCheck
from registry.db import get_session
from registry.eligibility import services as eligibility
from registry.eligibility.schemas import EligibilityQuerySchema, dispatch_of
from registry.errors import Conflict, Invalid, NotFound
from registry.institutions.services import get_institution, list_institutions
from registry.vocabulary import CHECK_RESULTS, CLASS_TYPES, STAFF_ROLES
from registry.web import error_page, form_errors, page, page_number

from . import services
from .schemas import AsOfSchema, EndSchema, HireSchema

bp = Blueprint("director", __name__, url_prefix="/director")

# The text the director declares by ticking the box of the hiring form; the hire records
# that it was declared, by whom and when (未成年人保护法 第六十二条).
DECLARATION = (
    "本机构已核实拟录用人员具有完全民事行为能力，且无性侵害、虐待、拐卖、暴力伤害等违法犯罪"
    "记录，不存在《中华人民共和国未成年人保护法》第六十二条规定的不得从事密切接触未成年人"
    "工作的情形；本机构对上述声明的真实性负责。"
)

FIELD_NAMES = {
    "id_number": "证件号码",
    "id_type": "证件类型",
    "role": "岗位",
    "start": "入职日期",
    "end": "离职日期",
    "declaration": "声明",
    "dispatch_company": "派遣公司",
    "dispatch_licence": "保安服务许可证号",
}

PAGE_SIZE = 20


def _form_data(fields: tuple[str, ...]) -> dict:
    """The form's text fields; empty ones left out, as an API client would leave them."""
    return {f: request.form[f] for f in fields if request.form.get(f, "").strip()}


# -- 候选人核查 ---------------------------------------------------------------------------


@bp.route("/check", methods=["GET", "POST"])
@page("director")
def check():
    roles = STAFF_ROLES
    if request.method == "GET":
        return render_template("staffing/check.html", roles=roles, form={}, errors={})
    form = request.form
    raw = _form_data(("id_number", "role", "dispatch_company", "dispatch_licence"))
    try:
        data = EligibilityQuerySchema().load(raw)
    except ValidationError as invalid:
        return render_template(
            "staffing/check.html",
            roles=roles,
            form=form,
            errors=form_errors(invalid.messages, FIELD_NAMES),
        ), 422
    session, user = get_session(), g.page_user
    institution = user.institution
    limits.admit(session, user)
    answer = eligibility.check_eligibility(
        session, user, data["identity"], data["role"], clock.today(), institution, dispatch_of(data)
    )
    verdict = answer.verdict
    barred = answer.check.result == "barred"
    return render_template(
        "staffing/answer.html",
        masked=data["identity"].masked,
        role=data["role"],
        role_name=roles[data["role"]],
        verdict=verdict,
        check=answer.check,
        barred=barred,
        contact=current_app.extensions["registry.settings"].ban_contact if barred else None,
        missing=[r for r in verdict.reasons if not r.ok],
        registered=answer.person is not None,
    )


@bp.route("/checks/<int:check_id>/receipt")
@page("director")
def receipt(check_id: int):
    """The printable receipt of one of the institution's checks, by its id: the number
    is never in the address, and the receipt is signed again from the stored check."""
    user = g.page_user
    found = get_session().scalar(
        sa.select(BanCheck).where(
            BanCheck.id == check_id,
            BanCheck.institution_id == user.institution_id,
            BanCheck.id_number_masked.is_not(None),
        )
    )
    if found is None:
        return error_page(404, "本机构没有这条核查记录。")
    token = receipts.issue(found, user.institution.code, found.id_number_masked)
    qr = segno.make(token, error="m").svg_inline(scale=3, title="回执令牌二维码", omitsize=True)
    return render_template(
        "staffing/receipt.html",
        check=found,
        result_name=CHECK_RESULTS[found.result],
        institution=user.institution,
        token=token,
        qr=qr,
    )


# -- 录用 -----------------------------------------------------------------------------


def _hire_form(form, errors, status=200, message=None):
    return render_template(
        "staffing/hire.html",
        roles=STAFF_ROLES,
        form=form,
        errors=errors,
        declaration=DECLARATION,
        message=message,
        today=clock.today(),
    ), status


@bp.route("/hire", methods=["GET", "POST"])
@page("director")
def hire():
    if request.method == "GET":
        return _hire_form({}, {})
    form = request.form
    raw = _form_data(("id_number", "role", "start", "dispatch_company", "dispatch_licence"))
    raw["declaration"] = form.get("declaration") == "yes"
    raw["full_time"] = form.get("full_time", "yes") == "yes"
    try:
        data = HireSchema().load(raw)
    except ValidationError as invalid:
        errors = dict(invalid.messages)
        if "declaration" in errors:
            errors["declaration"] = "请阅读并勾选声明后再录用（the declaration must be ticked）"
        return _hire_form(form, form_errors(errors, FIELD_NAMES), 422)
    session, user = get_session(), g.page_user
    try:
        limits.admit(session, user)
        employment, answer = services.hire(session, user, user.institution, data)
    except (Invalid, Conflict) as refused:
        session.rollback()
        message = refused.message
        if isinstance(refused, Conflict):
            message = f"此人已在本机构担任该岗位，未重复录用（{refused.message}）"
        return _hire_form(
            form, form_errors(refused.errors or {}, FIELD_NAMES), refused.status, message
        )
    verdict = answer.verdict
    return render_template(
        "staffing/hired.html",
        employment=employment,
        name=services.describe_employment(employment)["name"] if employment else None,
        role_name=STAFF_ROLES[data["role"]],
        masked=data["identity"].masked,
        verdict=verdict,
        check=answer.check,
        refused=[r for r in verdict.reasons if not r.ok and r.severity == "required"],
        advisories=eligibility.advisories(verdict),
    )


# -- 在岗人员 ---------------------------------------------------------------------------


def _roster(errors=None, status=200):
    user = g.page_user
    today = clock.today()
    found = services.roster(
        get_session(), user.institution, today, page=page_number(), page_size=PAGE_SIZE
    )
    return render_template(
        "staffing/roster.html",
        found=found,
        roles=STAFF_ROLES,
        errors=errors or {},
        ended=request.args.get("ended"),
        today=today,
    ), status


@bp.route("/roster")
@page("director")
def roster():
    return _roster()


@bp.route("/roster/<int:employment_id>/end", methods=["POST"])
@page("director")
def end(employment_id: int):
    session, user = get_session(), g.page_user
    try:
        employment = services.get_employment(session, employment_id, user)
    except NotFound:
        return error_page(404, "本机构没有这条在岗记录。")
    try:
        data = EndSchema().load(_form_data(("end",)))
        services.end_employment(session, user, employment, data["end"])
    except ValidationError as invalid:
        return _roster({employment_id: form_errors(invalid.messages, FIELD_NAMES)["end"]}, 422)
    except (Invalid, Conflict) as refused:
        session.rollback()
        messages = {
            Conflict: "该人员已离职，无需再次办理",
            Invalid: f"离职日期不能早于入职日期（{employment.start}）",
        }
        return _roster({employment_id: [messages[type(refused)]]}, refused.status)
    return redirect(url_for("director.roster", ended=employment.id))


# -- 合规情况 · 证书到期 · 提醒 -----------------------------------------------------------


@bp.route("/compliance")
@page("director")
def compliance():
    result = services.compliance(get_session(), g.page_user.institution, clock.today())
    return render_template("staffing/compliance.html", result=result, class_types=CLASS_TYPES)


@bp.route("/expiring")
@page("director")
def expiring():
    today = clock.today()
    found = services.expiring(
        get_session(),
        90,
        today,
        institution=g.page_user.institution,
        page=page_number(),
        page_size=PAGE_SIZE,
    )
    return render_template(
        "staffing/expiring.html",
        found=found,
        expired=[r for r in found.items if r["state"] == "expired"],
        expiring=[r for r in found.items if r["state"] == "expiring"],
        roles=STAFF_ROLES,
    )


@bp.route("/alerts")
@page("director")
def alerts():
    session, user = get_session(), g.page_user
    open_ = alert_services.list_alerts(
        session, user, acknowledged=False, page=page_number(), page_size=PAGE_SIZE
    )
    seen = alert_services.list_alerts(
        session, user, acknowledged=True, page=page_number("seen_page"), page_size=PAGE_SIZE
    )
    return render_template(
        "staffing/alerts.html", open=open_, seen=seen, done=request.args.get("done")
    )


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@page("director")
def acknowledge(alert_id: int):
    session = get_session()
    try:
        alert_services.acknowledge(session, g.page_user, alert_id)
    except NotFound:
        return error_page(404, "本机构没有这条提醒。")
    except Conflict:
        session.rollback()  # acknowledged already (another tab): nothing to do
    return redirect(url_for("director.alerts", done=alert_id))


ROSTER_PAGE_SIZE = 50

# The inspector's read-only rosters.
rosters_bp = Blueprint("staffing_pages", __name__)


@rosters_bp.route("/rosters")
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
        errors, day = form_errors(exc.messages), None
    day = day or clock.today()
    if code:
        try:
            institution = get_institution(session, code)
        except Invalid as exc:
            errors.update(form_errors(exc.errors))
        except NotFound:
            errors["code"] = "没有这个代码的机构（no institution with this code）"
    if institution is not None and not errors:
        roster = services.roster(
            session, institution, day, page=page_number(), page_size=ROSTER_PAGE_SIZE
        )
    found = None
    if institution is None:
        found = list_institutions(session, page=page_number(), page_size=ROSTER_PAGE_SIZE)
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
