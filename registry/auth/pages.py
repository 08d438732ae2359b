"""The sign-in pages: sign in, sign out, change the password, and the home page.

Thin as the API's views: read the form, call the same services, render a template. A
page knows its user by the session cookie only (the API by bearer tokens only).
"""

from functools import wraps

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from registry import audit
from registry.db import get_session
from registry.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from registry.messages import _
from registry.paging import Page
from registry.vocabulary import USER_ROLES
from registry.web import form_errors, page, page_number

from . import services
from .access import BUREAU_MANAGES, after_request_write, may_disable, may_manage, may_revoke
from .schemas import NewTokenSchema, NewUserSchema, PasswordResetSchema, RoleSchema

bp = Blueprint("pages", __name__)

COOKIE = "registry_session"


def signed_in_user():
    """The user of the request's session cookie, or None (cached on ``g``)."""
    if "page_user" not in g:
        g.page_user = g.web_session = None
        session_id = request.cookies.get(COOKIE)
        found = services.session_user(get_session(), session_id) if session_id else None
        if found is not None:
            g.page_user, g.web_session = found
            if services.needs_touch(g.web_session.last_seen_at):
                after_request_write(services.touch_session, g.web_session.id)
    return g.page_user


def signed_in(page):
    """Admit only a signed-in user; one who must change the password goes there first."""

    @wraps(page)
    def wrapper(*args, **kwargs):
        user = signed_in_user()
        if user is None:
            from registry.web import sign_in_url

            return redirect(sign_in_url())
        if user.must_change_password and request.endpoint != "pages.change_password":
            return redirect(url_for("pages.change_password"))
        return page(*args, **kwargs)

    return wrapper


def _with_cookie(response, session_id: str):
    settings = current_app.extensions["registry.settings"]
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.session_lifetime_hours * 3600,
        httponly=True,
        samesite="Lax",
        secure=settings.https,
        path="/",
    )
    return response


def _client_address() -> str:
    # With REGISTRY_PROXIES set, ProxyFix has put the client's address here already.
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    from registry.web import landing, safe_next

    back = safe_next(request.args.get("next"))
    lost = request.args.get("lost") == "1"
    if request.method == "GET":
        user = signed_in_user()
        if user is not None:
            return redirect(back or landing(user.role))
        return render_template("auth/login.html", lost=lost, next=back)
    session = get_session()
    username = request.form.get("username", "")
    try:
        user = services.sign_in(
            session, username, request.form.get("password", ""), _client_address()
        )
    except (Unauthorized, RateLimited) as refused:
        # The failure is recorded (it counts, and it is audited): the page answers, so
        # the request's transaction commits it.
        page = render_template(
            "auth/login.html", error=refused.message, username=username, lost=lost, next=back
        )
        return page, refused.status
    session_id = services.start_session(session, user)
    if user.must_change_password:
        target = url_for("pages.change_password")
    else:
        target = back or landing(user.role)
    return _with_cookie(redirect(target), session_id)


@bp.route("/logout", methods=["POST"])
def logout():
    if signed_in_user() is not None:
        session = get_session()
        services.end_session(session, g.web_session)
    response = redirect(url_for("pages.login"))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax")
    return response


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def change_password():
    user = g.page_user
    if request.method == "GET":
        return render_template("auth/password.html", user=user)
    form = request.form
    errors = {}
    if form.get("new_password", "") != form.get("repeat_password", ""):
        errors["repeat_password"] = _("the new passwords differ")
    session = get_session()
    try:
        if errors:
            raise Invalid(_("the password was not changed"), errors)
        services.change_password(
            session, user, form.get("current_password", ""), form.get("new_password", "")
        )
    except Invalid as invalid:
        session.rollback()
        return render_template(
            "auth/password.html",
            user=user,
            error=invalid.message,
            errors=form_errors(invalid.errors or {}),
        ), 422
    # Every session of the user ended with the old password; this browser goes on in a
    # new one.
    session_id = services.start_session(session, user)
    return _with_cookie(redirect(url_for("pages.home", changed=1)), session_id)


@bp.route("/")
@signed_in
def home():
    user = g.page_user
    return render_template(
        "auth/home.html",
        user=user,
        role_name=USER_ROLES[user.role],
        changed=request.args.get("changed") == "1",
    )


# -- users and tokens (the bureau manages directors and HR, the admin everyone) ---------

USERS_PAGE_SIZE = 50


def _creatable_roles(user) -> dict[str, str]:
    """The roles whose accounts ``user`` may create, as the form offers them."""
    if user.role == "admin":
        return dict(USER_ROLES)
    return {role: USER_ROLES[role] for role in BUREAU_MANAGES}


def _form_data(*names: str) -> dict:
    """The form's fields ``names`` that were filled in (an empty field is no value); a
    password exactly as typed."""
    return {
        n: request.form[n] if n == "password" else request.form[n].strip()
        for n in names
        if request.form.get(n, "").strip()
    }


def _refused(session, exc) -> dict[str, str]:
    """A refused change: nothing of it is kept; its messages by field (``_schema`` for
    what concerns the whole form)."""
    session.rollback()
    if isinstance(exc, ValidationError):
        return form_errors(exc.messages)
    errors = form_errors(exc.errors or {})
    if isinstance(exc, Conflict):
        errors["username"] = f"用户名已被使用（{exc.message}）"
    elif not errors:
        errors["_schema"] = exc.message
    return errors


@bp.route("/users")
@page("admin", "bureau")
def users():
    role = request.args.get("role") or None
    if role not in USER_ROLES:
        role = None
    number = page_number()
    items, total = services.list_users(
        get_session(), offset=(number - 1) * USERS_PAGE_SIZE, limit=USERS_PAGE_SIZE, role=role
    )
    return render_template(
        "auth/users.html",
        found=Page(items, total, number, USERS_PAGE_SIZE),
        role=role,
        roles=USER_ROLES,
        args={"role": role} if role else {},
        manages=_creatable_roles(g.page_user),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@page("admin", "bureau")
def new_user():
    actor, roles = g.page_user, _creatable_roles(g.page_user)
    if request.method == "GET":
        return render_template("auth/user_new.html", roles=roles, form={}, errors={})
    form = _form_data("username", "password", "role", "institution")
    session = get_session()
    try:
        data = NewUserSchema().load(form)
        may_manage(actor, data["role"])
        user = services.create_user(session, actor, data, temporary=True)
    except (ValidationError, Invalid, Conflict, Forbidden, NotFound) as exc:
        errors = _refused(session, exc)
        if isinstance(exc, Forbidden):
            errors = {"role": errors.pop("_schema")}
        if isinstance(exc, NotFound):
            errors = {"institution": errors.pop("_schema")}
        form.pop("password", None)  # never sent back to the browser
        return render_template("auth/user_new.html", roles=roles, form=form, errors=errors), 422
    return redirect(url_for("pages.user", user_id=user.id, created=1))


def _managed_user(user_id: int):
    user = services.get_user_by_id(get_session(), user_id)
    may_manage(g.page_user, user.role)
    return user


@bp.route("/users/<int:user_id>")
@page("admin", "bureau")
def user(user_id):
    return _user_page(_managed_user(user_id))


def _user_page(user, status=200, errors=None, form=None, done=None):
    return render_template(
        "auth/user.html",
        account=user,
        roles=USER_ROLES,
        errors=errors or {},
        form=form or {},
        done=done or request.args.get("done"),
        created=request.args.get("created") == "1",
    ), status


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@page("admin", "bureau")
def disable_user(user_id):
    session, account = get_session(), _managed_user(user_id)
    try:
        may_disable(g.page_user, account)
    except Forbidden as refused:
        return _user_page(account, 403, {"_schema": refused.message})
    services.disable_user(session, g.page_user, account)
    return redirect(url_for("pages.user", user_id=account.id, done="disabled"))


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
@page("admin", "bureau")
def enable_user(user_id):
    session, account = get_session(), _managed_user(user_id)
    services.enable_user(session, g.page_user, account)
    return redirect(url_for("pages.user", user_id=account.id, done="enabled"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@page("admin")
def set_role(user_id):
    session, account = get_session(), _managed_user(user_id)
    form = _form_data("role", "institution")
    try:
        data = RoleSchema().load(form)
        services.set_role(session, g.page_user, account, data["role"], data["institution"])
    except (ValidationError, Invalid, NotFound) as exc:
        errors = _refused(session, exc)
        if isinstance(exc, NotFound):
            errors = {"institution": errors.pop("_schema")}
        session.refresh(account)
        return _user_page(account, 422, errors, form)
    return redirect(url_for("pages.user", user_id=account.id, done="role"))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@page("admin")
def reset_password(user_id):
    session, account = get_session(), _managed_user(user_id)
    try:
        data = PasswordResetSchema().load(_form_data("password"))
        services.reset_password(session, g.page_user, account, data["password"])
    except (ValidationError, Invalid) as exc:
        errors = _refused(session, exc)
        session.refresh(account)
        return _user_page(account, 422, errors)
    return redirect(url_for("pages.user", user_id=account.id, done="password"))


TOKENS_PAGE_SIZE = 50


@bp.route("/tokens", methods=["GET", "POST"])
@page("admin", "bureau", "hr", "director", "inspector")
def tokens():
    """The own API tokens (an administrator: everyone's); a new one is shown once, on
    the answer to the form that made it, never in an address."""
    session, actor = get_session(), g.page_user
    issued, errors, form, status = None, {}, {}, 200
    if request.method == "POST":
        form = _form_data("label", "expires_in_days")
        try:
            data = NewTokenSchema().load(form)
            issued, _row = services.issue_token(
                session, actor, actor, label=data["label"], expires_in_days=data["expires_in_days"]
            )
        except (ValidationError, Invalid) as exc:
            errors, status = _refused(session, exc), 422
    number = page_number()
    items, total = services.list_tokens(
        session,
        offset=(number - 1) * TOKENS_PAGE_SIZE,
        limit=TOKENS_PAGE_SIZE,
        user=None if actor.role == "admin" else actor,
    )
    return render_template(
        "auth/tokens.html",
        found=Page(items, total, number, TOKENS_PAGE_SIZE),
        state=services.token_state,
        issued=issued,
        errors=errors,
        form={} if issued else form,
        revoked=request.args.get("revoked"),
    ), status


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@page("admin", "bureau", "hr", "director", "inspector")
def revoke_token(token_id):
    session = get_session()
    token = services.get_token(session, token_id)
    may_revoke(g.page_user, token)
    services.revoke_token(session, g.page_user, token)
    return redirect(url_for("pages.tokens", revoked=token.id))


# -- the audit log ----------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


@bp.route("/audit")
@page("admin", "bureau")
def audit_log():
    """The chain verified from the anchor on (``?full=1``: from its first event), or
    where it first breaks, whether the anchor is kept, and the events, newest first.
    Events hold ids, codes and keyed references, never a number."""
    session = get_session()
    instance = current_app.extensions["registry.settings"].instance_path
    full = request.args.get("full") == "1"
    return render_template(
        "auth/audit.html",
        report=audit.verify_from_anchor(session, audit.anchor_path(instance), full=full),
        full=full,
        found=audit.recent_events(session, page=page_number(), page_size=AUDIT_PAGE_SIZE),
    )
