"""Screenshots of every page of every role, at an office PC's 1366×768 and a phone's
390 pixels, for people to look at (they are not compared pixel by pixel):

    .venv/bin/python -m tests.pages.screenshots docs/screenshots

A fresh instance in a temporary folder (SQLite), the demo district of
``tests/pages/demo.py``, gunicorn on 127.0.0.1 and Debian's Chromium
(``REGISTRY_TEST_CHROMIUM`` names another).
"""

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.live import environment, registry, served
from tests.pages import demo as demo_data
from tests.pages.conftest import CHROMIUM, CHROMIUM_ARGS

SIZES = {"pc": (1366, 768), "phone": (390, 844)}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        env = environment(Path(folder), f"sqlite:///{folder}/registry.db")
        registry(env, "init")
        with served(env, workers=2) as base, sync_playwright() as playwright:
            demo = demo_data.seed(env, base)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            login = browser.new_page(viewport={"width": SIZES["pc"][0], "height": SIZES["pc"][1]})
            login.goto(f"{base}/login")
            login.screenshot(path=out / "login-pc.png", full_page=True)
            for role in demo.users:
                for size, (width, height) in SIZES.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    demo_data.sign_in(page, demo, role)
                    links = page.eval_on_selector_all("nav.main a", "a => a.map(x => x.href)")
                    for url in dict.fromkeys([page.url, *links]):
                        page.goto(url)
                        name = re.sub(r"[^a-z0-9]+", "-", url.removeprefix(base).lower())
                        path = out / f"{role}{name.rstrip('-') or '-home'}-{size}.png"
                        page.screenshot(path=path, full_page=True)
                        print(path)
                    page.close()
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
