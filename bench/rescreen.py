"""The yearly re-screening (``registry rescreen``) against one hand-written SQL join.

For each size N (default 100,000 and 1,000,000) and each database (SQLite, PostgreSQL):

1. a scratch instance: keys, a database at the latest migration, and a district written
   straight into the registry's tables (``district.py``): N people, each with one
   employment in post (N / 1000 institutions), and N bans in force, of which one in
   --barred-every (1 %) bars a member of staff and the rest bar nobody there;
2. ``registry rescreen --as-of DAY --format json`` in a process of its own (the command an
   operator runs: start-up, the join, an alert for each hit, the audit event, the
   report), timed, with its peak RSS (``os.wait4``);
3. the floor: one hand-written SQL join (employments in post, their people, the bans in
   force by blind index) through the bare driver, in a process of its own, timed.

Both must find exactly the people barred by construction, or the bench fails (exit 1).
It prints rescreen/join (target ≤ 1.5; with --repeat N, of the median times of N
rounds, the alerts raised by one round deleted before the next), the command's start-up
(``registry --help``) within the rescreen's time, and, per database, the rescreen's peak
RSS at the largest size over the smallest (flat memory: target ≤ 1.5). Missed targets
are results, not failures.

    .venv/bin/python bench/rescreen.py [--sizes 100000,1000000]
        [--database sqlite|postgresql|both] [--postgres-url URL] [--barred-every 100]
        [--repeat 1]
"""

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from district import District, fill, scratch_instance
from sqlalchemy.engine import make_url

from migrations import alembic_config
from registry import clock, create_app
from registry.alerts.models import Alert
from registry.config import load_settings
from registry.people.models import Person

DEFAULT_POSTGRES_URL = os.environ.get(
    "REGISTRY_BENCH_POSTGRES_URL", "postgresql+psycopg://registry:registry@127.0.0.1/registry_bench"
)
RATIO_TARGET, MEMORY_TARGET = 1.5, 1.5
AS_OF = date(2026, 6, 30)
REGISTRY = str(Path(sys.executable).with_name("registry"))
REGISTRY_NAME = "registry"

# The same people as the rescreen's query, written by hand: who is in post on the day
# and barred by a ban in force on it.
JOIN = """
SELECT DISTINCT p.public_id
FROM employments e
JOIN people p ON p.id = e.person_id
JOIN bans b ON b.id_index = p.id_index
WHERE e.start <= {day} AND (e."end" IS NULL OR e."end" >= {day})
  AND b.status = 'active' AND b.effective_on <= {day}
  AND (b.until IS NULL OR b.until >= {day})
"""


def median(runs: list["Run"]) -> "Run":
    """The run of median time (the lower middle of an even number)."""
    return sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]


class BenchFailed(RuntimeError):
    pass


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: str


def run_measured(argv: list[str], env: dict, ok=(0,)) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code not in ok:
        raise BenchFailed(f"{' '.join(argv)} exited {code}:\n{stdout[-2000:]}{stderr[-2000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout)


# The floor's process: the bare driver and nothing of the registry, so that its start-up
# is a bare Python's (the rescreen's includes the registry command's, printed apart).
JOIN_CHILD = """
import json, sys
url, day, join = sys.argv[1:]
if url.startswith("sqlite:///"):
    import sqlite3
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    ids = [r[0] for r in connection.execute(join.format(day=repr(day)))]
else:
    import psycopg
    with psycopg.connect(url) as connection:
        ids = [r[0] for r in connection.execute(join.format(day=f"DATE '{day}'"))]
print(json.dumps(sorted(ids)))
"""


def join_floor(url: str, env: dict) -> Run:
    if not url.startswith("sqlite"):
        url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    argv = [sys.executable, "-c", JOIN_CHILD, url, AS_OF.isoformat(), JOIN]
    return run_measured(argv, env)


@dataclass
class Result:
    database: str
    size: int
    fill_seconds: float
    rescreen: Run
    join: Run
    found: int
    startup: Run

    @property
    def ratio(self) -> float:
        return self.rescreen.seconds / self.join.seconds


def bench(kind: str, size: int, options) -> Result:
    with scratch_instance(kind, options.postgres_url, "rescreen_") as (instance, url, env):
        command.upgrade(alembic_config(url), "head")
        app = create_app(load_settings(env))
        engine = app.extensions["registry.engine"]
        district = District(
            institutions=max(1, size // 1000),
            staff=size,
            certificates=0,
            bans=size,
            barred_every=options.barred_every,
            alerts=0,
        )
        print(f"[{kind} {size:,}] filling ...", flush=True)
        start = time.perf_counter()
        with app.app_context():
            filled = fill(
                engine,
                app.extensions["registry.keyring"],
                district,
                clock.today(),
                encrypt=False,
            )
        fill_seconds = time.perf_counter() - start
        # The report names people by their public ids, as every command does.
        with engine.connect() as connection:
            expected = sorted(
                connection.scalars(
                    sa.select(Person.public_id).where(Person.id.in_(filled["barred_people"]))
                )
            )
        engine.dispose()
        print(f"[{kind} {size:,}] filled in {fill_seconds:.1f} s; re-screening", flush=True)
        argv = [REGISTRY, "rescreen", "--as-of", AS_OF.isoformat(), "--format", "json"]
        rescreens, joins, startups = [], [], []
        for round_ in range(options.repeat):
            if round_:
                # The same work each round: the alerts the last round raised go.
                with engine.begin() as connection:
                    connection.execute(sa.delete(Alert).where(Alert.kind == "ban"))
                engine.dispose()
            startups.append(run_measured([REGISTRY, "--help"], env))
            rescreens.append(run_measured(argv, env, ok=(0, 3)))  # 3: somebody barred
            report = json.loads(rescreens[-1].stdout)
            found = sorted({hit["person_id"] for hit in report["barred"]})
            new = sum(hit["new_alert"] for hit in report["barred"])
            if report["employments"] != size or found != expected or new != len(expected):
                raise BenchFailed(
                    f"rescreen on {kind}: {report['employments']} employments (of {size}), "
                    f"{len(found)} people barred (of {len(expected)}), same: "
                    f"{found == expected}, {new} new alerts"
                )
            joins.append(join_floor(url, env))
            if json.loads(joins[-1].stdout) != expected:
                raise BenchFailed(f"the hand-written join on {kind} found other people")
    return Result(
        kind, size, fill_seconds, median(rescreens), median(joins), len(expected), median(startups)
    )


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(r: Result) -> None:
    print(
        f"{r.database:<10} {r.size:>9,} employments, {r.size:,} bans, {r.found:,} barred found "
        f"by both  rescreen {r.rescreen.seconds:6.1f} s (peak RSS {r.rescreen.peak_rss_mb:.0f} "
        f"MB)  join {r.join.seconds:5.1f} s  rescreen/join {r.ratio:4.2f} "
        f"({met(r.ratio <= RATIO_TARGET)}, target ≤ {RATIO_TARGET})",
        flush=True,
    )
    beyond = r.rescreen.seconds - r.startup.seconds
    print(
        f"{'':<10} (extra) of which the command's start-up ({REGISTRY_NAME} --help) "
        f"{r.startup.seconds:.2f} s; the rest {beyond:.2f} s = {beyond / r.join.seconds:.2f} "
        "× the join",
        flush=True,
    )


def report_memory(results: list[Result]) -> None:
    for database in dict.fromkeys(r.database for r in results):
        mine = sorted((r for r in results if r.database == database), key=lambda r: r.size)
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        ratio = large.rescreen.peak_rss_mb / small.rescreen.peak_rss_mb
        print(
            f"{database:<10} rescreen peak RSS {large.size:,} / {small.size:,}: "
            f"{large.rescreen.peak_rss_mb:.0f} / {small.rescreen.peak_rss_mb:.0f} MB = "
            f"{ratio:.2f} ({met(ratio <= MEMORY_TARGET)}, target ≤ {MEMORY_TARGET})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--barred-every", type=int, default=100)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per size and database (median reported)"
    )
    options = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load}; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}"
    )
    print(f"each figure: the median of {options.repeat} round(s)")
    kinds = ("sqlite", "postgresql") if options.database == "both" else (options.database,)
    results = []
    try:
        for size in (int(s) for s in options.sizes.split(",")):
            for kind in kinds:
                results.append(bench(kind, size, options))
                report(results[-1])
    except BenchFailed as exc:
        print(f"\n!!! BENCH FAILED: {exc}")
        return 1
    report_memory(results)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
