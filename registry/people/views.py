from registry import clock, limits
from registry.api import Blueprint
from registry.auth.access import current_user, require
from registry.credentials import services as credentials
from registry.credentials.schemas import CertificateOutSchema, CertificateSchema
from registry.db import get_session
from registry.errors import NotFound
from registry.messages import _

from . import services
from .schemas import (
    CorrectionSchema,
    ExperienceListSchema,
    ExperienceSchema,
    HistoryEntrySchema,
    LookupSchema,
    MergeSchema,
    NameSearchSchema,
    PersonSchema,
    SearchResultSchema,
)

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="从业人员")


@blp.route("", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(PersonSchema)
@blp.response(201, PersonSchema)
def register_person(data):
    """Register a person; 409 with the existing `id` if the number is already registered;
    503 `busy` with `Retry-After` while a roll is being imported."""
    session = get_session()
    person = services.register_person(session, current_user(), data)
    return services.describe(session, person, clock.today())


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
    if person is None:
        # The lookup stays audited whether or not it found somebody.
        raise NotFound(_("no person with this identity number is registered"), audited=True)
    as_of = data["as_of"] or clock.today()
    return services.describe(session, person, as_of, reasons=user.role != "director")


@blp.route("/<person:person_id>", methods=["GET"])
@require("admin", "bureau", "hr", "inspector")
@blp.response(200, PersonSchema)
def get_person(person_id):
    """A person by id."""
    session = get_session()
    return services.describe(session, services.get_person(session, person_id), clock.today())


@blp.route("/<person:person_id>/experience", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(ExperienceListSchema)
@blp.response(201, ExperienceSchema(many=True))
def add_experience(data, person_id):
    """Add periods of work experience."""
    session = get_session()
    person = services.get_person(session, person_id)
    added = services.add_experience(session, current_user(), person, data["experience"])
    return added


@blp.route("/<person:person_id>/certificates", methods=["POST"])
@require("admin", "bureau", "hr")
@blp.arguments(CertificateSchema)
@blp.response(201, CertificateOutSchema)
def add_certificate(data, person_id):
    """Record a certificate; 409 with the existing `id` if the issuer's number is known;
    503 `busy` with `Retry-After` while a roll is being imported."""
    session = get_session()
    person = services.get_person(session, person_id)
    certificate = credentials.add_certificate(session, current_user(), person, data)
    return credentials.describe_certificate(certificate, clock.today())


@blp.route("/<person:person_id>", methods=["PATCH"])
@require("bureau", "hr")
@blp.arguments(CorrectionSchema)
@blp.response(200, PersonSchema)
def correct_person(data, person_id):
    """Correct name, education, major or experience periods, with a `reason`; the values
    before are kept in the person's history. An identity number is never corrected in
    place: a record under a wrong number is merged into the right one."""
    session = get_session()
    person = services.get_person(session, person_id)
    services.correct_person(session, current_user(), person, data)
    return services.describe(session, person, clock.today())


@blp.route("/<person:person_id>/history", methods=["GET"])
@require("bureau", "hr")
@blp.response(200, HistoryEntrySchema(many=True))
def history(person_id):
    """Corrections and merges of a person, oldest first, with the values before each
    (and the history of records merged into this one)."""
    session = get_session()
    return services.history_of(session, services.get_person(session, person_id))


@blp.route("/search", methods=["POST"])
@require("bureau", "hr")
@blp.arguments(NameSearchSchema)
@blp.response(200, SearchResultSchema)
def search(data):
    """People with exactly this name (spaces, full-width forms and middle-dot variants
    do not matter), with masked numbers; the name travels in the body, never the URL.
    Audited; counts against the user's limit of checks (429 beyond it)."""
    session = get_session()
    user = current_user()
    limits.spend(session, user, "search")
    found = services.search_by_name(session, user, data["name"])
    return found


@blp.route("/<person:person_id>/merge", methods=["POST"])
@require("bureau")
@blp.arguments(MergeSchema)
@blp.response(200, PersonSchema)
def merge(data, person_id):
    """Merge this record (under a wrong number) into `into`: certificates, employments,
    checks and experience move; this record stays, marked merged. 409 for overlapping
    employments, names that differ (unless `names_differ`), or a record merged already;
    503 `busy` with `Retry-After` while a roll is being imported."""
    session = get_session()
    source = services.get_person(session, person_id)
    target = services.get_person(session, data["into"])
    services.merge_people(
        session,
        current_user(),
        source,
        target,
        data["reason"],
        names_may_differ=data["names_differ"],
    )
    return services.describe(session, target, clock.today())
