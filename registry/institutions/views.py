from registry.api import Blueprint
from registry.auth.access import current_user, require, scoped_institution
from registry.db import get_session
from registry.paging import paginate, respond

from . import services
from .schemas import InstitutionQuerySchema, InstitutionSchema, InstitutionUpdateSchema

blp = Blueprint("institutions", __name__, url_prefix="/api/v1/institutions", description="托育机构")


@blp.route("", methods=["POST"])
@require("admin", "bureau")
@blp.arguments(InstitutionSchema)
@blp.response(201, InstitutionSchema)
def create_institution(data):
    """Register an institution."""
    session = get_session()
    institution = services.create_institution(session, current_user(), data)
    return institution


@blp.route("", methods=["GET"])
@require("admin", "bureau", "hr", "director", "inspector")
@blp.arguments(InstitutionQuerySchema, location="query")
@blp.response(200, InstitutionSchema(many=True))
@paginate(blp)
def list_institutions(query, pagination_parameters):
    """Institutions by district and code; `district` in any spelling its ruleset knows
    (拱墅区 finds 杭州市拱墅区). A director sees the own institution only."""
    user = current_user()
    page = services.list_institutions(
        get_session(),
        district=query["district"],
        only=user.institution if user.role == "director" else None,
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/<code>", methods=["GET"])
@require("admin", "bureau", "hr", "director", "inspector")
@blp.response(200, InstitutionSchema)
def get_institution(code):
    """Read an institution; a director reads only the own."""
    return scoped_institution(code)


@blp.route("/<code>", methods=["PATCH"])
@require("admin", "bureau", "director")
@blp.arguments(InstitutionUpdateSchema, required=False)  # no body: nothing changes
@blp.response(200, InstitutionSchema)
def update_institution(data, code):
    """Change an institution. A director changes only the own classes and `meals_on_site`."""
    session = get_session()
    institution = services.update_institution(
        session, current_user(), scoped_institution(code), data
    )
    return institution
