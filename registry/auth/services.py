"""Users, passwords, web sessions and API tokens. Functions take the session and never
commit; the caller commits, on a refused sign-in too (the failure is recorded)."""

import functools
from datetime import datetime, timedelta
from importlib import resources

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session, contains_eager

from registry import clock, crypto
from registry.audit import record_event, take_turn
from registry.crypto import current_keyring
from registry.errors import Conflict, Invalid, NotFound, RateLimited, Unauthorized
from registry.institutions.services import get_institution
from registry.messages import _
from registry.vocabulary import USER_ROLES

from .models import ANONYMOUS, ApiToken, SignInFailure, User, WebSession

DIRECTOR_NEEDS_INSTITUTION = _("a director is bound to one institution: give its code")

MIN_PASSWORD_LENGTH = 10
# Failed sign-ins per username and per client address in THROTTLE_WINDOW that pause
# signing in (for that username, or from that address) until the window has passed.
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
# How often, at most, a token's last_used_at and a web session's last_seen_at are
# written: a request does not write for that alone more than once a minute.
TOUCH_INTERVAL = timedelta(minutes=1)

# One answer for every refused sign-in, whether the username exists, the password is
# wrong or the account is disabled: the answer tells an attacker nothing.
SIGN_IN_REFUSED = _("the username or password is wrong")
SIGN_IN_THROTTLED = _("too many failed sign-ins; try again in 15 minutes")
TOKEN_REFUSED = _("the API token is unknown, expired or revoked")  # noqa: S105 - a message, not a secret


class TokenRefused(Unauthorized):
    """A known token that no longer admits (revoked, expired, its user disabled): the
    answer is that of an unknown token; ``token`` is kept for the audit event."""

    def __init__(self, token: ApiToken, reason: str):
        super().__init__(TOKEN_REFUSED)
        self.token, self.reason = token, reason


# -- passwords --------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The list shipped with the package (``common_passwords.txt``), lower-cased."""
    text = resources.files("registry.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def password_problems(password: str, username: str) -> list[str]:
    """What is wrong with a new password, as messages for the person choosing it."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(_("at least {length} characters", length=MIN_PASSWORD_LENGTH))
    if password.strip().casefold() == username.strip().casefold():
        problems.append(_("must not be the username"))
    elif password.strip().lower() in common_passwords():
        problems.append(_("a common password, easily guessed"))
    return problems


def check_new_password(password: str, username: str, field: str = "password") -> None:
    problems = password_problems(password, username)
    if problems:
        raise Invalid(_("the password is not acceptable"), {field: problems})


# -- users ------------------------------------------------------------------------------


def create_user(session: Session, actor, data: dict, *, temporary: bool = False) -> User:
    """Register a user from validated ``NewUserSchema`` data. A director is bound to
    exactly one institution; no one else is. ``temporary``: the password was chosen by
    someone else, and the first sign-in must replace it."""
    role, code = data["role"], data.get("institution")
    if role == "director" and not code:
        raise Invalid(
            _("the user cannot be created"), {"institution": [DIRECTOR_NEEDS_INSTITUTION]}
        )
    if role != "director" and code:
        raise Invalid(
            _("the user cannot be created"),
            {
                "institution": [
                    _(
                        "only a director is bound to an institution, not a {role} user",
                        role=role,
                        role_name=USER_ROLES.get(role, role),
                    )
                ]
            },
        )
    check_new_password(data["password"], data["username"])
    if session.scalar(sa.select(User.id).where(User.username == data["username"])) is not None:
        raise Conflict(_("username {username!r} is taken", username=data["username"]))
    institution = get_institution(session, code) if code else None
    user = User(
        username=data["username"],
        password_hash=crypto.hash_password(data["password"]),
        role=role,
        institution=institution,
        must_change_password=temporary,
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


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise Invalid(
            _("no such user"), {"username": [_("no user named {username!r}", username=username)]}
        )
    return user


def get_user_by_id(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("no user {user_id}", user_id=user_id))
    return user


def list_users(
    session: Session, *, offset: int, limit: int, role: str | None = None
) -> tuple[list[User], int]:
    """A page of users by username, each with a director's institution, and how many
    there are in all: two statements whatever the page size."""
    where = [User.role == role] if role else []
    total = session.scalar(sa.select(sa.func.count()).select_from(User).where(*where))
    if offset >= total:  # past the end (a page number too large for the database, say)
        return [], total
    users = session.scalars(
        sa.select(User)
        .outerjoin(User.institution)
        .options(contains_eager(User.institution))
        .where(*where)
        .order_by(User.username)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(users), total


def disable_user(session: Session, actor, user: User) -> User:
    """A disabled user is out at once: its web sessions end and its tokens are revoked."""
    now = clock.now()
    user.active = False
    sessions = _end_sessions(session, user, "user_disabled", now)
    tokens = session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    record_event(
        session,
        actor,
        "user.disabled",
        f"user:{user.username}",
        {"sessions_ended": sessions, "tokens_revoked": tokens},
    )
    return user


def enable_user(session: Session, actor, user: User) -> User:
    """Let a disabled user in again; the revoked tokens stay revoked."""
    user.active = True
    record_event(session, actor, "user.enabled", f"user:{user.username}")
    return user


def set_role(session: Session, actor, user: User, role: str, code: str | None) -> User:
    """Give ``user`` another role (a director: bound to the institution ``code``). Its
    sessions end, so that no page open under the old role goes on."""
    if role == "director" and not code:
        raise Invalid(
            _("the role cannot be changed"), {"institution": [DIRECTOR_NEEDS_INSTITUTION]}
        )
    if role != "director" and code:
        raise Invalid(
            _("the role cannot be changed"),
            {
                "institution": [
                    _(
                        "only a director is bound to an institution, not a {role} user",
                        role=role,
                        role_name=USER_ROLES.get(role, role),
                    )
                ]
            },
        )
    before = {"role": user.role, "institution": user.institution.code if user.institution else None}
    user.institution = get_institution(session, code) if code else None
    user.role = role
    _end_sessions(session, user, "role_changed", clock.now())
    record_event(
        session,
        actor,
        "user.role_changed",
        f"user:{user.username}",
        {"before": before, "after": {"role": role, "institution": code}},
    )
    return user


def reset_password(session: Session, actor, user: User, password: str) -> User:
    """Set a password chosen by an administrator: the user's sessions end, and the next
    sign-in must choose a new one."""
    check_new_password(password, user.username)
    user.password_hash = crypto.hash_password(password)
    user.must_change_password = True
    sessions = _end_sessions(session, user, "password_reset", clock.now())
    record_event(
        session, actor, "user.password_reset", f"user:{user.username}", {"sessions_ended": sessions}
    )
    return user


def change_password(session: Session, user: User, current: str, new: str) -> User:
    """The user's own new password. Every session of the user ends (the caller starts a
    new one for the browser that made the change)."""
    if not crypto.verify_password(current, user.password_hash):
        raise Invalid(
            _("the password was not changed"),
            {"current_password": [_("the current password is wrong")]},
        )
    check_new_password(new, user.username, "new_password")
    if new == current:
        raise Invalid(
            _("the password was not changed"),
            {"new_password": [_("must differ from the current one")]},
        )
    user.password_hash = crypto.hash_password(new)
    user.must_change_password = False
    sessions = _end_sessions(session, user, "password_changed", clock.now())
    record_event(
        session,
        user,
        "user.password_changed",
        f"user:{user.username}",
        {"sessions_ended": sessions},
    )
    return user


# -- signing in -------------------------------------------------------------------------


def sign_in(session: Session, username: str, password: str, address: str) -> User:
    """The user signing in with ``password``, or ``Unauthorized`` (the same answer for
    an unknown user, a wrong password and a disabled account) after recording the failure,
    or ``RateLimited`` while the username or the address is paused. Every refusal is an
    audit event; the caller commits either way."""
    now = clock.now()
    # What was typed, as far as it can be a username: no stored name is longer, and no
    # control character (PostgreSQL cannot even store a NUL) belongs in one.
    typed = "".join(c for c in username.strip() if c.isprintable())[:64]
    take_turn(session)  # count and record in turn, so that two workers count the same
    key = typed.lower()
    if _recent_failures(session, key, address, now):
        record_event(
            session, ANONYMOUS, "auth.sign_in_throttled", f"user:{key}", {"address": address}
        )
        raise RateLimited(SIGN_IN_THROTTLED, int(THROTTLE_WINDOW.total_seconds()))
    user = session.scalar(sa.select(User).where(User.username == typed))
    # A wrong username costs the same scrypt as a wrong password: the time taken does
    # not tell whether the user exists.
    # Nobody's password is longer than 200 characters: a megabyte is not worth a hash.
    ok = len(password) <= 200 and crypto.verify_password(
        password, user.password_hash if user else _dummy_hash()
    )
    if user is not None and ok and user.active:
        record_event(session, user, "auth.signed_in", f"user:{user.username}", {"address": address})
        return user
    reason = "unknown_user" if user is None else ("disabled" if ok else "wrong_password")
    session.add(SignInFailure(username=key, address=address[:64], occurred_at=now))
    record_event(
        session,
        ANONYMOUS,
        "auth.sign_in_failed",
        f"user:{key}",
        {"address": address, "reason": reason},
    )
    raise Unauthorized(SIGN_IN_REFUSED)


def _recent_failures(session: Session, username: str, address: str, now: datetime) -> bool:
    """Whether the username or the address failed ``THROTTLE_FAILURES`` times lately."""
    since = now - THROTTLE_WINDOW
    recent = sa.select(SignInFailure.id).where(SignInFailure.occurred_at > since)
    for where in (SignInFailure.username == username, SignInFailure.address == address):
        subquery = recent.where(where).limit(THROTTLE_FAILURES).subquery()
        if session.scalar(sa.select(sa.func.count()).select_from(subquery)) >= THROTTLE_FAILURES:
            return True
    return False


@functools.cache
def _dummy_hash() -> str:
    return crypto.hash_password("no user has this password")


def start_session(session: Session, user: User) -> str:
    """A new web session for ``user``; returns its id, for the cookie only."""
    now, session_id = clock.now(), crypto.new_session_id()
    session.add(
        WebSession(
            digest=current_keyring().session_digests(session_id)[0],
            user=user,
            created_at=now,
            last_seen_at=now,
            expires_at=now + _lifetime(),
        )
    )
    session.flush()
    return session_id


def session_user(session: Session, session_id: str) -> tuple[User, WebSession] | None:
    """The active user of a web session still open: not ended, used within the idle
    timeout, within its lifetime. None for anything else."""
    now = clock.now()
    row = session.execute(
        sa.select(User, WebSession)
        .join(WebSession, WebSession.user_id == User.id)
        .outerjoin(User.institution)
        .options(contains_eager(User.institution))
        .where(
            WebSession.digest.in_(current_keyring().session_digests(session_id)),
            WebSession.ended_at.is_(None),
            WebSession.expires_at > now,
            WebSession.last_seen_at > now - _idle(),
            User.active.is_(True),
        )
    ).first()
    return None if row is None else (row[0], row[1])


def touch_session(session: Session, web_session_id: int) -> None:
    """Note that a session was used now (at most once per ``TOUCH_INTERVAL``)."""
    now = clock.now()
    session.execute(
        sa.update(WebSession)
        .where(WebSession.id == web_session_id, WebSession.last_seen_at < now - TOUCH_INTERVAL)
        .values(last_seen_at=now)
    )


def needs_touch(last: datetime | None) -> bool:
    return last is None or last < clock.now() - TOUCH_INTERVAL


def end_session(session: Session, web_session: WebSession, reason: str = "logout") -> None:
    web_session.ended_at, web_session.end_reason = clock.now(), reason
    record_event(session, web_session.user, "auth.signed_out", f"user:{web_session.user.username}")


def _end_sessions(session: Session, user: User, reason: str, now: datetime) -> int:
    return session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount


def _idle() -> timedelta:
    return timedelta(minutes=_settings().session_idle_minutes)


def _lifetime() -> timedelta:
    return timedelta(hours=_settings().session_lifetime_hours)


def _settings():
    return current_app.extensions["registry.settings"]


# -- API tokens -------------------------------------------------------------------------


def create_token(session: Session, actor, user: User, **options) -> str:
    """``issue_token``, returning only the token."""
    return issue_token(session, actor, user, **options)[0]


def issue_token(
    session: Session, actor, user: User, *, label: str = "", expires_in_days: int | None = None
) -> tuple[str, ApiToken]:
    """Issue an API token for ``user``, lasting ``expires_in_days`` (default: the
    registry's setting). The token itself is returned once, never stored."""
    days = expires_in_days or (_settings().token_days if has_app_context() else 365)
    token = crypto.new_api_token()
    now = clock.now()
    row = ApiToken(
        user=user,
        digest=crypto.token_digest(token),
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor,
        "token.created",
        f"user:{user.username}",
        {"token_id": row.id, "label": label, "expires_at": row.expires_at.isoformat()},
    )
    return token, row


def list_tokens(
    session: Session, *, offset: int, limit: int, user: User | None = None
) -> tuple[list[ApiToken], int]:
    """A page of tokens (of ``user``, or everyone's), newest first, with their users."""
    where = [ApiToken.user_id == user.id] if user is not None else []
    total = session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(*where))
    if offset >= total:
        return [], total
    tokens = session.scalars(
        sa.select(ApiToken)
        .join(ApiToken.user)
        .options(contains_eager(ApiToken.user))
        .where(*where)
        .order_by(ApiToken.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(tokens), total


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("no token {token_id}", token_id=token_id))
    return token


def revoke_token(session: Session, actor, token: ApiToken) -> ApiToken:
    """Revoke a token (again: nothing changes)."""
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        record_event(
            session, actor, "token.revoked", f"user:{token.user.username}", {"token_id": token.id}
        )
    return token


def token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= clock.now() else "active"


def authenticate_token(session: Session, token: str) -> User:
    """The active user behind a bearer token, or ``Unauthorized``."""
    return admit_token(session, token)[0]


def admit_token(session: Session, token: str) -> tuple[User, ApiToken]:
    """The active user behind a bearer token and the token, or ``Unauthorized``: the
    same answer for an unknown, revoked or expired token and a disabled user."""
    row = session.execute(_token_query(), {"digest": crypto.token_digest(token)}).first()
    if row is None:
        raise Unauthorized(TOKEN_REFUSED)
    user, api_token = row
    if api_token.revoked_at is not None:
        raise TokenRefused(api_token, "revoked")
    if api_token.expires_at <= clock.now():
        raise TokenRefused(api_token, "expired")
    if not user.active:
        raise TokenRefused(api_token, "user_disabled")
    return user, api_token


def note_refused_token(session: Session, refused: TokenRefused) -> None:
    """The audit event of a known token refused (nothing else is written)."""
    record_event(
        session,
        ANONYMOUS,
        "token.refused",
        f"user:{refused.token.user.username}",
        {"token_id": refused.token.id, "reason": refused.reason},
    )


def touch_token(session: Session, token_id: int) -> None:
    """Note that a token was used now (at most once per ``TOUCH_INTERVAL``)."""
    now = clock.now()
    session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.id == token_id,
            sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
    )


@functools.cache
def _token_query() -> sa.Select:
    # Every request runs it: built once, and one query for the user, the token and a
    # director's institution, which most requests need.
    return (
        sa.select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .outerjoin(User.institution)
        .options(contains_eager(User.institution))
        .where(ApiToken.digest == sa.bindparam("digest"))
    )
