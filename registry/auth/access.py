"""The one place that decides who may do what.

Views declare the roles they admit with ``@require(...)``; anything scoped to an
institution goes through ``check_institution`` before it is read or written.
"""

from functools import wraps

from flask import g, request

from registry.db import get_session
from registry.errors import Forbidden, Unauthorized
from registry.vocabulary import USER_ROLES

from .services import authenticate_token


def current_user():
    """The user authenticated by the request's bearer token (cached on ``g``)."""
    if "user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
        g.user = authenticate_token(get_session(), token.strip())
    return g.user


def require(*roles: str):
    """Admit only authenticated users with one of ``roles``."""
    unknown = set(roles) - set(USER_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user.role not in roles:
                raise Forbidden(f"a {user.role} user may not do this")
            return view(*args, **kwargs)

        # The OpenAPI document shows who may call the endpoint.
        wrapper.__doc__ = f"{(view.__doc__ or '').strip()}\n\nRoles: {', '.join(roles)}."
        return wrapper

    return decorator


def scoped_institution(code: str):
    """The institution at ``code`` (in any typed form), once the current user's scope is
    checked: ``Invalid`` for a malformed code, 403 for a director's other code, 404."""
    from registry.institutions.services import get_institution, parse_code

    code = parse_code(code)
    user = current_user()
    check_institution(user, code)
    if user.role == "director":
        return user.institution  # the own, loaded with the user
    return get_institution(get_session(), code)


def asking_for(code: str | None):
    """The institution a check is made for: a director's own unless named (and then only
    the own), for other roles the one named or none."""
    user = current_user()
    if user.role == "director":
        code = code or user.institution.code
    return scoped_institution(code) if code else None


def check_institution(user, code: str) -> None:
    """A director reaches only the own institution; the other roles are not scoped.

    Checked on the normalised code before any lookup, so that a director learns
    nothing, not even whether another code is registered.
    """
    if user.role == "director" and user.institution.code != code:
        raise Forbidden("a director sees only the own institution")
