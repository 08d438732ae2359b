from registry import clock
from registry.api import Blueprint
from registry.auth.access import require
from registry.db import get_session

from . import services
from .schemas import RatesQuerySchema, RatesSchema

blp = Blueprint("rates", __name__, url_prefix="/api/v1", description="持证率")


@blp.route("/rates")
@require("admin", "bureau", "inspector")
@blp.arguments(RatesQuerySchema, location="query")
@blp.response(200, RatesSchema)
def rates(query):
    """Certification rates on `as_of` (default today) of every institution, or of one
    district's, with each district's roll-up and target. A director finds the own
    institution's figure under its compliance."""
    return services.rates(get_session(), query["as_of"] or clock.today(), query["district"])
