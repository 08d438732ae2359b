"""Pages in a real headless Chromium (Debian's, driven by Playwright) against the
registry served by gunicorn on 127.0.0.1, on SQLite or on the PostgreSQL of
REGISTRY_TEST_DATABASE_URL."""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import _create_scratch_database, _drop_database
from tests.live import environment, registry, served

CHROMIUM = os.environ.get("REGISTRY_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
# Playwright cannot download its own browser here: Debian's is launched. The flags keep
# Chromium from reaching for the network on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    # Without a browser the page tests cannot run; CI installs Debian's chromium.
    if shutil.which(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "tests/pages/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A fresh instance (keys, database at the latest migration); yields its environment."""
    folder = tmp_path_factory.mktemp("instance")
    base = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    url = _create_scratch_database(base) if base else f"sqlite:///{folder / 'registry.db'}"
    env = environment(folder, url)
    registry(env, "init")
    yield env
    if base:
        _drop_database(base, url)


@pytest.fixture(scope="module")
def live_url(instance):
    """The base URL of the instance served by gunicorn with two workers."""
    with served(instance, workers=2) as url:
        yield url


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Accessibility violations of the page as axe-core finds them, of the given
    impacts. axe runs through the DevTools protocol, so the page's Content-Security-Policy
    (no inline script) does not stop it."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def sign_in(page, base: str, username: str, password: str) -> None:
    """Sign in through the form, as a person does, and wait for the page it leads to
    (reading the page before the navigation ends would read the sign-in page)."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" not in page.url, page.locator("main").inner_text()
