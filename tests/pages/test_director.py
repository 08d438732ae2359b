"""The director's journeys in Chromium against gunicorn: sign in, check a barred and a
clear candidate, print the receipt, hire, see the roster, and acknowledge the alert of a
revoked certificate. Every page passes axe without serious or critical violations."""

import json
import urllib.request
from datetime import timedelta

import pytest

from registry import clock
from registry.identity import gb11643_check_char
from tests.live import registry
from tests.pages.conftest import axe_violations, sign_in

CODE = "91350100M000100Y43"
PASSWORD = "correct horse battery"


def number(i: int) -> str:
    first17 = f"33010619850101{i:03d}"
    return first17 + gb11643_check_char(first17)


BARRED, CLEAR = number(1), number(2)


def _api(base: str, token: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own server)
        return json.loads(response.read())


@pytest.fixture(scope="module")
def seeded(instance, live_url):
    """An institution with its director, a barred number, and a cook with a health
    certificate registered by the HR bureau (whose token is returned)."""
    registry(instance, "institutions", "add", "--code", CODE, "--name", "西湖区阳光托育园",
             "--district", "西湖区")  # fmt: skip
    registry(instance, "users", "create", "--username", "zhou.director", "--role", "director",
             "--institution", CODE, input=PASSWORD + "\n")  # fmt: skip
    registry(instance, "users", "create", "--username", "wu.hr", "--role", "hr",
             input=PASSWORD + "\n")  # fmt: skip
    token = registry(instance, "tokens", "create", "--username", "wu.hr").stdout.split()[-1]
    registry(instance, "bans", "add", "--id-number", BARRED, "--name", "某甲",
             "--category", "abuse", "--authority", "杭州市西湖区卫生健康局",
             "--decision-no", "西卫禁〔2026〕3号", "--effective-on", "2025-01-01")  # fmt: skip
    person = {"id_number": CLEAR, "name": "陈小梅", "education": "senior_high"}
    person = _api(live_url, token, "/people", person)
    issued = (clock.today() - timedelta(days=30)).isoformat()
    certificate = _api(
        live_url,
        token,
        f"/people/{person['id']}/certificates",
        {
            "kind": "health_certificate",
            "number": "JK-2026-001",
            "issuer": "杭州市西湖区疾病预防控制中心",
            "issued_on": issued,
        },
    )
    return {"hr_token": token, "certificate_id": certificate["id"]}


def _sign_in(page, live_url):
    sign_in(page, live_url, "zhou.director", PASSWORD)


def test_a_director_lands_on_the_candidate_check_and_a_barred_one_is_refused(
    page, live_url, seeded
):
    page.set_viewport_size({"width": 1366, "height": 768})
    _sign_in(page, live_url)
    assert page.url == f"{live_url}/director/check"
    assert page.get_attribute("#id_number", "autocomplete") == "off"
    assert axe_violations(page) == []

    page.fill("#id_number", BARRED.lower())
    page.select_option("#role", "caregiver")
    page.click("form.card button[type=submit]")
    assert "禁入" in page.inner_text("#ban-result")
    assert page.inner_text("#ban-contact").strip()
    assert BARRED not in page.content() and BARRED not in page.url
    assert axe_violations(page) == []

    page.goto(f"{live_url}/director/hire")
    assert axe_violations(page) == []
    page.fill("#id_number", BARRED)
    page.select_option("#role", "cook")
    page.check("#declaration")
    page.click("form.card button[type=submit]")
    assert page.inner_text("h1") == "不予录用"
    assert "禁止从业" in page.inner_text("#hire-result")
    assert page.locator("#reasons li").count() >= 1


def test_a_clear_candidate_is_receipted_hired_and_alerted_about(page, live_url, seeded):
    page.set_viewport_size({"width": 1366, "height": 768})
    _sign_in(page, live_url)
    typed = "３３０１０６ " + CLEAR[6:]  # full-width digits and a space, as typed
    page.fill("#id_number", typed)
    page.select_option("#role", "cook")
    page.click("form.card button[type=submit]")
    assert "无禁入记录" in page.inner_text("#ban-result")
    assert "符合" in page.inner_text("#verdict")

    page.click("text=查看并打印回执")
    assert "/receipt" in page.url and CLEAR not in page.url
    assert page.locator("#receipt-qr svg").count() == 1
    assert page.inner_text("#receipt-number") == CLEAR[:3] + "*" * 11 + CLEAR[-4:]
    assert page.inner_text("#receipt-token").startswith("v1.")
    assert axe_violations(page) == []

    page.goto(f"{live_url}/director/hire")
    page.fill("#id_number", CLEAR)
    page.select_option("#role", "cook")
    page.click("form.card button[type=submit]")  # the declaration not ticked
    assert "请阅读并勾选声明" in page.inner_text("#declaration-error")
    assert page.input_value("#id_number") == CLEAR
    page.check("#declaration")
    page.click("form.card button[type=submit]")
    assert page.inner_text("h1") == "已录用"

    page.click("text=查看在岗人员")
    assert "陈小梅" in page.inner_text("#roster")
    assert axe_violations(page) == []
    for path in ("compliance", "expiring"):
        page.goto(f"{live_url}/director/{path}")
        assert axe_violations(page) == [], path

    _api(
        live_url,
        seeded["hr_token"],
        f"/certificates/{seeded['certificate_id']}/revoke",
        {"reason": "证书系伪造"},
    )
    page.click("nav.main >> text=提醒")
    assert "陈小梅" in page.inner_text("#open-alerts")
    assert axe_violations(page) == []
    page.click("#open-alerts button")
    assert page.locator("#no-open").count() == 1
    assert "陈小梅" in page.inner_text("#seen-alerts")


def test_the_candidate_check_fits_a_phone(page, live_url, seeded):
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, live_url)
    assert page.url == f"{live_url}/director/check"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    box = page.locator("#id_number").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert axe_violations(page) == []
