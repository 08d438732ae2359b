"""The registry as a user runs it: the installed ``registry`` command in a subprocess,
and ``registry serve`` (gunicorn) on 127.0.0.1, for tests that need real HTTP: pages in
Chromium, several workers sharing one database."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REGISTRY = str(Path(sys.executable).with_name("registry"))


def environment(instance: Path, database_url: str, **extra: str) -> dict:
    """The environment of a fresh instance: nothing of the caller's REGISTRY_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_INSTANCE_PATH=str(instance), REGISTRY_DATABASE_URL=database_url, **extra)
    return env


def registry(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``registry ARGS``; fails the test with its stderr when it exits non-zero."""
    result = subprocess.run(
        [REGISTRY, *args], env=env, input=input, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"registry {args[0]}: {result.stderr}"
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(env: dict, workers: int = 2, *options: str):
    """``registry serve`` on a free port of 127.0.0.1 (with more ``options``); yields its
    base URL once it answers, and stops it afterwards. Its output goes to a file, never
    a pipe nobody reads: a full pipe would stall gunicorn's access log, and with it
    every request."""
    port = free_port()
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(
            [REGISTRY, "serve", "--port", str(port), "--workers", str(workers), *options],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base + "/api/v1/openapi.json", server, output)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen, output) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (our own server)
                return
        except OSError:
            if server.poll() is not None:
                output.seek(0)
                raise RuntimeError(output.read().decode()) from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
