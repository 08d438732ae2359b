"""The HR clerk's journey in Chromium against gunicorn: sign in and land on 名单导入, a
GBK roll with a title line and errors previewed, corrected and imported (in the
background, the page following its progress), then a person found by name and a
certificate revoked with a reason. axe finds no serious or critical violation."""

import re

import pytest

from tests.conftest import id_number
from tests.live import registry
from tests.pages.conftest import axe_violations

PASSWORD = "correct horse battery"
HEADERS = "姓名,身份证号,证书名称,等级,证书编号,发证机构,发证日期,有效期至"
ISSUER = "杭州市人力资源和社会保障局"


@pytest.fixture(scope="module")
def instance(instance):
    """The module's instance imports every roll in the background, so that the journey
    goes through the progress page; and has an HR clerk."""
    instance["REGISTRY_IMPORT_BACKGROUND_BYTES"] = "0"
    registry(instance, "users", "create", "--username", "li.hr", "--role", "hr", input=PASSWORD)
    return instance


def roll(path, rows):
    """A roll as published: a title line above the header, GBK-encoded."""
    lines = ["2026年第三批保育师证书名单", HEADERS, *(",".join(r) for r in rows)]
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode("gbk"))
    return path


def rows():
    return [
        [f"张{i}", id_number(i), "保育师", "四级", f"HZ{i:04d}", ISSUER, "2024-03-05", ""]
        for i in range(1, 4)
    ]


def assert_accessible(page):
    assert axe_violations(page) == [], page.url


def test_the_clerk_previews_corrects_and_imports_a_roll_then_revokes_a_certificate(
    page, live_url, tmp_path
):
    page.goto(f"{live_url}/login")
    page.fill("#username", "li.hr")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/hr/imports")
    assert page.title().startswith("名单导入")
    assert_accessible(page)

    # A roll with errors: previewed, nothing written, errors by spreadsheet row.
    bad = rows()
    bad[1][1] = "11010519900101001"  # 17 characters: row 4 of the sheet
    bad[2][4] = ""  # no certificate number: row 5
    page.set_input_files("#file", str(roll(tmp_path / "名单.csv", bad)))
    page.click("button:has-text('预览')")
    page.wait_for_url(f"{live_url}/hr/imports/preview")
    text = page.inner_text("main")
    assert "表头在第2行" in text and "第4行" in text and "第5行" in text
    assert "尚未写入" in text
    assert id_number(1) not in page.content()
    assert_accessible(page)

    # Corrected in the file and uploaded again: no errors, imported whole.
    page.click("text=重新选择文件")
    page.set_input_files("#file", str(roll(tmp_path / "名单.csv", rows())))
    page.click("button:has-text('预览')")
    assert "文件没有错误" in page.inner_text("main")
    page.click("button:has-text('导入全部 3 行')")
    page.wait_for_url(f"{live_url}/hr/imports/jobs/*")
    assert_accessible(page)
    page.wait_for_url(re.compile(r"/hr/imports/\d+$"), timeout=60_000)
    text = page.inner_text("main")
    assert "已导入" in text and "新增证书 3" in text and "新登记人员 3" in text
    assert_accessible(page)

    # 人员: found by exact name, a certificate revoked with a reason.
    page.click("nav >> text=人员")
    assert_accessible(page)
    page.fill("#name", "张2")
    page.click("button:has-text('查找')")
    page.click("main table >> text=张2")
    assert "有效" in page.inner_text("main")
    assert_accessible(page)
    page.click("text=撤销此证书")
    page.fill("input[name=reason]", "证书系伪造")
    page.click("button:has-text('撤销')")
    page.wait_for_url("**/hr/people/*?done=revoked")
    text = page.inner_text("main")
    assert "证书已撤销" in text and "证书系伪造" in text
    assert_accessible(page)
    # On a 390-pixel phone the page fits its width (tables scroll inside their frame).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{live_url}/hr/imports")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_number_typed_to_find_a_person_never_reaches_the_address(page, live_url):
    page.goto(f"{live_url}/login?next=/hr/people")
    page.fill("#username", "li.hr")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/hr/people")
    typed = id_number(9)
    page.fill("#id_number", typed)
    page.click("button:has-text('查找')")
    assert typed not in page.url and typed not in page.title()
    assert "没有登记此证件号码" in page.inner_text("main")
    assert page.get_attribute("#id_number", "autocomplete") == "off"
    assert_accessible(page)
