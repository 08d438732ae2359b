"""What every page shares: coming back after signing in, error pages in the layout."""

from tests.auth.conftest import csrf_of, sign_in


def test_a_missing_page_is_a_page_and_a_missing_api_address_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "页面不存在" in text and "Traceback" not in text and '"code"' not in text
    assert "Content-Security-Policy" in page.headers
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.get_json()["code"] == "not_found"


def test_signing_in_comes_back_to_the_page_asked_for(client, make_user):
    make_user("bureau", username="wang.bureau")
    away = client.get("/password")
    assert away.status_code == 302 and away.location == "/login?next=/password"
    back = client.post(
        away.location,
        data={
            "username": "wang.bureau",
            "password": "correct horse battery",
            "csrf_token": csrf_of(client, away.location),
        },
    )
    assert back.status_code == 302 and back.location == "/password"


def test_next_never_leads_to_another_site(client, make_user):
    make_user("bureau", username="wang.bureau")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.post(
            "/login?next=" + target,
            data={
                "username": "wang.bureau",
                "password": "correct horse battery",
                "csrf_token": csrf_of(client),
            },
        )
        assert response.location == "/institutions", target  # the bureau lands on 机构
        client.post("/logout", data={"csrf_token": csrf_of(client, "/")})


def test_a_form_posted_after_the_session_ended_says_it_was_not_saved(client, make_user):
    make_user("bureau", username="wang.bureau")
    sign_in(client, "wang.bureau")
    token = csrf_of(client, "/password")
    client.delete_cookie("registry_session")  # the session ended meanwhile
    response = client.post(
        "/password",
        data={
            "current_password": "x",
            "new_password": "y",
            "repeat_password": "y",
            "csrf_token": token,
        },
        headers={"Referer": "http://localhost/password"},
    )
    assert response.status_code == 302
    assert response.location == "/login?next=/password&lost=1"
    notice = client.get(response.location).get_data(as_text=True)
    assert "刚才提交的内容没有保存" in notice
