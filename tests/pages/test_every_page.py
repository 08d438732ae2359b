"""Every page of every role, as its users reach them from the navigation, at an office
PC's 1366×768 and a phone's 390 pixels: it answers, has a heading, keeps identity
numbers out of its title and address, and axe-core finds no serious or critical
accessibility violation."""

import re

import pytest

from tests.pages import demo as demo_data
from tests.pages.conftest import axe_violations

SIZES = {"pc": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
FULL_NUMBER = re.compile(r"\d{17}[\dXx]")


@pytest.fixture(scope="module")
def demo(instance, live_url):
    return demo_data.seed(instance, live_url)


def _pages_of(page, demo, role) -> list[str]:
    demo_data.sign_in(page, demo, role)
    links = page.eval_on_selector_all("nav.main a", "links => links.map(a => a.href)")
    return [page.url, *links, f"{demo.base}/", f"{demo.base}/password"]


ROLES = ["director", "hr", "bureau", "admin", "inspector"]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_the_role(page, demo, role):
    page.set_viewport_size(SIZES["pc"])
    for url in dict.fromkeys(_pages_of(page, demo, role)):
        response = page.goto(url)
        assert response.status < 400, url
        assert page.locator("h1").count() >= 1, url
        assert not FULL_NUMBER.search(page.title() + page.url), url
        assert axe_violations(page) == [], url


@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_a_phone(page, demo, role):
    # Wide tables scroll inside their frame; the page itself never scrolls sideways.
    page.set_viewport_size(SIZES["phone"])
    for url in dict.fromkeys(_pages_of(page, demo, role)):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES["phone"]["width"], url


def test_a_missing_page_is_shown_in_the_layout(page, demo):
    demo_data.sign_in(page, demo, "director")
    response = page.goto(f"{demo.base}/no-such-page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "页面不存在"
    assert axe_violations(page) == []
