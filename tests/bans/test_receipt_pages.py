"""An inspector verifies a hiring check's receipt on its page."""

import base64
import re

from tests.auth.conftest import csrf_of, sign_in
from tests.conftest import id_number


def _receipt(client, make_user, make_institution) -> str:
    _director, headers = make_user("director", make_institution())
    response = client.post("/api/v1/ban-checks", json={"id_number": id_number(7)}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["receipt"]


def _inspector(app, make_user):
    user, _headers = make_user("inspector")
    browser = app.test_client()
    sign_in(browser, user.username)
    return browser


def _verify(browser, token):
    return browser.post(
        "/receipts", data={"token": token, "csrf_token": csrf_of(browser, "/receipts")}
    )


def test_a_receipt_is_shown_valid_with_what_it_certifies(app, client, make_user, make_institution):
    token = _receipt(client, make_user, make_institution)
    browser = _inspector(app, make_user)
    response = _verify(browser, f"  {token}\n")  # pasted with spaces around
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "回执有效" in text
    assert "西湖区第一托育园" in text and "未在禁入名单" in text
    masked = id_number(7)[:3] + "*" * 11 + id_number(7)[-4:]
    assert masked in text and id_number(7) not in text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", text)


def test_a_receipt_changed_by_one_character_is_invalid(app, client, make_user, make_institution):
    token = _receipt(client, make_user, make_institution)
    browser = _inspector(app, make_user)
    head, payload, signature = token.split(".")
    middle = len(payload) // 2
    changed = payload[:middle] + ("A" if payload[middle] != "A" else "B") + payload[middle + 1 :]
    odd_key = base64.urlsafe_b64encode(
        b'{"check_id":1,"institution":null,"id_number":"x",'
        b'"result":"clear","checked_at":"x","kid":[1]}'
    )
    odd = f"v1.{odd_key.decode().rstrip('=')}.{signature}"
    for forged in (f"{head}.{changed}.{signature}", "v1.abc", "hello", "x" * 5000, odd):
        text = _verify(browser, forged).get_data(as_text=True)
        assert "回执无效" in text and "回执有效" not in text, forged[:20]


def test_an_empty_paste_is_asked_again(app, make_user):
    browser = _inspector(app, make_user)
    response = _verify(browser, "   ")
    assert response.status_code == 422
    assert 'class="field-error" id="token-error">请粘贴回执上的核验码' in response.get_data(
        as_text=True
    )


def test_a_director_does_not_verify_receipts_here(app, make_user, make_institution):
    director, _headers = make_user("director", make_institution())
    browser = app.test_client()
    sign_in(browser, director.username)
    assert browser.get("/receipts").status_code == 403


def test_a_receipt_issued_with_six_digits_shown_still_verifies_and_shows_three(
    app, client, make_user, make_institution
):
    from registry.bans import receipts
    from registry.bans.models import BanCheck
    from registry.db import get_session

    _receipt(client, make_user, make_institution)
    old_mask = id_number(7)[:6] + "*" * 8 + id_number(7)[-4:]
    with app.test_request_context():
        check = get_session().query(BanCheck).one()
        token = receipts.issue(check, "x", old_mask)  # as receipts were signed before
    response = _verify(_inspector(app, make_user), token)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "回执有效" in text
    assert id_number(7)[:3] + "*" * 11 + id_number(7)[-4:] in text
    assert old_mask not in text and id_number(7)[:6] not in text
