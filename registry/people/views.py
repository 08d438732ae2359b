from datetime import date

from flask_smorest import Blueprint

from registry import limits
from registry.auth.access import current_user, require
from registry.credentials import services as credentials
from registry.credentials.schemas import CertificateOutSchema, CertificateSchema
from registry.db import get_session
from registry.errors import NotFound

from . import services
from .schemas import ExperienceListSchema, ExperienceSchema, LookupSchema, PersonSchema

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="从业人员")


@blp.route("", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(PersonSchema)
@blp.response(201, PersonSchema)
def register_person(data):
    """Register a person; 409 with the existing `id` if the number is already registered."""
    session = get_session()
    person = services.register_person(session, current_user(), data)
    session.commit()
    return services.describe(session, person, date.today())


@blp.route("/lookup", methods=["POST"])
@require("admin", "bureau", "hr", "director", "inspector")
@blp.arguments(LookupSchema)
@blp.response(200, PersonSchema)
def look_up(data):
    """A person's qualifications by identity number: name, education, major, experience
    and certificates with their state on `as_of`. Never bans: ask `/ban-checks`.
    Counts against the user's limit of checks (429 beyond it)."""
    session = get_session()
    user = current_user()
    limits.spend(session, user, "lookup")  # the same budget as hiring checks
    person = services.look_up(session, user, data["identity"])
    session.commit()  # the lookup is audited whether or not it found somebody
    if person is None:
        raise NotFound("no person with this identity number is registered")
    as_of = data["as_of"] or date.today()
    return services.describe(session, person, as_of, reasons=user.role != "director")


@blp.route("/<id:person_id>", methods=["GET"])
@require("admin", "bureau", "hr", "inspector")
@blp.response(200, PersonSchema)
def get_person(person_id):
    """A person by id."""
    session = get_session()
    return services.describe(session, services.get_person(session, person_id), date.today())


@blp.route("/<id:person_id>/experience", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(ExperienceListSchema)
@blp.response(201, ExperienceSchema(many=True))
def add_experience(data, person_id):
    """Add periods of work experience."""
    session = get_session()
    person = services.get_person(session, person_id)
    added = services.add_experience(session, current_user(), person, data["experience"])
    session.commit()
    return added


@blp.route("/<id:person_id>/certificates", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(CertificateSchema)
@blp.response(201, CertificateOutSchema)
def add_certificate(data, person_id):
    """Record a certificate; 409 with the existing `id` if the issuer's number is known."""
    session = get_session()
    person = services.get_person(session, person_id)
    certificate = credentials.add_certificate(session, current_user(), person, data)
    session.commit()
    return credentials.describe_certificate(certificate, date.today())
