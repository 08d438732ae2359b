"""Institutions. Functions take the session and never commit."""

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from registry.audit import record_event
from registry.errors import Conflict, Forbidden, Invalid, NotFound
from registry.identity import InvalidIdentifier, parse_institution_code
from registry.messages import _
from registry.paging import Page, page_of
from registry.rates.services import registered_spellings

from .models import Institution, InstitutionClass


def create_institution(session: Session, actor, data: dict) -> Institution:
    """Register an institution from validated ``InstitutionSchema`` data."""
    if (
        session.scalar(sa.select(Institution.id).where(Institution.code == data["code"]))
        is not None
    ):
        raise Conflict(_("institution {code} is already registered", code=data["code"]))
    institution = Institution(
        code=data["code"],
        name=data["name"],
        district=data["district"],
        meals_on_site=data.get("meals_on_site", False),
        classes=[
            InstitutionClass(type=c["type"], children=c["children"])
            for c in data.get("classes", [])
        ],
    )
    session.add(institution)
    session.flush()
    record_event(
        session,
        actor,
        "institution.created",
        f"institution:{institution.code}",
        {"name": institution.name, "district": institution.district},
    )
    return institution


def parse_code(code: str) -> str:
    """The normalised 统一社会信用代码, or ``Invalid`` saying what is wrong with it."""
    try:
        return parse_institution_code(code)
    except InvalidIdentifier as exc:
        raise Invalid(_("the institution code is invalid"), {"code": [exc.message]}) from exc


def get_institution(session: Session, code: str) -> Institution:
    """The institution with ``code`` in any typed form; ``Invalid`` or ``NotFound`` otherwise."""
    code = parse_code(code)
    institution = session.scalar(sa.select(Institution).where(Institution.code == code))
    if institution is None:
        raise NotFound(_("no institution with code {code}", code=code))
    return institution


def list_institutions(
    session: Session,
    *,
    district: str | None = None,
    only: Institution | None = None,
    search: str | None = None,
    page: int | None = None,
    page_size: int | None = None,
) -> Page:
    """Institutions by district and code, with their classes. ``district`` in any
    spelling its ruleset knows, as rates match it (拱墅区 finds 杭州市拱墅区); ``only``
    narrows the list to one institution (a director's own); ``search`` finds a part of
    the name or of the code."""
    query = (
        sa.select(Institution)
        .options(selectinload(Institution.classes))
        .order_by(Institution.district, Institution.code)
    )
    if district is not None:
        query = query.where(Institution.district.in_(registered_spellings(session, district)))
    if only is not None:
        query = query.where(Institution.id == only.id)
    if search and search.split():
        words = " ".join(search.split())
        query = query.where(
            sa.or_(
                Institution.name.contains(words, autoescape=True),
                Institution.code.contains(words.upper(), autoescape=True),
            )
        )
    return page_of(session, query, page, page_size, scalars=True)


# What a director may change of the own institution: the classes and children it
# takes in and how it feeds them. The name and the district (which picks the rules
# the institution is held to) are the bureau's.
DIRECTOR_FIELDS = {"classes", "meals_on_site"}


def update_institution(session: Session, actor, institution: Institution, data: dict):
    """Change an institution from validated ``InstitutionUpdateSchema`` data."""
    if getattr(actor, "role", None) == "director" and set(data) - DIRECTOR_FIELDS:
        raise Forbidden(
            _("a director may change only {fields}", fields=", ".join(sorted(DIRECTOR_FIELDS))),
            {name: [_("set by the bureau")] for name in sorted(set(data) - DIRECTOR_FIELDS)},
        )
    changes = {}
    for name in ("name", "district", "meals_on_site"):
        if name in data and data[name] != getattr(institution, name):
            changes[name] = data[name]
            setattr(institution, name, data[name])
    if "classes" in data:
        institution.classes = [
            InstitutionClass(type=c["type"], children=c["children"]) for c in data["classes"]
        ]
        changes["classes"] = data["classes"]
    session.flush()
    if changes:
        record_event(
            session, actor, "institution.updated", f"institution:{institution.code}", changes
        )
    return institution
