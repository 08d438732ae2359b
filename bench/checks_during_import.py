"""Hiring checks while a large roll is imported, on SQLite: do any fail?

A fresh instance on a SQLite file, served by gunicorn (``registry serve``) with several
workers; 16 client threads, each with a bureau user and API token of its own (so the
per-user limit is not what answers), make hiring checks one after another; after a short
warm-up ``registry import-roll`` of N rows runs as a subprocess, and the clients go on
until it has finished. It prints the answers by class (2xx, 4xx, 5xx, time-outs) in
all and while the import ran, how long the import took, and the longest time one check
waited (with the median and 99th percentile).

    .venv/bin/python bench/checks_during_import.py [--rows 1000000] [--clients 16]
        [--workers 4] [--timeout 60] [--keep]

The roll is the one ``bench/import_roll.py`` writes (distinct valid identity numbers,
one certificate each), so every row is a new person and a new certificate: the largest
merge a roll of that size makes.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_roll import identity_number, write_roll  # noqa: E402
from tests.live import free_port  # noqa: E402

REGISTRY = str(Path(sys.executable).with_name("registry"))
PASSWORD = "correct horse battery"


def environment(instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["REGISTRY_INSTANCE_PATH"] = str(instance)
    # Each client asks far more than a person would; the limit is not under test.
    env["REGISTRY_LIMIT_PER_MINUTE"] = env["REGISTRY_LIMIT_PER_DAY"] = "0"  # budgets off
    return env


def run(env: dict, *args: str, input: str | None = None) -> str:
    result = subprocess.run(
        [REGISTRY, *args], env=env, input=input, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"registry {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def make_tokens(env: dict, clients: int) -> list[str]:
    """A bureau user and token for each client, in one process (the services, as
    ``registry users create`` and ``tokens create`` call them)."""
    os.environ.update(env)
    from registry import create_app
    from registry.auth import services as auth
    from registry.auth.models import SystemActor
    from registry.db import get_session

    app = create_app()
    tokens = []
    with app.app_context():
        session = get_session()
        for n in range(clients):
            data = {"username": f"bench{n}", "password": PASSWORD, "role": "bureau"}
            user = auth.create_user(session, SystemActor("bench"), data)
            tokens.append(auth.create_token(session, SystemActor("bench"), user))
        session.commit()
    app.extensions["registry.engine"].dispose()
    return tokens


class Answers:
    def __init__(self):
        self.lock = threading.Lock()
        self.records: list[tuple[float, float, str]] = []  # start, seconds, class

    def add(self, start: float, seconds: float, kind: str) -> None:
        with self.lock:
            self.records.append((start, seconds, kind))


def client(base: str, token: str, n: int, stop: threading.Event, answers: Answers, timeout):
    i = 0
    while not stop.is_set():
        body = {"id_number": identity_number(50_000_000 + n * 1_000_000 + i), "purpose": "入职前"}
        request = urllib.request.Request(
            f"{base}/api/v1/ban-checks",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
                kind = f"{response.status // 100}xx"
        except urllib.error.HTTPError as error:
            kind = f"{error.code // 100}xx"
            if error.code >= 500:
                print(f"  {error.code}: {error.read()[:200].decode(errors='replace')}")
        except (TimeoutError, OSError):
            kind = "timeout"
        answers.add(start, time.monotonic() - start, kind)
        i += 1


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=5):  # noqa: S310
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


def summarize(title: str, records) -> None:
    counts = {k: 0 for k in ("2xx", "4xx", "5xx", "timeout")}
    for _start, _seconds, kind in records:
        counts[kind] = counts.get(kind, 0) + 1
    waits = sorted(seconds for _start, seconds, _kind in records)
    if not waits:
        print(f"{title}: no checks")
        return
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    print(
        f"{title}: {len(records)} checks; "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; wait median {statistics.median(waits) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, longest {waits[-1]:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60, help="a client's time-out (s)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of checks before")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="checks-during-import-"))
    try:
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
        roll = work / "roll.csv"
        started = time.monotonic()
        write_roll(roll, args.rows)
        print(f"roll: {args.rows:,} rows written in {time.monotonic() - started:.0f} s")
        env = environment(work / "instance")
        run(env, "init")
        tokens = make_tokens(env, args.clients)

        port = free_port()
        with open(work / "server.log", "wb") as log:
            server = subprocess.Popen(
                [REGISTRY, "serve", "--port", str(port), "--workers", str(args.workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, server)
            answers, stop = Answers(), threading.Event()
            threads = [
                threading.Thread(
                    target=client, args=(base, tokens[n], n, stop, answers, args.timeout)
                )
                for n in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            time.sleep(args.warmup)
            import_started = time.monotonic()
            result = subprocess.run(
                [REGISTRY, "import-roll", str(roll), "--format", "json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            import_ended = time.monotonic()
            time.sleep(args.warmup)
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
        if result.returncode != 0:
            print(result.stderr[-2000:])
            raise SystemExit("the import failed")
        summary = json.loads(result.stdout)
        print(
            f"import: {summary['rows']:,} rows, {summary['accepted']:,} accepted, "
            f"rejected {summary['rejected']:,}, in {import_ended - import_started:.1f} s "
            f"(workers {args.workers}, clients {args.clients})"
        )
        print(f"load after: {os.getloadavg()}")
        records = answers.records
        summarize("all checks", records)
        summarize(
            "checks begun while the import ran",
            [r for r in records if import_started <= r[0] < import_ended],
        )
        failed = sum(1 for r in records if r[2] in ("5xx", "timeout"))
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
