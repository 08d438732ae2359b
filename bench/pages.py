"""The pages people use most, at a district's full size, against an authenticated read floor.

For SQLite and PostgreSQL in turn:

1. a scratch instance with a district written straight into its tables (``district.py``)
   at --scale of the full size: 1,000 institutions, 100,000 staff in post, 200,000
   certificates, 10,000 alerts, and 1,000 bans barring one member of staff in 100; a
   director of the first institution and a bureau user, made through the services;
2. the statements each page runs, counted in this process through Flask's test client
   (every list page must run the same number whatever the district's size: run the bench
   at two scales and compare, as docs/scaling.md does);
3. the app served by gunicorn (sync workers, as ``registry serve``) with one more route,
   ``GET /bench/read-floor``: the read floor, the session cookie checked with the
   registry's own query and one indexed select (the user's institution), a line of HTML;
4. --clients closed-loop clients, each signed in through the sign-in form with a session
   of its own (as a director and as a bureau user), ask for each page in turn, in
   --rounds rounds of --seconds / rounds each: the floor, the director's home, the
   director's roster, a candidate check's answer (the form posted with its CSRF token,
   half the numbers barred), the bureau's rates page for the district and the bureau's
   alerts list.

Every answer is checked (200, and a text the page must show); a wrong one fails the bench
(exit 1). Targets: each page ≥ 0.3 × the floor's requests per second, and p99 ≤ 4 × the
floor's p99. Missed targets are results, not failures.

    .venv/bin/python bench/pages.py [--scale 1.0] [--seconds 40] [--clients 16]
        [--database sqlite|postgresql|both] [--postgres-url URL] [--workers N]
"""

import argparse
import http.client
import multiprocessing
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import sqlalchemy as sa
from alembic import command
from ban_check import BenchFailed, running_server
from district import (
    STAFF_AREA,
    UNMATCHED_AREA,
    District,
    fill,
    institution_code,
    resident_id,
    scratch_instance,
)
from flask import abort, request
from served import serve

from migrations import alembic_config
from registry import clock, create_app
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.auth.pages import COOKIE
from registry.config import load_settings
from registry.db import get_session
from registry.institutions.models import Institution

DEFAULT_POSTGRES_URL = os.environ.get(
    "REGISTRY_BENCH_POSTGRES_URL", "postgresql+psycopg://registry:registry@127.0.0.1/registry_bench"
)
RATIO_TARGET, P99_TARGET = 0.3, 4.0
FULL = District(
    institutions=1_000,
    staff=100_000,
    certificates=200_000,
    bans=1_000,
    barred_every=100,
    alerts=10_000,
)
PASSWORD = "bench password, not secret"
CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


# -- the server ---------------------------------------------------------------------------


def read_floor():
    """The least an authenticated page must do: the session cookie checked with the
    registry's own query, then one indexed select."""
    session = get_session()
    found = auth.session_user(session, request.cookies.get(COOKIE, ""))
    if found is None:
        abort(401)
    user, _web_session = found
    institution = session.get(Institution, user.institution_id)
    return f"<!doctype html><title>floor</title><p>{institution.name}</p>"


def bench_app():
    app = create_app()
    app.add_url_rule("/bench/read-floor", "bench_read_floor", read_floor)
    return app


# -- the district and its users -----------------------------------------------------------


def scaled(scale: float) -> District:
    return District(
        **{
            name: (max(1, round(getattr(FULL, name) * scale)) if name != "barred_every" else 100)
            for name in FULL.__dataclass_fields__
        }
    )


def create_users(app) -> None:
    session = app.extensions["registry.sessionmakers"]["write"]()
    with app.app_context(), session:
        actor = SystemActor("bench")
        for username, role, institution in (
            ("bench-director", "director", institution_code(1)),
            ("bench-bureau", "bureau", None),
        ):
            data = {"username": username, "password": PASSWORD, "role": role}
            if institution:
                data["institution"] = institution
            auth.create_user(session, actor, data)
        session.commit()


def sign_in(port: int, username: str) -> tuple[str, str]:
    """Sign in through the form; returns the Cookie header and a form's CSRF token."""
    cookies: dict[str, str] = {}

    def ask(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body and urlencode(body), headers)
        response = conn.getresponse()
        answer = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                cookies[name] = morsel.value
        conn.close()
        return response.status, answer

    _status, page = ask("GET", "/login")
    token = CSRF.search(page).group(1).decode()
    form = {"username": username, "password": PASSWORD, "csrf_token": token}
    status, _answer = ask("POST", "/login", form)
    if status != 302 or COOKIE not in cookies:
        raise BenchFailed(f"{username} could not sign in: HTTP {status}")
    _status, page = ask("GET", "/")
    token = CSRF.search(page).group(1).decode()
    return "; ".join(f"{k}={v}" for k, v in cookies.items()), token


# -- the pages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    who: str  # director or bureau
    method: str
    path: str
    expected: tuple[bytes, ...]  # one of them must be in the answer
    form: bool = False  # a candidate check: a form body with a number and the CSRF token


def routes(district: District) -> list[Route]:
    rates = "/rates?" + urlencode({"district": "西湖区"})
    return [
        Route("read floor", "director", "GET", "/bench/read-floor", ("西湖区第1托育园".encode(),)),
        Route("director home", "director", "GET", "/", (b"bench-director",)),
        Route("director roster", "director", "GET", "/director/roster", ("在岗人员".encode(),)),
        Route(
            "candidate check",
            "director",
            "POST",
            "/director/check",
            ("不得录用".encode(), "可以录用".encode(), "核查结果".encode()),
            form=True,
        ),
        Route("bureau rates", "bureau", "GET", rates, ("持证率".encode(),)),
        Route("bureau alerts", "bureau", "GET", "/bureau/alerts", ("提醒".encode(),)),
    ]


def check_numbers(district: District, count: int = 2000) -> list[str]:
    """Half barred staff, half numbers nobody registered."""
    rng = random.Random(15)
    barred = [i for i in range(100, district.staff + 1, 100)][: district.bans] or [1]
    numbers = []
    for k in range(count):
        if k % 2 == 0:
            numbers.append(resident_id(STAFF_AREA, rng.choice(barred)))
        else:
            numbers.append(resident_id(UNMATCHED_AREA, 900_000 + k))
    return numbers


# -- the load -----------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    elapsed: float = 0.0

    def add(self, other: "Load") -> None:
        self.latencies += other.latencies
        self.failures += other.failures
        self.elapsed += other.elapsed

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def client(port, route: Route, signed_in, numbers, deadline, load: Load, lock) -> None:
    cookie, token = signed_in
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies, failures = [], Counter()
    k = random.randrange(len(numbers))
    while (start := time.perf_counter()) < deadline:
        headers, body = {"Cookie": cookie}, None
        if route.form:
            k += 1
            body = urlencode(
                {"id_number": numbers[k % len(numbers)], "role": "caregiver", "csrf_token": token}
            )
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(route.method, route.path, body, headers)
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            failures[type(exc).__name__] += 1
            conn.close()
            continue
        if response.status == 200 and any(e in answer for e in route.expected):
            latencies.append(time.perf_counter() - start)
        else:
            failures[f"HTTP {response.status}" if response.status != 200 else "wrong page"] += 1
    conn.close()
    with lock:
        load.latencies += latencies
        load.failures += failures


def drive(port, route, sessions, numbers, seconds) -> Load:
    load, lock = Load(), threading.Lock()
    deadline = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=client, args=(port, route, s, numbers, deadline, load, lock))
        for s in sessions
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.elapsed = time.perf_counter() - start
    return load


def measure(port, route, sessions, numbers, processes, seconds) -> Load:
    shares = [sessions[p::processes] for p in range(processes)]
    args = [(port, route, share, numbers, seconds) for share in shares if share]
    with multiprocessing.get_context("fork").Pool(len(args)) as pool:
        parts = pool.starmap(drive, args)
    total = Load()
    for part in parts:
        total.latencies += part.latencies
        total.failures += part.failures
    total.elapsed = max(p.elapsed for p in parts)
    return total


# -- statements ---------------------------------------------------------------------------


def count_statements(app, district: District) -> dict[str, int]:
    """Statements each page runs, through the test client, as its user."""
    engine, seen = app.extensions["registry.engine"], []

    def note(*_args):
        seen.append(1)

    counts = {}
    clients = {}
    for who in ("director", "bureau"):
        c = app.test_client()
        page = c.get("/login")
        token = CSRF.search(page.data).group(1).decode()
        c.post(
            "/login", data={"username": f"bench-{who}", "password": PASSWORD, "csrf_token": token}
        )
        clients[who] = (c, CSRF.search(c.get("/").data).group(1).decode())
    number = check_numbers(district, 2)[0]
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        for route in routes(district):
            if route.path.startswith("/bench"):
                continue
            c, token = clients[route.who]
            seen.clear()
            if route.form:
                data = {"id_number": number, "role": "caregiver", "csrf_token": token}
                answer = c.post(route.path, data=data)
            else:
                answer = c.get(route.path)
            if answer.status_code != 200:
                raise BenchFailed(f"{route.name} answered {answer.status_code} to the test client")
            counts[route.name] = len(seen)
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return counts


# -- one database -------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    district: District
    fill_seconds: float
    statements: dict[str, int]
    loads: dict[str, Load]


def bench(kind: str, options) -> Result:
    district = scaled(options.scale)
    # budgets off: 16 clients share one director's account
    with scratch_instance(kind, options.postgres_url, "pages_", budgets=False) as (
        instance,
        url,
        env,
    ):
        command.upgrade(alembic_config(url), "head")
        app = create_app(load_settings(env))
        app.config["WTF_CSRF_ENABLED"] = True
        engine = app.extensions["registry.engine"]
        print(f"[{kind}] filling {district} ...", flush=True)
        start = time.perf_counter()
        with app.app_context():
            fill(
                engine,
                app.extensions["registry.keyring"],
                district,
                clock.today(),
                encrypt=True,
            )
        fill_seconds = time.perf_counter() - start
        print(f"[{kind}] filled in {fill_seconds:.1f} s", flush=True)
        create_users(app)
        statements = count_statements(app, district)
        engine.dispose()
        loads = serve_and_load(env, instance, district, options)
    return Result(kind, district, fill_seconds, statements, loads)


def serve_and_load(env, instance, district, options) -> dict[str, Load]:
    numbers = check_numbers(district)
    pages = routes(district)
    with running_server(env, options.workers, instance / "gunicorn.log", __file__, "/login") as (
        port,
        _server,
    ):
        sessions = {
            who: [sign_in(port, f"bench-{who}") for _ in range(options.clients)]
            for who in ("director", "bureau")
        }
        for route in pages:  # warm up
            measure(port, route, sessions[route.who], numbers, options.processes, 2)
        loads = {route.name: Load() for route in pages}
        for _round in range(options.rounds):
            for route in pages:
                part = measure(
                    port,
                    route,
                    sessions[route.who],
                    numbers,
                    options.processes,
                    options.seconds / options.rounds,
                )
                loads[route.name].add(part)
    return loads


# -- the report ---------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(r: Result) -> None:
    d = r.district
    print(
        f"\n== {r.database}: {d.institutions:,} institutions, {d.staff:,} staff, "
        f"{d.certificates:,} certificates, {min(d.alerts, d.certificates // 2):,} alerts, "
        f"{d.bans:,} bans (filled in {r.fill_seconds:.0f} s) =="
    )
    floor = r.loads["read floor"]
    print(
        f"  {'page':<18} {'req/s':>7} {'/floor':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p99/floor':>9} {'statements':>10}"
    )
    for name, load in r.loads.items():
        ratio = load.throughput / floor.throughput
        p99_ratio = load.percentile_ms(99) / floor.percentile_ms(99)
        verdict = ""
        if name != "read floor":
            verdict = (
                f"  throughput {met(ratio >= RATIO_TARGET)}, p99 {met(p99_ratio <= P99_TARGET)}"
            )
        print(
            f"  {name:<18} {load.throughput:7.1f} {ratio:7.2f} {load.percentile_ms(50):7.1f} "
            f"{load.percentile_ms(99):7.1f} {p99_ratio:9.2f} "
            f"{r.statements.get(name, '-'):>10}{verdict}"
        )
        for failure, count in sorted(load.failures.items()):
            print(f"  !!! {count:,} answers of {name} were {failure} !!!")
    print(
        f"  targets: each page ≥ {RATIO_TARGET} × the floor's req/s, p99 ≤ {P99_TARGET} × the "
        "floor's p99"
    )


def parse_options():
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of the full district")
    parser.add_argument("--seconds", type=float, default=40, help="per page, in all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * cpus + 1)
    parser.add_argument("--processes", type=int, default=cpus)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    options = parse_options()
    if options.serve:
        serve(bench_app, options.port, options.workers, access_log=None)
        return 0
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load}; {options.workers} gunicorn "
        f"workers; {options.clients} clients signed in, in {options.processes} processes; "
        f"{options.seconds:g} s per page in {options.rounds} rounds",
        flush=True,
    )
    kinds = ("sqlite", "postgresql") if options.database == "both" else (options.database,)
    failed = False
    for kind in kinds:
        try:
            result = bench(kind, options)
        except BenchFailed as exc:
            print(f"\n!!! BENCH FAILED on {kind}: {exc}")
            return 1
        report(result)
        failed |= any(load.failures or not load.latencies for load in result.loads.values())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}")
    if failed:
        print("!!! BENCH FAILED: answers other than the expected page")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
