"""Signing in and out in a browser: sessions, timeouts, the throttle, CSRF, headers."""

import hashlib

import sqlalchemy as sa
from flask import Response

from registry.auth import services
from registry.auth.models import SignInFailure, SystemActor, WebSession
from registry.auth.pages import COOKIE, _with_cookie
from tests.auth.conftest import PASSWORD, csrf_of, events, sign_in


def _cookie(response, name):
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}="))


def test_sign_in_shows_who_you_are_and_sign_out_ends_the_session(client, session, make_user):
    make_user("bureau", username="wang.bureau")
    response = sign_in(client, "wang.bureau")
    assert response.status_code == 302 and response.location == "/institutions"
    cookie = _cookie(response, COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    session_id = client.get_cookie(COOKIE).value
    stored = session.scalar(sa.select(WebSession))
    # Keyed: no unkeyed hash of the cookie, which a stolen database would let one match.
    assert stored.digest not in {
        hashlib.new(name, session_id.encode()).digest() for name in ("sha256", "sha1", "md5")
    }
    assert session_id.encode() not in stored.digest and len(stored.digest) == 32
    home = client.get("/")
    assert home.status_code == 200
    assert "wang.bureau" in home.get_data(as_text=True) and "卫健局" in home.get_data(as_text=True)
    assert len(events(session, "auth.signed_in")) == 1

    out = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert out.status_code == 302 and out.location == "/login"
    assert client.get("/").location == "/login?next=/"
    session.refresh(stored)
    assert stored.ended_at is not None and stored.end_reason == "logout"
    # The old cookie, sent again, signs nobody in.
    client.set_cookie(COOKIE, session_id)
    assert client.get("/").location == "/login?next=/"


def test_idle_sessions_end_after_30_minutes(client, make_user, clock):
    make_user("hr", username="li.hr")
    sign_in(client, "li.hr")
    for _ in range(3):  # used every 29 minutes: stays open
        clock.advance(minutes=29)
        assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/").location == "/login?next=/"


def test_sessions_end_12_hours_after_sign_in_however_busy(client, make_user, clock):
    make_user("hr", username="li.hr")
    sign_in(client, "li.hr")
    for _ in range(35):  # 11 h 40 min of use every 20 minutes
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    clock.advance(minutes=20)
    assert client.get("/").location == "/login?next=/"


def test_a_refused_sign_in_says_the_same_whoever_it_names(client, session, make_user):
    make_user("hr", username="li.hr")
    wrong = sign_in(client, "li.hr", "not the password at all")
    unknown = sign_in(client, "nobody.here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    text = "用户名或密码不正确"
    assert text in wrong.get_data(as_text=True) and text in unknown.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(WebSession)) == 0
    reasons = [e.data["reason"] for e in events(session, "auth.sign_in_failed")]
    assert reasons == ["wrong_password", "unknown_user"]


def test_a_disabled_user_is_refused_as_a_wrong_password_is(client, session, make_user):
    user, _ = make_user("hr", username="li.hr")
    services.disable_user(session, SystemActor("test"), user)
    response = sign_in(client, "li.hr")
    assert response.status_code == 401 and "用户名或密码不正确" in response.get_data(as_text=True)


def test_five_failures_pause_a_username_for_15_minutes(client, session, make_user, clock):
    make_user("hr", username="li.hr")
    for _ in range(5):
        assert sign_in(client, "li.hr", "guess number one").status_code == 401
    refused = sign_in(client, "LI.HR")  # the right password, and the name in capitals
    assert refused.status_code == 429 and "15 分钟" in refused.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None
    assert len(events(session, "auth.sign_in_throttled")) == 1
    clock.advance(minutes=15, seconds=1)
    assert sign_in(client, "li.hr").status_code == 302


def test_an_unknown_username_is_paused_as_a_known_one(client, clock):
    for _ in range(5):
        assert sign_in(client, "nobody.here", "guess number one").status_code == 401
    assert sign_in(client, "nobody.here", "guess number two").status_code == 429


def test_five_failures_from_one_address_pause_it_for_every_username(app, session, make_user, clock):
    make_user("hr", username="li.hr")
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for i in range(5):
        assert sign_in(attacker, f"user{i}", "guess number one").status_code == 401
    assert sign_in(attacker, "li.hr").status_code == 429
    assert sign_in(app.test_client(), "li.hr").status_code == 302  # from elsewhere
    addresses = session.scalars(sa.select(SignInFailure.address)).all()
    assert addresses == ["203.0.113.9"] * 5


def test_a_new_account_must_choose_its_password_first(client, session, make_institution, clock):
    make_institution()
    data = {"username": "zhao.director", "password": PASSWORD, "role": "director"}
    data["institution"] = "91350100M000100Y43"
    user = services.create_user(session, SystemActor("test"), data, temporary=True)
    assert sign_in(client, "zhao.director").location == "/password"
    assert client.get("/").location == "/password"
    other = client.application.test_client()
    sign_in(other, "zhao.director")

    form = {"current_password": PASSWORD, "csrf_token": csrf_of(client, "/password")}
    common = client.post(
        "/password", data={**form, "new_password": "1234567890"} | {"repeat_password": "1234567890"}
    )
    assert common.status_code == 422 and "常见密码" in common.get_data(as_text=True)
    wrong = client.post(
        "/password",
        data={**form, "current_password": "not it at all", "new_password": "托育园的新密码 2026"}
        | {"repeat_password": "托育园的新密码 2026"},
    )
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.get_data(as_text=True)
    session.refresh(user)
    assert user.must_change_password

    changed = client.post(
        "/password",
        data={
            **form,
            "new_password": "托育园的新密码 2026",
            "repeat_password": "托育园的新密码 2026",
        },
    )
    assert changed.status_code == 302
    session.refresh(user)
    assert not user.must_change_password
    assert client.get("/").status_code == 200  # this browser goes on, signed in anew
    assert other.get("/").location == "/login?next=/"  # the other session ended
    # A director lands on the first page of the role: the candidate check.
    again = sign_in(other, "zhao.director", "托育园的新密码 2026")
    assert again.location == "/director/check"


def test_every_form_that_changes_something_needs_the_csrf_token(app, client, session, make_user):
    make_user("hr", username="li.hr")
    sign_in(client, "li.hr")
    forms = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"} and not rule.rule.startswith("/api/")
    )
    assert {"/login", "/logout", "/password"} <= set(forms)
    for path in forms:
        response = client.post(path, data={"username": "li.hr", "password": PASSWORD})
        assert response.status_code == 400, path
        assert "未做任何更改" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # not signed out by the forged logout
    assert session.scalar(sa.select(sa.func.count()).select_from(WebSession)) == 1


def test_the_api_never_takes_the_session_cookie(client, make_user):
    make_user("admin", username="root.admin")
    sign_in(client, "root.admin")
    assert client.get("/").status_code == 200
    response = client.get("/api/v1/users")
    assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"


def test_disabling_a_user_ends_its_session_and_tokens_at_once(client, session, make_user):
    user, headers = make_user("hr")
    sign_in(client, user.username)
    assert client.get("/").status_code == 200
    services.disable_user(session, SystemActor("test"), user)
    assert client.get("/").location == "/login?next=/"
    assert client.get("/api/v1/tokens", headers=headers).status_code == 401


def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    page = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "<script" not in page and "登录" in page
    with client.get("/static/registry.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"


def test_cookies_are_secure_when_served_over_https(make_app):
    app = make_app(https=True)
    response = app.test_client().get("/login")
    assert "Secure" in _cookie(response, "registry_csrf")
    with app.test_request_context():
        session_cookie = _cookie(_with_cookie(Response(), "x"), COOKIE)
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie


def test_behind_a_proxy_the_client_address_is_the_forwarded_one(make_app):
    from flask import request

    app = make_app(proxies=1)

    @app.get("/address")
    def address():
        return request.remote_addr

    client = app.test_client()
    assert client.get("/address", headers={"X-Forwarded-For": "198.51.100.7"}).text == (
        "198.51.100.7"
    )


def test_odd_usernames_are_refused_and_counted_not_a_server_error(client, session):
    for username in ("nul\x00byte", "长" * 300, ""):
        assert sign_in(client, username, "x" * 5000).status_code == 401
    stored = session.scalars(sa.select(SignInFailure.username)).all()
    assert sorted(stored) == sorted(["nulbyte", "长" * 64, ""])


def test_api_answers_may_neither_run_nor_be_framed(client):
    response = client.get("/api/v1/openapi.json")
    policy = response.headers["Content-Security-Policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
