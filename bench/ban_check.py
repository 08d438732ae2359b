"""Throughput and latency of the hiring check under load, against a floor and a bare route.

For SQLite and PostgreSQL in turn:

1. a scratch instance in a temporary folder: keys, a database at the latest migration,
   an institution, its director and an API token;
2. --bans bans (nine in ten for life), their blind indexes and ciphertexts computed with
   the app's keyring as ``add_ban`` does, bulk inserted (COPY on PostgreSQL);
3. the app served by gunicorn on 127.0.0.1 (sync workers, as ``registry serve``), built
   by ``bench_app()`` below, which adds two routes on the same server, workers and app:
   ``GET /bench/ping`` answering ``{"ok": true}`` (the bare route: what HTTP, gunicorn and
   Flask cost), and ``POST /api/v1/bench/floor`` (the floor: the least any durable,
   authenticated check must do: authenticate the bearer token with the registry's own
   query, read the JSON body, insert one row into a table of its own and commit, with
   the database's durability settings as the registry leaves them);
4. --clients closed-loop clients (threads, each with its own ``http.client``
   connection, in --processes generator processes) warm the three routes up, then ask
   each for --seconds in all: bare, floor, then ``POST /api/v1/ban-checks``, taking
   turns in --rounds rounds so that the machine's other work weighs on each. Half the
   numbers checked are barred, half clear, typed as issued, with a lower-case x, in
   full-width digits, with spaces, or as 15-digit legacy numbers.

Every answer is checked: a non-200 or a wrong result fails the bench (exit 1), loudly.
Missed targets (check ≥ 0.8 × floor in requests per second, check p99 ≤ 1.5 × the
floor's p99) are results, not failures; check/bare is printed beside them.
Along with throughput and latency it prints who used the machine's CPU meanwhile
(gunicorn, PostgreSQL, the load generator, other processes), since on a small machine
the load generator and any other work share the CPUs with the server.

    .venv/bin/python bench/ban_check.py [--bans 1000000] [--seconds 20] [--clients 16]
        [--workers N] [--database sqlite|postgresql|both] [--postgres-url URL]
        [--processes CPUs]

The per-user budgets are turned off for the run (REGISTRY_LIMIT_PER_MINUTE and _PER_DAY
0): one director makes every check here, and the count of a window would read every one
of them. With budgets in force the count reads at most a budget's worth of rows.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from district import scratch_instance
from flask import g, request
from served import serve
from sqlalchemy.orm import Session

from migrations import alembic_config
from registry import create_app
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.bans.models import Ban
from registry.bans.services import NAME_CONTEXT, NUMBER_CONTEXT, find_ban
from registry.config import load_settings
from registry.db import begin_writing, get_session, utcnow
from registry.identity import gb11643_check_char, parse_identity
from registry.institutions import services as institutions
from registry.vocabulary import BAN_CATEGORIES

DEFAULT_POSTGRES_URL = os.environ.get(
    "REGISTRY_BENCH_POSTGRES_URL", "postgresql+psycopg://registry:registry@127.0.0.1/registry_bench"
)
TARGET_RATIO = 0.8  # check / floor, requests per second
TARGET_P99_RATIO = 1.5  # check p99 / floor p99
WARM_UP_SECONDS = 2.0
BATCH = 20_000
QUERIES = 4_000
INSTITUTION = "91350100M000100Y43"
BARRED_AREA = "110105"  # every inserted ban has this area code ...
CLEAR_AREA = "330106"  # ... and no number with this one is barred
FIRST_BIRTH = date(1960, 1, 1)
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
BAN_COLUMNS = (
    "id_type",
    "id_index",
    "id_index_kid",
    "id_number_enc",
    "name_enc",
    "category",
    "authority",
    "decision_no",
    "effective_on",
    "until",
    "status",
    "created_at",
    "created_by_id",
)


# -- the server ---------------------------------------------------------------------------

# The floor's table: created by the bench beside the registry's, never by a migration.
FLOOR = sa.Table(
    "bench_floor",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("body_bytes", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


def floor():
    """The least a durable, authenticated check must do, through the registry's own
    session and commit: the bearer token admitted by the same query as every API
    request, the body read, then (as the check, on SQLite taking the write lock only
    now) one row inserted and committed. No ban lookup, audit event or receipt."""
    g.db_reads_first = True  # as the check's ``reads_first``
    session = get_session()
    _scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    user = auth.authenticate_token(session, token.strip())
    body = request.get_json()
    begin_writing(session)
    session.execute(
        FLOOR.insert(), {"user_id": user.id, "body_bytes": len(body["id_number"]), "at": utcnow()}
    )
    session.commit()
    return {"ok": True}


def bench_app():
    """The registry app (settings from the environment) plus the bare and floor routes."""
    app = create_app()
    app.add_url_rule("/bench/ping", "bench_ping", lambda: {"ok": True})
    app.add_url_rule("/api/v1/bench/floor", "bench_floor", floor, methods=["POST"])
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    env: dict, workers: int, log_path: Path, script: str = __file__, ready: str = "/bench/ping"
):
    """A gunicorn subprocess serving ``script``'s ``bench_app()`` (its ``--serve``), up once
    ``ready`` answers 200; yields (port, process)."""
    port = free_port()
    argv = [sys.executable, script, "--serve", "--port", str(port), "--workers", str(workers)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(port, process, log_path, ready)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(port: int, process: subprocess.Popen, log_path: Path, ready: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchFailed(f"gunicorn exited with {process.returncode}:\n{tail(log_path)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", ready)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise BenchFailed(f"gunicorn did not answer within 60 s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class BenchFailed(RuntimeError):
    pass


# -- the database -------------------------------------------------------------------------


def create_director(app) -> str:
    """An institution and its director; returns the director's API token."""
    session = app.extensions["registry.sessionmakers"]["write"]()
    with app.app_context(), session:
        data = {"code": INSTITUTION, "name": "基准测试托育园", "district": "西湖区"}
        institutions.create_institution(session, SystemActor("bench"), data)
        user = auth.create_user(
            session,
            SystemActor("bench"),
            {
                "username": "bench-director",
                "password": "bench password, not secret",
                "role": "director",
                "institution": INSTITUTION,
            },
        )
        token = auth.create_token(session, SystemActor("bench"), user)
        session.commit()
    return token


def resident_id(area: str, i: int) -> str:
    """The ``i``-th valid resident ID number of ``area``: 1000 per birth day from 1960."""
    born = FIRST_BIRTH + timedelta(days=i // 1000)
    first17 = f"{area}{born:%Y%m%d}{i % 1000:03d}"
    return first17 + gb11643_check_char(first17)


def ban_row(keyring, i: int, now) -> tuple:
    """Ban ``i`` as ``add_ban`` would store it (``BAN_COLUMNS`` order)."""
    identity = parse_identity(resident_id(BARRED_AREA, i))
    categories = list(BAN_CATEGORIES)
    return (
        identity.id_type,
        keyring.blind_index(identity.canonical),
        keyring.active_blind_kid,
        keyring.encrypt(identity.number, NUMBER_CONTEXT),
        keyring.encrypt("张某", NAME_CONTEXT),
        categories[i % len(categories)],
        "杭州市西湖区卫生健康局",
        f"西卫禁〔2025〕{i}号",
        date(2020, 1, 1) + timedelta(days=i % 1500),
        date(2040, 1, 1) if i % 10 == 0 else None,  # a tenth are for a term, the rest for life
        "active",
        now,
        None,
    )


def insert_bans(engine: sa.Engine, rows: list[tuple]) -> None:
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                with cur.copy(f"COPY bans ({', '.join(BAN_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    else:
        with engine.begin() as conn:
            conn.execute(
                Ban.__table__.insert(), [dict(zip(BAN_COLUMNS, r, strict=True)) for r in rows]
            )


def fill_bans(app, count: int) -> tuple[float, float]:
    """Insert ``count`` bans in batches; returns seconds spent computing and inserting."""
    keyring, engine = app.extensions["registry.keyring"], app.extensions["registry.engine"]
    computing = inserting = 0.0
    now = utcnow()
    for start in range(0, count, BATCH):
        t0 = time.perf_counter()
        rows = [ban_row(keyring, i, now) for i in range(start, min(count, start + BATCH))]
        t1 = time.perf_counter()
        insert_bans(engine, rows)
        computing, inserting = computing + t1 - t0, inserting + time.perf_counter() - t1
    if engine.dialect.name == "postgresql":
        # What autovacuum would do within a minute of such a load; done here so the
        # planner's choice does not depend on when the measurement starts.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE bans")
    return computing, inserting


def find_ban_plan(app) -> str:
    """How the database answers the query of ``find_ban`` (its index must be used)."""
    engine, statements = app.extensions["registry.engine"], []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with app.app_context(), Session(engine) as session:
            find_ban(session, parse_identity(resident_id(BARRED_AREA, 0)), date.today())
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = statements[-1]
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + statement, parameters)
        return " / ".join(str(r[-1]).strip() for r in rows)


def database_settings(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            names = ("server_version", "synchronous_commit", "fsync", "shared_buffers")
            values = [conn.exec_driver_sql(f"SHOW {n}").scalar() for n in names]
            return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        return (
            f"SQLite {sqlite3.sqlite_version}, journal_mode={journal}, synchronous={sync} "
            "(2 = FULL), busy_timeout=10 s"
        )


# -- the load -----------------------------------------------------------------------------


@dataclass
class Load:
    """The answers of one route during one measurement."""

    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    generator_cpu: float = 0.0  # CPU seconds of the load generator
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by whom, and idle

    def add(self, other: "Load") -> None:
        self.latencies += other.latencies
        self.failures += other.failures
        self.elapsed += other.elapsed
        self.generator_cpu += other.generator_cpu
        for who, seconds in other.cpu.items():
            self.cpu[who] = self.cpu.get(who, 0.0) + seconds

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def check_queries(bans: int, seed: int = 4) -> list[tuple[bytes, bytes]]:
    """Bodies for the check and the result each must give: half barred, half clear,
    in every typed form in turn."""
    rng = random.Random(seed)
    forms = [
        lambda n: n,
        str.lower,  # only numbers ending in X are picked for it
        lambda n: n.translate(FULL_WIDTH),
        lambda n: f"{n[:6]} {n[6:14]} {n[14:]}",
        lambda n: n[:6] + n[8:17] if n[6:8] == "19" else n,  # the 15-digit legacy number
    ]
    queries = []
    for k in range(QUERIES):
        barred = k % 2 == 0
        form = (k // 2) % len(forms)
        i = rng.randrange(bans)
        number = resident_id(BARRED_AREA if barred else CLEAR_AREA, i)
        while form == 1 and not number.endswith("X"):
            i = (i + 1) % bans
            number = resident_id(BARRED_AREA if barred else CLEAR_AREA, i)
        body = {"id_number": forms[form](number), "purpose": "入职前查询（基准测试）"}
        expected = b'"barred"' if barred else b'"clear"'
        queries.append((json.dumps(body, ensure_ascii=False).encode(), expected))
    return queries


def client(port, method, path, queries, headers, deadline, load: Load, lock) -> None:
    """One closed-loop client: a request, wait for the answer, the next one."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, failures = [], Counter()
    k = random.randrange(len(queries))
    while (start := time.perf_counter()) < deadline:
        body, expected = queries[k % len(queries)]
        k += 1
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            failures[type(exc).__name__] += 1
            conn.close()
            continue
        if response.status == 200 and expected in answer:
            latencies.append(time.perf_counter() - start)
        else:
            failures[f"HTTP {response.status}" if response.status != 200 else "wrong result"] += 1
    conn.close()
    with lock:
        load.latencies += latencies
        load.failures += failures


def drive(port, method, path, queries, headers, clients: int, seconds: float) -> Load:
    """``clients`` threads of this process for ``seconds``."""
    load, lock = Load(), threading.Lock()
    deadline = time.perf_counter() + seconds
    args = (port, method, path, queries, headers, deadline, load, lock)
    threads = [threading.Thread(target=client, args=args) for _ in range(clients)]
    cpu, start = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.elapsed = time.perf_counter() - start
    load.generator_cpu = time.process_time() - cpu
    return load


def measure(port, server_pid, route, headers, clients, processes, seconds) -> Load:
    """The load of ``clients`` spread over ``processes`` generator processes."""
    method, path, queries = route
    shares = [clients // processes + (p < clients % processes) for p in range(processes)]
    before = cpu_seconds(server_pid)
    if processes == 1:
        parts = [drive(port, method, path, queries, headers, clients, seconds)]
    else:
        args = [(port, method, path, queries, headers, n, seconds) for n in shares]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.starmap(drive, args)
    after = cpu_seconds(server_pid)
    total = Load(elapsed=max(p.elapsed for p in parts))
    for p in parts:
        total.latencies += p.latencies
        total.failures += p.failures
        total.generator_cpu += p.generator_cpu
    total.cpu = {who: after[who] - before[who] for who in after}
    total.cpu["load generator"] = total.generator_cpu
    total.cpu["other processes"] = max(
        0.0, total.cpu.pop("busy") - sum(total.cpu[w] for w in CPU_USERS)
    )
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_USERS = ("gunicorn", "postgresql", "load generator")


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far: of the machine (all CPUs), busy, idle, and of gunicorn (its
    master and workers) and of PostgreSQL (every process of the server)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    idle = values[3] + values[4]  # idle and iowait
    ticks = Counter(machine=sum(values), busy=sum(values) - idle, idle=idle)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue  # gone meanwhile
        fields = fields.split()
        if stat.parent.name == str(server_pid) or int(fields[1]) == server_pid:
            ticks["gunicorn"] += int(fields[11]) + int(fields[12])
        elif name.endswith("(postgres"):
            ticks["postgresql"] += int(fields[11]) + int(fields[12])
    return {who: ticks[who] / CLOCK_TICKS for who in ("machine", "busy", "idle", *CPU_USERS[:2])}


def busy_now(seconds: float = 2.0) -> float:
    """How busy the machine is (0 to 1), before we load it."""
    before = cpu_seconds(-1)
    time.sleep(seconds)
    after = cpu_seconds(-1)
    return (after["busy"] - before["busy"]) / max(1e-9, after["machine"] - before["machine"])


# -- one database -------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    bans: int
    fill_compute: float
    fill_insert: float
    baseline: Load
    floor: Load
    check: Load
    plan: str
    settings: str
    busy_before: float

    def loads(self) -> tuple[Load, Load, Load]:
        return self.baseline, self.floor, self.check


def bench_database(kind: str, options) -> Result:
    with scratch_instance(kind, options.postgres_url, "ban_check_", budgets=False) as (
        instance,
        url,
        env,
    ):
        return bench_instance(kind, url, env, instance, options)


def bench_instance(kind, url, env, instance, options) -> Result:
    command.upgrade(alembic_config(url), "head")
    app = create_app(load_settings(env))
    engine = app.extensions["registry.engine"]
    FLOOR.create(engine)
    try:
        token = create_director(app)
        print(f"[{kind}] filling {options.bans:,} bans ...", flush=True)
        computing, inserting = fill_bans(app, options.bans)
        print(f"[{kind}] filled in {computing + inserting:.1f} s; serving", flush=True)
        plan, settings = find_ban_plan(app), database_settings(engine)
    finally:
        engine.dispose()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ping = ("GET", "/bench/ping", [(b"", b'"ok"')])
    queries = check_queries(options.bans)
    floor_route = ("POST", "/api/v1/bench/floor", [(body, b'"ok"') for body, _ in queries])
    check = ("POST", "/api/v1/ban-checks", queries)
    routes = (ping, floor_route, check)
    busy_before = busy_now()
    with running_server(env, options.workers, instance / "gunicorn.log") as (port, server):
        run = (port, server.pid)
        spread = (options.clients, options.processes)
        warm_ups = [measure(*run, route, headers, *spread, WARM_UP_SECONDS) for route in routes]
        # In rounds, each route in turn for its share of --seconds: on a shared machine
        # the others' load drifts, and should weigh on the three routes alike.
        loads = [Load() for _ in routes]
        for _round in range(options.rounds):
            for total, route in zip(loads, routes, strict=True):
                part = measure(*run, route, headers, *spread, options.seconds / options.rounds)
                total.add(part)
        with engine.connect() as conn:
            floor_rows = conn.execute(sa.select(sa.func.count()).select_from(FLOOR)).scalar()
    engine.dispose()
    for load, warm_up in zip(loads, warm_ups, strict=True):
        load.failures += Counter({f"{f} (in the warm-up)": n for f, n in warm_up.failures.items()})
    floor_answers = len(loads[1].latencies) + len(warm_ups[1].latencies)
    if floor_rows < floor_answers:
        raise BenchFailed(f"the floor answered {floor_answers} times but stored {floor_rows} rows")
    return Result(kind, options.bans, computing, inserting, *loads, plan, settings, busy_before)


# -- the report ---------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report_load(name: str, load: Load) -> None:
    n = len(load.latencies)
    print(
        f"  {name:<30} {load.throughput:7.1f} req/s   p50 {load.percentile_ms(50):5.1f} ms"
        f"   p99 {load.percentile_ms(99):5.1f} ms   max {load.percentile_ms(100):6.1f} ms"
        f"   ({n:,} answers in {load.elapsed:.1f} s)"
    )
    machine = load.cpu["machine"]
    shares = ", ".join(
        f"{who} {load.cpu[who] / machine:.0%}" for who in (*CPU_USERS, "other processes", "idle")
    )
    per_answer = load.cpu["gunicorn"] / max(1, n) * 1000
    print(f"  {'':<30} CPU of the machine: {shares}; gunicorn {per_answer:.2f} ms per answer")
    for failure, count in sorted(load.failures.items()):
        print(f"  !!! {count:,} answers were {failure} !!!")


def report(result: Result) -> None:
    b, f, c = result.baseline, result.floor, result.check
    ratio = c.throughput / f.throughput
    p99, floor_p99 = c.percentile_ms(99), f.percentile_ms(99)
    fill = result.fill_compute + result.fill_insert
    print(f"\n== {result.database} ==")
    print(f"  database: {result.settings}")
    print(
        f"  fill: {result.bans:,} bans in {fill:.1f} s ({result.fill_compute:.1f} s blind "
        f"indexes and ciphertexts, {result.fill_insert:.1f} s inserting; "
        f"{result.bans / fill:,.0f} bans/s)"
    )
    print(f"  find_ban plan: {result.plan}")
    print(f"  machine before serving: {result.busy_before:.0%} busy (2 s)")
    if result.busy_before > 0.1:
        print("  !!! other work was running on the machine: the figures below are disturbed")
    report_load("bare GET /bench/ping", b)
    report_load("floor POST /api/v1/bench/floor", f)
    report_load("check POST /api/v1/ban-checks", c)
    print(
        f"  floor/bare: {f.throughput / b.throughput:.2f}   "
        f"check/bare: {c.throughput / b.throughput:.2f}"
    )
    verdict = met(ratio >= TARGET_RATIO)
    print(f"  check/floor: {ratio:.2f}  (target ≥ {TARGET_RATIO}: {verdict})")
    verdict = met(p99 <= TARGET_P99_RATIO * floor_p99)
    print(
        f"  check p99 / floor p99: {p99:.1f} / {floor_p99:.1f} ms = {p99 / floor_p99:.2f}"
        f"  (target ≤ {TARGET_P99_RATIO}: {verdict})"
    )


def report_settings(options) -> None:
    import gunicorn

    cpus = os.cpu_count() or 1
    advice = " (2 × CPUs + 1, gunicorn's advice)" if options.workers == 2 * cpus + 1 else ""
    print(f"machine: {cpus} CPUs, {platform.machine()}, Linux {platform.release()}")
    print(
        f"python {platform.python_version()}, SQLAlchemy {sa.__version__}, "
        f"gunicorn {gunicorn.__version__}"
    )
    print(f"bans: {options.bans:,}; gunicorn: {options.workers} sync workers{advice}")
    print(
        f"load: {options.clients} closed-loop clients (threads, one HTTP connection each) in "
        f"{options.processes} generator process(es); {WARM_UP_SECONDS:g} s warm-up of each "
        f"route, then bare, floor and check for {options.seconds:g} s each, taking turns "
        f"in {options.rounds} rounds"
    )
    print("budgets off: REGISTRY_LIMIT_PER_MINUTE=0, _PER_DAY=0 (one director makes every check)")
    print(f"checks: {QUERIES:,} numbers, half barred, half clear, in 5 typed forms", flush=True)


# -- the command --------------------------------------------------------------------------


def parse_options(argv=None):
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bans", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=2 * cpus + 1, help="gunicorn workers (2 × CPUs + 1)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--processes",
        type=int,
        default=cpus,
        help="load generator processes, the clients split between them (one per CPU: a "
        "single process, its threads taking turns on the GIL, held the baseline ~10%% lower)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="the three routes take turns this many times, each for --seconds / rounds",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def report_summary(results: list[Result]) -> None:
    print(
        f"\n{'':<11} {'route':<6} {'req/s':>8} {'/bare':>6} {'/floor':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for r in results:
        for name, load in (("bare", r.baseline), ("floor", r.floor), ("check", r.check)):
            print(
                f"{r.database:<11} {name:<6} {load.throughput:8.1f} "
                f"{load.throughput / r.baseline.throughput:6.2f} "
                f"{load.throughput / r.floor.throughput:7.2f} {load.percentile_ms(50):7.1f} "
                f"{load.percentile_ms(99):7.1f} {load.percentile_ms(100):7.1f}"
            )


def main() -> int:
    options = parse_options()
    if options.serve:
        serve(bench_app, options.port, options.workers, access_log="-")
        return 0
    report_settings(options)
    kinds = ("sqlite", "postgresql") if options.database == "both" else (options.database,)
    results = []
    for kind in kinds:
        try:
            results.append(bench_database(kind, options))
        except BenchFailed as exc:
            print(f"\n!!! BENCH FAILED on {kind}: {exc}")
            return 1
        silent = [load for load in results[-1].loads() if not load.latencies]
        if silent:
            for load in silent:
                print(
                    f"\n!!! BENCH FAILED on {kind}: a route gave no right answer: "
                    f"{dict(load.failures)}"
                )
            return 1
        report(results[-1])
    report_summary(results)
    failed = [
        r.database for r in results if r.baseline.failures or r.floor.failures or r.check.failures
    ]
    if failed:
        print(f"\n!!! BENCH FAILED: answers other than the expected 200 on {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
