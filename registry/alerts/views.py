from registry.api import Blueprint
from registry.auth.access import current_user, require, scoped_institution
from registry.db import get_session
from registry.paging import paginate, respond

from . import services
from .schemas import AlertQuerySchema, AlertSchema

blp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="提醒")


@blp.route("", methods=["GET"])
@require("admin", "bureau", "director")
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertSchema(many=True))
@paginate(blp)
def alerts(query, pagination_parameters):
    """Alerts about current employees (a ban, a certificate revoked or about to expire),
    newest first: all for the bureau, the own institution's for a director (without the
    ban). Filter by `acknowledged`, `institution` and `kind`."""
    institution = scoped_institution(query["institution"]) if query["institution"] else None
    page = services.list_alerts(
        get_session(),
        current_user(),
        acknowledged=query["acknowledged"],
        institution=institution,
        kind=query["kind"],
        page=pagination_parameters.page,
        page_size=pagination_parameters.page_size,
    )
    return respond(pagination_parameters, page)


@blp.route("/<id:alert_id>/acknowledge", methods=["POST"])
@require("admin", "bureau", "director")
@blp.response(200, AlertSchema)
def acknowledge(alert_id):
    """Acknowledge an alert (recorded with who and when)."""
    session = get_session()
    user = current_user()
    alert = services.acknowledge(session, user, alert_id)
    return services.describe_alert(session, user, alert.id)
