from registry import clock, limits
from registry.api import Blueprint
from registry.auth.access import asking_for, current_user, require
from registry.db import get_session

from . import services
from .schemas import EligibilityQuerySchema, VerdictSchema, dispatch_of

blp = Blueprint("eligibility", __name__, url_prefix="/api/v1/eligibility", description="任职资格")


@blp.route("", methods=["POST"])
@require("director", "bureau", "inspector")
@blp.arguments(EligibilityQuerySchema)
@blp.response(200, VerdictSchema)
def check(data):
    """May this person hold `role` on `as_of`? Every rule of the role, passed or failed,
    with its severity and source; only required rules decide `eligible`; `barred`
    without the ban's details."""
    session = get_session()
    institution = asking_for(data["institution"])
    limits.admit(session, current_user())
    as_of = data["as_of"] or clock.today()
    answer = services.check_eligibility(
        session,
        current_user(),
        data["identity"],
        data["role"],
        as_of,
        institution,
        dispatch_of(data),
    )
    return services.describe(answer)
