"""The administrator's, the bureau's account pages and the inspector's, end to end in
Chromium against gunicorn: accounts made and disabled, a receipt verified, the audit
chain read; axe finds no serious or critical violation on any of them."""

import json
import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.conftest import CODES, id_number
from tests.live import registry
from tests.pages.conftest import axe_violations, sign_in

ADMIN_PASSWORD = "admin password 2026"
PASSWORD = "inspection password 1"


@pytest.fixture(scope="module")
def seeded(instance, live_url):
    """An administrator, an institution, a director with an API token and an inspector."""
    registry(
        instance,
        "users",
        "create",
        "--username",
        "admin",
        "--role",
        "admin",
        input=ADMIN_PASSWORD + "\n",
    )
    registry(
        instance,
        "institutions",
        "add",
        "--code",
        CODES[0],
        "--name",
        "西湖区阳光托育园",
        "--district",
        "西湖区",
    )
    registry(
        instance,
        "users",
        "create",
        "--username",
        "api.director",
        "--role",
        "director",
        "--institution",
        CODES[0],
        input=PASSWORD + "\n",
    )
    registry(
        instance,
        "users",
        "create",
        "--username",
        "chen.inspector",
        "--role",
        "inspector",
        input=PASSWORD + "\n",
    )
    token = (
        registry(instance, "tokens", "create", "--username", "api.director")
        .stdout.strip()
        .splitlines()[-1]
    )
    return {"url": live_url, "director_token": token}


def _sign_in(page, url, username, password):
    sign_in(page, url, username, password)


def _no_violations(page):
    assert axe_violations(page) == [], page.url


def test_an_administrator_creates_accounts_and_disables_one(browser, seeded):
    url = seeded["url"]
    admin = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    _sign_in(admin, url, "admin", ADMIN_PASSWORD)
    admin.click("nav.main >> text=用户与令牌")
    expect(admin.locator("h1")).to_have_text("用户与令牌")
    _no_violations(admin)

    admin.click("text=新建用户")
    _no_violations(admin)
    admin.fill("#username", "wu.bureau")
    admin.select_option("#role", "bureau")
    admin.fill("#password", "short")
    admin.click("button:has-text('创建用户')")
    expect(admin.locator("#password-error")).to_contain_text("至少 10 个字符")
    expect(admin.locator("#username")).to_have_value("wu.bureau")  # the input kept
    _no_violations(admin)
    admin.fill("#password", "bureau temporary 1")
    admin.click("button:has-text('创建用户')")
    expect(admin.locator("[role=status]")).to_contain_text("用户已创建")
    _no_violations(admin)

    admin.goto(f"{url}/users/new")
    admin.fill("#username", "li.director")
    admin.select_option("#role", "director")
    admin.fill("#institution", CODES[0])
    admin.fill("#password", "director temporary 1")
    admin.click("button:has-text('创建用户')")
    expect(admin.locator("[role=status]")).to_contain_text("首次登录时必须修改临时密码")
    director_page_url = admin.url

    # The director signs in and must choose a password before anything else.
    director = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    _sign_in(director, url, "li.director", "director temporary 1")
    expect(director.locator("h1")).to_have_text("修改密码")
    director.goto(f"{url}/tokens")
    expect(director).to_have_url(f"{url}/password")
    director.fill("#current_password", "director temporary 1")
    director.fill("#new_password", "my own director pw 9")
    director.fill("#repeat_password", "my own director pw 9")
    director.click("button:has-text('保存新密码')")
    director.goto(f"{url}/tokens")
    expect(director.locator("h1")).to_have_text("API 令牌")

    # The administrator disables the director: the director's next page is the sign-in.
    admin.goto(director_page_url)
    admin.click("button:has-text('停用账号')")
    expect(admin.locator("[role=status]")).to_contain_text("账号已停用")
    director.reload()
    expect(director).to_have_url(re.compile(r"/login\?next=/tokens$"))

    admin.goto(f"{url}/users?role=director")
    rows = admin.locator("tbody tr")
    expect(rows.filter(has_text="li.director")).to_contain_text("已停用")
    expect(rows.filter(has_text="wu.bureau")).to_have_count(0)

    admin.goto(f"{url}/tokens")
    admin.fill("#label", "对账脚本")
    admin.click("button:has-text('生成令牌')")
    token = admin.locator("#issued").input_value()
    assert token and len(token) > 20
    _no_violations(admin)
    admin.reload()  # shown once: not on the page again
    assert token not in admin.content()

    admin.click("nav.main >> text=审计")
    expect(admin.locator(".result.clear")).to_contain_text("审计链完整")
    expect(admin.locator("tbody")).to_contain_text("user.disabled")
    _no_violations(admin)


def _hiring_check(seeded) -> str:
    request = urllib.request.Request(
        f"{seeded['url']}/api/v1/ban-checks",
        data=json.dumps({"id_number": id_number(5)}).encode(),
        headers={
            "Authorization": f"Bearer {seeded['director_token']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our own server)
        return json.loads(answer.read())["receipt"]


@pytest.mark.parametrize("width,height", [(1366, 768), (390, 844)])
def test_an_inspector_verifies_a_receipt_and_reads_a_roster(browser, seeded, width, height):
    url, receipt = seeded["url"], _hiring_check(seeded)
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    _sign_in(page, url, "chen.inspector", PASSWORD)
    expect(page.locator("h1")).to_have_text("回执核验")  # where an inspector lands
    _no_violations(page)
    page.fill("#token", receipt)
    page.click("button:has-text('核验')")
    expect(page.locator(".result.clear")).to_contain_text("回执有效")
    expect(page.locator("dl")).to_contain_text("西湖区阳光托育园")
    expect(page.locator("dl")).to_contain_text(id_number(5)[:3] + "*" * 11 + id_number(5)[-4:])
    assert id_number(5) not in page.content()
    _no_violations(page)
    # Nothing sticks out sideways, on a phone either.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    head, payload, signature = receipt.split(".")
    changed = payload[:10] + ("B" if payload[10] != "B" else "C") + payload[11:]
    page.fill("#token", f"{head}.{changed}.{signature}")
    page.click("button:has-text('核验')")
    expect(page.locator(".result.barred")).to_contain_text("回执无效")
    _no_violations(page)

    page.click("nav.main >> text=在岗人员")
    _no_violations(page)
    page.click("text=西湖区阳光托育园")
    expect(page.locator("h1")).to_contain_text("西湖区阳光托育园")
    expect(page.locator("main form[method=post]")).to_have_count(0)
    _no_violations(page)
