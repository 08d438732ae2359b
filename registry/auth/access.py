"""The one place that decides who may do what.

Views declare the roles they admit with ``@require(...)``; anything scoped to an
institution goes through ``check_institution`` before it is read or written.
"""

import logging
from functools import wraps

from flask import g, request
from sqlalchemy.exc import OperationalError

from registry.db import begin_writing, get_session
from registry.errors import Forbidden, Unauthorized, is_busy
from registry.messages import _
from registry.vocabulary import USER_ROLES

from . import services
from .services import TokenRefused, admit_token

log = logging.getLogger(__name__)

# Whom a bureau user may create, disable and enable: the accounts of institutions and of
# the HR bureau, never another bureau user or an administrator.
BUREAU_MANAGES = ("director", "hr")


def current_user():
    """The user authenticated by the request's bearer token (cached on ``g``).

    The API takes bearer tokens only, never the web pages' session cookie: a browser
    sends a cookie by itself with a request another site makes it send, a token it
    does not.
    """
    if "user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _space, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(_("send an API token as 'Authorization: Bearer <token>'"))
        session = get_session()
        try:
            g.user, api_token = admit_token(session, token.strip())
        except TokenRefused as refused:
            # The refusal is the one thing written, in a transaction of its own.
            session.rollback()
            begin_writing(session)
            services.note_refused_token(session, refused)
            session.commit()
            raise
        if services.needs_touch(api_token.last_used_at):
            after_request_write(services.touch_token, api_token.id)
    return g.user


def after_request_write(function, *args) -> None:
    """Run ``function(session, *args)`` once the request is done (its answer sent, its
    own transaction over), in a short writing transaction: a token's ``last_used_at``, a
    session's ``last_seen_at``. At most once a minute each, so the requests that need
    speed (the hiring check) rarely carry it, and never before their answer. It never
    waits for SQLite's write lock: while another writer (an import's merge, say) holds
    it, the note is left to a later request."""
    g.setdefault("registry_after_writes", []).append((function, args))


def run_after_request_writes(_exc=None) -> None:
    writes = g.pop("registry_after_writes", None)
    if not writes:
        return
    session = get_session()
    try:
        session.rollback()
        begin_writing(session, wait=False)
        for function, args in writes:
            function(session, *args)
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if not is_busy(exc):
            log.warning("could not note the use of a token or session", exc_info=True)
    except Exception:  # noqa: BLE001 - a note of use is never worth a failed answer
        session.rollback()
        log.warning("could not note the use of a token or session", exc_info=True)


def may_manage(actor, role: str) -> None:
    """An administrator manages every account; a bureau user only those of directors
    and HR; nobody else any."""
    if actor.role == "admin":
        return
    if actor.role == "bureau" and role in BUREAU_MANAGES:
        return
    if actor.role == "bureau":
        raise Forbidden(_("a bureau user manages only director and hr accounts"))
    raise Forbidden(
        _(
            "a {role} user may not manage accounts",
            role=actor.role,
            role_name=USER_ROLES.get(actor.role, actor.role),
        )
    )


def may_revoke(actor, token) -> None:
    """The own token, or for an administrator anyone's; someone else's token is as good
    as none (404: its id tells nothing)."""
    if token.user_id != actor.id and actor.role != "admin":
        raise services.NotFound(_("no token {token_id}", token_id=token.id))


def may_disable(actor, user) -> None:
    """Whom ``actor`` may disable: an account it manages, never its own."""
    may_manage(actor, user.role)
    if user.id == getattr(actor, "id", None):
        raise Forbidden(_("you cannot disable your own account"))


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
                raise Forbidden(
                    _(
                        "a {role} user may not do this",
                        role=user.role,
                        role_name=USER_ROLES.get(user.role, user.role),
                    )
                )
            return view(*args, **kwargs)

        # The OpenAPI document shows who may call the endpoint: in the description for
        # people, and as ``x-roles`` for programs (the authorization test reads it).
        wrapper.__doc__ = f"{(view.__doc__ or '').strip()}\n\nRoles: {', '.join(roles)}."
        apidoc = getattr(view, "_apidoc", {})
        manual = {**apidoc.get("manual_doc", {}), "x-roles": list(roles)}
        wrapper._apidoc = {**apidoc, "manual_doc": manual}
        return wrapper

    return decorator


ANYONE = "anyone"


def public(view):
    """Admit anybody, with or without a token (the receipts' public keys): the document
    says so, with no security and ``x-roles: [anyone]``."""
    apidoc = getattr(view, "_apidoc", {})
    manual = {**apidoc.get("manual_doc", {}), "security": [], "x-roles": [ANYONE]}
    view._apidoc = {**apidoc, "manual_doc": manual}
    return view


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
        raise Forbidden(_("a director sees only the own institution"))
