"""The sign-in throttle as users meet it: a real gunicorn with two workers."""

import http.cookiejar
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import sqlalchemy as sa

from registry.db import make_engine
from tests.test_cli import REGISTRY, _env, _free_port, _registry

PASSWORD = "a long enough password"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies, the form's CSRF token, no following of redirects."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        self.token = None

    def open_login(self, deadline: float = 0) -> None:
        while True:
            try:
                with self.opener.open(f"{self.base}/login", timeout=10) as response:  # noqa: S310
                    page = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]

    def sign_in(self, username: str, password: str) -> int:
        form = {"username": username, "password": password, "csrf_token": self.token}
        data = urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(f"{self.base}/login", data=data, timeout=30) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


def test_the_throttle_holds_across_two_workers(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    for name in ("li.hr", "wu.hr"):
        created = _registry(
            env, "users", "create", "--username", name, "--role", "hr", input=PASSWORD
        )
        assert created.returncode == 0, created.stderr
    port = _free_port()
    server = subprocess.Popen(
        [*REGISTRY, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        browsers = [Browser(base) for _ in range(5)]
        browsers[0].open_login(deadline=time.monotonic() + 30)
        for browser in browsers[1:]:
            browser.open_login()
        # Five wrong passwords at once: each worker answers some of them (a sync worker
        # takes one request at a time, and each takes a scrypt's time).
        statuses = [None] * 5
        barrier = threading.Barrier(5)

        def attempt(i):
            barrier.wait()
            statuses[i] = browsers[i].sign_in("li.hr", "wrong password number " + str(i))

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [401] * 5
        # Whichever worker answers now, the right password is refused, for this username
        # and for any other from this address, several times over.
        later = []
        for username in ("li.hr", "wu.hr", "li.hr", "wu.hr"):
            browser = Browser(base)
            browser.open_login()
            later.append(browser.sign_in(username, PASSWORD))
        assert later == [429] * 4
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[1].decode()
    assert "Traceback" not in log
    assert PASSWORD not in log
    engine = make_engine(scratch_database_url)
    try:
        with engine.connect() as connection:
            failures = connection.execute(sa.text("SELECT count(*) FROM sign_in_failures")).scalar()
            throttled = connection.execute(
                sa.text("SELECT count(*) FROM audit_events WHERE action = 'auth.sign_in_throttled'")
            ).scalar()
            sessions = connection.execute(sa.text("SELECT count(*) FROM web_sessions")).scalar()
    finally:
        engine.dispose()
    assert (failures, throttled, sessions) == (5, 4, 0)
