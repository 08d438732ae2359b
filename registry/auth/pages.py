"""The sign-in pages: sign in, sign out, change the password, and the home page.

Thin as the API's views: read the form, call the same services, render a template. A
page knows its user by the session cookie only (the API by bearer tokens only).
"""

from functools import wraps

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from registry.db import get_session
from registry.errors import Invalid, RateLimited, Unauthorized
from registry.messages import _
from registry.vocabulary import USER_ROLES

from . import services
from .access import after_request_write

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
        errors["repeat_password"] = [_("the new passwords differ")]
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
            "auth/password.html", user=user, error=invalid.message, errors=invalid.errors
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
