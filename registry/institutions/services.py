"""Institutions. Functions take the session and never commit."""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.audit import record_event
from registry.errors import Conflict, Invalid, NotFound
from registry.identity import InvalidIdentifier, parse_institution_code

from .models import Institution, InstitutionClass


def create_institution(session: Session, actor, data: dict) -> Institution:
    """Register an institution from validated ``InstitutionSchema`` data."""
    if (
        session.scalar(sa.select(Institution.id).where(Institution.code == data["code"]))
        is not None
    ):
        raise Conflict(f"institution {data['code']} is already registered")
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
        raise Invalid("the institution code is invalid", {"code": [exc.message]}) from exc


def get_institution(session: Session, code: str) -> Institution:
    """The institution with ``code`` in any typed form; ``Invalid`` or ``NotFound`` otherwise."""
    code = parse_code(code)
    institution = session.scalar(sa.select(Institution).where(Institution.code == code))
    if institution is None:
        raise NotFound(f"no institution with code {code}")
    return institution


def list_institutions(session: Session, district: str | None = None) -> list[Institution]:
    query = sa.select(Institution).order_by(Institution.district, Institution.code)
    if district:
        query = query.where(Institution.district == district)
    return list(session.scalars(query))
