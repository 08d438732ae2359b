"""The bureau officer's journeys in Chromium against gunicorn: sign in and land on 机构,
add an institution, record a ban and see it masked, read the rates below target and
download their CSV, run the yearly re-screen; axe finds nothing serious on any page."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import CODES, id_number
from tests.live import registry
from tests.pages.conftest import axe_violations, sign_in

PASSWORD = "卫健局的密码 2026 bureau"
# Each size adds its own institution and ban, so that either runs alone.
SIZES = {
    "office": ((1366, 768), CODES[0], "西湖区阳光托育园", "11010519491231002X"),
    "phone": ((390, 844), CODES[1], "西湖区月亮托育园", id_number(5)),
}


@pytest.fixture(scope="module")
def officer(instance):
    registry(
        instance, "users", "create", "--username", "li.bureau", "--role", "bureau",
        input=PASSWORD + "\n",
    )  # fmt: skip
    return "li.bureau"


def _sign_in(page, live_url, username):
    sign_in(page, live_url, username, PASSWORD)


def _accessible(page):
    assert axe_violations(page) == [], page.url


def _add_institution(page, code, name):
    page.get_by_label("统一社会信用代码").fill(code.lower())
    page.get_by_label("机构名称").fill(name)
    page.get_by_label("区县").fill("西湖区")
    page.get_by_label("班级类型 1").select_option("toddler")
    page.get_by_label("幼儿数 1").fill("15")
    page.get_by_role("button", name="保存").click()


def _record_ban(page, typed):
    page.get_by_label("证件号码").fill(typed)
    page.get_by_label("姓名").fill("张某")
    page.get_by_label("类别").select_option("abuse")
    page.get_by_label("决定机关").fill("杭州市西湖区卫生健康局")
    page.get_by_label("决定文号").fill("西卫禁〔2026〕3号")
    page.get_by_label("生效日期").fill("2026-11-01")
    page.get_by_role("button", name="记录").click()


@pytest.mark.parametrize("screen", SIZES)
def test_the_bureau_officer_journeys(page, live_url, instance, officer, tmp_path, screen):
    (width, height), code, name, number = SIZES[screen]
    typed = f"{number[:6]} {number[6:14]} {number[14:].lower()}"
    masked = number[:3] + "*" * 11 + number[-4:]
    page.set_viewport_size({"width": width, "height": height})
    _sign_in(page, live_url, officer)
    expect(page).to_have_url(re.compile(r"/institutions$"))
    expect(page.get_by_role("heading", name="机构")).to_be_visible()
    _accessible(page)

    # 机构: add one; the same code again is refused beside the field, input kept.
    page.get_by_role("link", name="登记新机构").click()
    _accessible(page)
    _add_institution(page, code, name)
    expect(page.get_by_role("status")).to_contain_text(f"已登记机构 {code}")
    page.get_by_role("link", name="登记新机构").click()
    _add_institution(page, code, name + "二园")
    expect(page.locator("#code-error")).to_contain_text("已登记")
    expect(page.get_by_label("机构名称")).to_have_value(name + "二园")
    _accessible(page)
    page.get_by_role("link", name="返回列表").click()
    page.get_by_label("区县").fill("杭州市西湖区")
    page.get_by_role("button", name="查找").click()
    expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="托小班（15）").first).to_be_visible()
    page.get_by_role("link", name=f"修改 {name}").click()
    _accessible(page)
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="禁入名单").click()

    # 禁入名单: a ban from its decision; the number typed as a clerk types it.
    _accessible(page)
    page.get_by_role("link", name="记录禁入决定").click()
    _accessible(page)
    expect(page.get_by_label("证件号码")).to_have_attribute("autocomplete", "off")
    _record_ban(page, typed)
    expect(page.get_by_role("status")).to_contain_text("已记录禁入决定")
    assert number not in page.url and number[6:14] not in page.url
    expect(page.get_by_role("cell", name=masked)).to_be_visible()
    assert number not in page.content()
    page.get_by_role("link", name=re.compile("撤销禁入记录")).first.click()
    _accessible(page)
    page.go_back()

    # 持证率: below target on a date, then the CSV.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="持证率").click()
    expect(page.get_by_text("数据计算于")).to_be_visible()
    _accessible(page)
    # The chart is drawn on request, as an image of its own.
    page.get_by_role("link", name=re.compile("查看各机构持证率图")).click()
    expect(page).to_have_url(re.compile(r"/rates/chart\.svg"))
    expect(page.locator("svg[role=img]")).to_be_visible()
    page.go_back()
    page.get_by_role("link", name=f"{name} 的计入人员").click()
    expect(page.get_by_text("该日没有需持证岗位的在岗人员。")).to_be_visible()
    _accessible(page)
    page.go_back()
    page.get_by_label("统计日期").fill("2026-11-20")
    page.get_by_label("只看未达标（目标已到期）").check()
    page.get_by_role("button", name="查看").click()
    expect(page).to_have_url(re.compile(r"below=1"))
    expect(page.get_by_text("没有目标已到期而未达标的机构。")).to_be_visible()
    _accessible(page)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("下载 CSV")).click()
    saved = tmp_path / "rates.csv"
    download.value.save_as(saved)
    text = saved.read_bytes().decode("utf-8")
    assert text.startswith("\ufefflevel,district,code,name")
    assert download.value.suggested_filename == "rates-2026-11-20-below-target.csv"

    # 提醒 and 年度复查.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="提醒").click()
    _accessible(page)
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="年度复查").click()
    page.get_by_label("复查日期").fill("2026-11-20")
    page.get_by_role("button", name="开始复查").click()
    expect(page.get_by_role("heading", name="复查报告：2026年11月20日")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("未发现禁入人员")
    _accessible(page)
