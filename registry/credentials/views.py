from registry import clock
from registry.api import Blueprint
from registry.auth.access import current_user, require
from registry.db import get_session

from . import services
from .schemas import CertificateOutSchema, RenewalSchema, RevocationSchema

blp = Blueprint("certificates", __name__, url_prefix="/api/v1/certificates", description="证书")


@blp.route("/<id:certificate_id>/revoke", methods=["POST"])
@require("bureau", "hr")
@blp.arguments(RevocationSchema)
@blp.response(200, CertificateOutSchema)
def revoke(data, certificate_id):
    """Revoke a certificate with a reason, from `revoked_on` (default today). The row stays."""
    session = get_session()
    certificate = services.get_certificate(session, certificate_id)
    services.revoke(
        session, current_user(), certificate, data["reason"], data["revoked_on"] or clock.today()
    )
    return services.describe_certificate(certificate, clock.today())


@blp.route("/<id:certificate_id>/renewals", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(RenewalSchema)
@blp.response(201, CertificateOutSchema)
def renew(data, certificate_id):
    """Record the renewal of a certificate: a new row naming the one it replaces; 503
    `busy` with `Retry-After` while a roll is being imported."""
    session = get_session()
    certificate = services.get_certificate(session, certificate_id)
    renewal = services.renew(session, current_user(), certificate, data)
    return services.describe_certificate(renewal, clock.today())
