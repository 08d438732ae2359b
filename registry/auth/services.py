"""Users and API tokens. Functions take the session and never commit."""

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import crypto
from registry.audit import record_event
from registry.errors import Conflict, Invalid, Unauthorized
from registry.institutions.services import get_institution
from registry.vocabulary import USER_ROLES

from .models import ApiToken, User

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
MIN_PASSWORD_LENGTH = 10


def create_user(
    session: Session,
    actor,
    *,
    username: str,
    password: str,
    role: str,
    institution_code: str | None = None,
) -> User:
    """Register a user. A director is bound to exactly one institution; no one else is."""
    errors = {}
    if not USERNAME.match(username or ""):
        errors["username"] = [
            "2-64 characters: letters, digits and . _ @ -, starting with a letter or digit"
        ]
    if role not in USER_ROLES:
        errors["role"] = [f"unknown role {role!r}; one of {', '.join(USER_ROLES)}"]
    if len(password or "") < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"at least {MIN_PASSWORD_LENGTH} characters"]
    if role == "director" and not institution_code:
        errors["institution"] = ["a director is bound to one institution: give its code"]
    if role in USER_ROLES and role != "director" and institution_code:
        errors["institution"] = [f"only a director is bound to an institution, not a {role} user"]
    if errors:
        raise Invalid("the user cannot be created", errors)
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")
    institution = get_institution(session, institution_code) if institution_code else None
    user = User(
        username=username,
        password_hash=crypto.hash_password(password),
        role=role,
        institution=institution,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        actor,
        "user.created",
        f"user:{username}",
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
    row = session.execute(
        sa.select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.digest == crypto.token_digest(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.User.active:
        raise Unauthorized("the API token is unknown or revoked")
    return row.User
