"""Users and API tokens. Functions take the session and never commit."""

import functools

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager

from registry import crypto
from registry.audit import record_event
from registry.errors import Conflict, Invalid, Unauthorized
from registry.institutions.services import get_institution

from .models import ApiToken, User

DIRECTOR_NEEDS_INSTITUTION = "a director is bound to one institution: give its code"


def create_user(session: Session, actor, data: dict) -> User:
    """Register a user from validated ``NewUserSchema`` data. A director is bound to
    exactly one institution; no one else is."""
    role, code = data["role"], data.get("institution")
    if role == "director" and not code:
        raise Invalid("the user cannot be created", {"institution": [DIRECTOR_NEEDS_INSTITUTION]})
    if role != "director" and code:
        raise Invalid(
            "the user cannot be created",
            {"institution": [f"only a director is bound to an institution, not a {role} user"]},
        )
    if session.scalar(sa.select(User.id).where(User.username == data["username"])) is not None:
        raise Conflict(f"username {data['username']!r} is taken")
    institution = get_institution(session, code) if code else None
    user = User(
        username=data["username"],
        password_hash=crypto.hash_password(data["password"]),
        role=role,
        institution=institution,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        actor,
        "user.created",
        f"user:{user.username}",
        {"role": role, "institution": institution.code if institution else None},
    )
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise Invalid("no such user", {"username": [f"no user named {username!r}"]})
    return user


def create_token(session: Session, actor, user: User) -> str:
    """Issue an API token for ``user``; the token itself is returned once, never stored."""
    token = crypto.new_api_token()
    session.add(ApiToken(user=user, digest=crypto.token_digest(token)))
    session.flush()
    record_event(session, actor, "token.created", f"user:{user.username}")
    return token


def authenticate_token(session: Session, token: str) -> User:
    """The active user behind a bearer token, or ``Unauthorized``."""
    user = session.scalar(_token_query(), {"digest": crypto.token_digest(token)})
    if user is None or not user.active:
        raise Unauthorized("the API token is unknown or revoked")
    return user


@functools.cache
def _token_query() -> sa.Select:
    # Every request runs it: built once, and one query for the user and a director's
    # institution, which most requests need.
    return (
        sa.select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .outerjoin(User.institution)
        .options(contains_eager(User.institution))
        .where(ApiToken.digest == sa.bindparam("digest"), ApiToken.revoked_at.is_(None))
    )
