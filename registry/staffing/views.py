from registry import clock, limits
from registry.api import Blueprint
from registry.auth.access import current_user, require, scoped_institution
from registry.db import get_session
from registry.eligibility.schemas import ReasonSchema
from registry.errors import NotEligible
from registry.messages import _
from registry.paging import paginate, respond

from . import services
from .schemas import (
    AsOfSchema,
    ComplianceSchema,
    DistrictExpiringQuerySchema,
    EmploymentSchema,
    EndSchema,
    ExpiringQuerySchema,
    ExpiringSchema,
    HireSchema,
    RefusalSchema,
)

blp = Blueprint("staffing", __name__, url_prefix="/api/v1", description="在岗人员与配备")


@blp.route("/institutions/<code>/employments", methods=["POST"])
@require("admin", "bureau", "director")
@blp.arguments(HireSchema)
@blp.response(201, EmploymentSchema)
@blp.alt_response(409, schema=RefusalSchema, description="not eligible or barred on `start`")
def hire(data, code):
    """Hire a person in a role from `start`, if eligible on that date under the
    institution's rules and not barred; 409 `not_eligible` with the reasons otherwise.
    Only required rules refuse: advisory ones unmet come back in `advisories`. A
    `security_guard` needs `dispatch_company` and `dispatch_licence`."""
    session = get_session()
    institution = scoped_institution(code)
    limits.admit(session, current_user())
    employment, answer = services.hire(session, current_user(), institution, data)
    if employment is None:
        raise NotEligible(
            _(
                "not eligible for this role on the start date: a required rule is not met; "
                "nothing was recorded"
            ),
            audited=True,  # the refusal and its check stay on record
            barred=answer.verdict.barred,
            reasons=ReasonSchema(many=True).dump(answer.verdict.reasons),
            check_id=answer.check.id,
            receipt=answer.receipt,
        )
    return {
        **services.describe_employment(employment),
        "check_id": answer.check.id,
        "receipt": answer.receipt,
        "advisories": services.advisories(answer.verdict),
    }


@blp.route("/institutions/<code>/employments", methods=["GET"])
@require("admin", "bureau", "director", "inspector")
@blp.arguments(AsOfSchema, location="query")
@blp.response(200, EmploymentSchema(many=True))
@paginate(blp)
def roster(query, code, pagination_parameters):
    """Staff in post on `as_of`, by role and start."""
    institution = scoped_institution(code)
    page = services.roster(
        get_session(),
        institution,
        query["as_of"] or clock.today(),
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/employments/<id:employment_id>/end", methods=["POST"])
@require("admin", "bureau", "director")
@blp.arguments(EndSchema)
@blp.response(200, EmploymentSchema)
def end(data, employment_id):
    """End an employment on `end` (the last day in post)."""
    session = get_session()
    employment = services.get_employment(session, employment_id, current_user())
    services.end_employment(session, current_user(), employment, data["end"])
    return services.describe_employment(employment)


@blp.route("/institutions/<code>/compliance", methods=["GET"])
@require("admin", "bureau", "director", "inspector")
@blp.arguments(AsOfSchema, location="query")
@blp.response(200, ComplianceSchema)
def compliance(query, code):
    """Classes, caregivers, health staff and cooks against the district's rules on
    `as_of`, with every shortfall and its source."""
    institution = scoped_institution(code)
    return services.compliance(get_session(), institution, query["as_of"] or clock.today())


@blp.route("/institutions/<code>/expiring", methods=["GET"])
@require("admin", "bureau", "director", "inspector", "hr")
@blp.arguments(ExpiringQuerySchema, location="query")
@blp.response(200, ExpiringSchema(many=True))
@paginate(blp)
def expiring(query, code, pagination_parameters):
    """Certificates of the staff in post that have expired (`state` `expired`, first)
    or expire within `within` days (`expiring`), soonest first."""
    institution = scoped_institution(code)
    page = services.expiring(
        get_session(),
        query["within"],
        query["as_of"] or clock.today(),
        institution=institution,
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/expiring", methods=["GET"])
@require("admin", "bureau", "hr", "inspector")
@blp.arguments(DistrictExpiringQuerySchema, location="query")
@blp.response(200, ExpiringSchema(many=True))
@paginate(blp)
def expiring_everywhere(query, pagination_parameters):
    """`registry expiring` for the bureau: certificates of staff in post at every
    institution (or a `district`'s) that have expired, then those expiring within
    `within` days, soonest first."""
    page = services.expiring(
        get_session(),
        query["within"],
        query["as_of"] or clock.today(),
        district=query["district"],
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)
