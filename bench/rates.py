"""`registry rates` end to end, against one hand-written SQL query of the same counts.

On SQLite and on PostgreSQL this makes a registry (``registry init``) and fills it with
raw inserts (executemany on SQLite, COPY on PostgreSQL): by default 10,000 institutions
in a dozen districts (overlays with targets and districts without), 1,000,000
employments of every role (some ended, some starting later, a tenth of the people in two
roles) and 2,000,000 certificates of every kind (some expired, revoked, issued later).
Then, each measured ``--repeat`` times and the best kept:

* ``registry rates --format json --as-of D``, a process of its own, start-up included;
* the baseline: the single SQL query below, written by hand from SPEC §4, on a new
  connection of the raw driver (sqlite3, psycopg), rows fetched.

It prints both times and the ratio rates/baseline (target ≤ 1.5), and checks that every
institution's staff and certified counts are the same in both (exit 1 when not). The
statistics are gathered (ANALYZE) after filling, as a maintained database has them.

    .venv/bin/python bench/rates.py [--institutions 10000] [--employments 1000000]
        [--certificates 2000000] [--database sqlite|postgresql|both]
        [--postgres-url URL] [--repeat 3]
"""

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from registry.identity import uscc_check_char

DEFAULT_POSTGRES = "postgresql+psycopg://registry:registry@127.0.0.1/registry_bench"
RATIO_TARGET = 1.5
REGISTRY = str(Path(sys.executable).with_name("registry"))
AS_OF = date(2026, 6, 1)

# Written from SPEC §4 by hand, not from registry.rates: the check is independent.
BASELINE_SQL = """
SELECT i.code,
       count(e.id) AS staff,
       coalesce(sum(CASE WHEN EXISTS (
           SELECT 1 FROM certificates c
           WHERE c.person_id = e.person_id
             AND c.issued_on <= :day
             AND (c.expires_on IS NULL OR c.expires_on >= :day)
             AND (c.status <> 'revoked' OR c.revoked_on > :day)
             AND ((e.role = 'director' AND c.kind = 'director_training')
               OR (e.role = 'caregiver' AND c.kind IN ('childcare_worker', 'infant_nurturer',
                                                       'infant_development_guide',
                                                       'kindergarten_teacher'))
               OR (e.role = 'care_assistant' AND c.kind = 'childcare_worker')
               OR (e.role = 'nurse' AND c.kind IN ('health_care_training', 'nurse_license',
                                                   'physician_license'))
               OR (e.role = 'security_guard' AND c.kind = 'security_guard'))
       ) THEN 1 ELSE 0 END), 0) AS certified
FROM institutions i
LEFT JOIN employments e
       ON e.institution_id = i.id
      AND e.start <= :day AND (e."end" IS NULL OR e."end" >= :day)
      AND e.role IN ('director', 'caregiver', 'care_assistant', 'nurse', 'security_guard')
GROUP BY i.id, i.code
"""

DISTRICTS = (
    "西湖区", "杭州市西湖区", "余姚市", "拱墅区", "永安市", "杭锦旗",
    "上城区", "滨江区", "萧山区", "鄞州区", "鼓楼区", "朝阳区",
)  # fmt: skip
ROLES = ("caregiver",) * 5 + ("care_assistant",) * 2 + (
    "director", "nurse", "security_guard", "cook",
)  # fmt: skip
ROLE_SET = sorted(set(ROLES))
KINDS = (
    ("childcare_worker", 6), ("infant_nurturer", 3), ("infant_development_guide", 1),
    ("kindergarten_teacher", 1), ("director_training", 1), ("caregiver_training", 2),
    ("health_care_training", 1), ("nurse_license", 1), ("physician_license", 1),
    ("security_guard", 1), ("health_certificate", 6),
)  # fmt: skip
NOW = "2026-01-01 00:00:00+00:00"


class BenchFailed(Exception):
    pass


# ------------------------------------------------------------------------- the data


def institution_code(i: int) -> str:
    first17 = f"52330100MA{i:07d}"
    return first17 + uscc_check_char(first17)


def institutions(count: int):
    for i in range(1, count + 1):
        district = DISTRICTS[i % len(DISTRICTS)]
        yield (i, institution_code(i), f"{district}第{i}托育园", district, False, NOW)


def people(count: int):
    for i in range(1, count + 1):
        # Stand-ins for the blind index and ciphertexts: rates never reads them.
        index = i.to_bytes(32, "big")
        yield (i, index, "resident_id", "bench", index, index, "junior_college", None, NOW, None,
               f"{i:032x}")  # fmt: skip


def employments(count: int, persons: int, institutions_: int, rnd: random.Random):
    for k in range(1, count + 1):
        person = (k - 1) % persons + 1
        role = ROLES[person % len(ROLES)]
        if k > persons:  # a second post, in another role, so no two are the same
            role = ROLE_SET[(ROLE_SET.index(role) + 1) % len(ROLE_SET)]
        start = AS_OF - timedelta(days=rnd.randint(-60, 3000))  # some start later
        end = None
        if rnd.random() < 0.15:  # ended, some before the date
            end = start + timedelta(days=rnd.randint(0, 2000))
        yield (k, person, rnd.randint(1, institutions_), role, True, start, end, NOW,
               None, None, NOW)  # fmt: skip


def certificates(count: int, persons: int, rnd: random.Random):
    kinds = [kind for kind, weight in KINDS for _ in range(weight)]
    for j in range(1, count + 1):
        kind = rnd.choice(kinds)
        issued = AS_OF - timedelta(days=rnd.randint(-90, 4000))  # some issued later
        expires = None
        if kind in ("health_certificate", "nurse_license") or rnd.random() < 0.3:
            expires = issued + timedelta(days=rnd.randint(200, 2500))
        revoked = rnd.random() < 0.02
        revoked_on = issued + timedelta(days=rnd.randint(0, 1500)) if revoked else None
        yield (j, (j - 1) % persons + 1, kind, None, f"B{j:09d}", "杭州市职业技能鉴定中心",
               issued, expires, "revoked" if revoked else "valid", revoked_on,
               "bench" if revoked else None, None, None, None, NOW, None)  # fmt: skip


TABLES = {
    "institutions": "id, code, name, district, meals_on_site, created_at",
    "people": "id, id_index, id_type, id_index_kid, id_number_enc, name_enc, education, "
    "major, created_at, updated_at, public_id",
    "employments": 'id, person_id, institution_id, role, full_time, start, "end", '
    "declaration_at, declared_by_id, ended_by_id, created_at",
    "certificates": "id, person_id, kind, level, number, issuer, issued_on, expires_on, "
    "status, revoked_on, revoked_reason, revoked_by_id, replaces_id, import_batch_id, "
    "created_at, updated_at",
}


def data(options):
    rnd = random.Random(6)
    persons = options.employments * 9 // 10  # a tenth of the people hold two posts
    return {
        "institutions": institutions(options.institutions),
        "people": people(persons),
        "employments": employments(options.employments, persons, options.institutions, rnd),
        "certificates": certificates(options.certificates, persons, rnd),
    }


def fill_sqlite(path: str, options) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN")
    for table, rows in data(options).items():
        columns = TABLES[table]
        marks = ", ".join("?" for _ in columns.split(","))
        connection.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
            (tuple(v.isoformat() if isinstance(v, date) else v for v in row) for row in rows),
        )
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()


def fill_postgresql(url: str, options) -> None:
    with psycopg.connect(psycopg_url(url)) as connection:
        with connection.cursor() as cursor:
            for table, rows in data(options).items():
                with cursor.copy(f"COPY {table} ({TABLES[table]}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in TABLES:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
                )
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ---------------------------------------------------------------------- the timing


def run_rates(env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [REGISTRY, "rates", "--format", "json", "--as-of", AS_OF.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchFailed(f"registry rates exited {done.returncode}: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return seconds, {i["code"]: (i["staff"], i["certified"]) for i in report["institutions"]}


def run_baseline(kind: str, url: str) -> tuple[float, dict]:
    start = time.perf_counter()
    if kind == "sqlite":
        connection = sqlite3.connect(make_url(url).database)
        rows = connection.execute(
            BASELINE_SQL.replace(":day", "?"), (AS_OF.isoformat(),) * BASELINE_SQL.count(":day")
        ).fetchall()
        connection.close()
    else:
        with psycopg.connect(psycopg_url(url)) as connection:
            rows = connection.execute(
                BASELINE_SQL.replace(":day", "%(day)s"), {"day": AS_OF}
            ).fetchall()
    seconds = time.perf_counter() - start
    return seconds, {code: (staff, certified) for code, staff, certified in rows}


def bench(kind: str, url: str, instance: Path, options) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(REGISTRY_INSTANCE_PATH=str(instance), REGISTRY_DATABASE_URL=url)
    subprocess.run([REGISTRY, "init"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    if kind == "sqlite":
        fill_sqlite(make_url(url).database, options)
    else:
        fill_postgresql(url, options)
    print(f"{kind}: filled in {time.perf_counter() - start:.0f} s", flush=True)

    rates_times, baseline_times = [], []
    for _ in range(options.repeat):
        seconds, baseline_counts = run_baseline(kind, url)
        baseline_times.append(seconds)
        seconds, rates_counts = run_rates(env)
        rates_times.append(seconds)
    best_rates, best_baseline = min(rates_times), min(baseline_times)
    same = rates_counts == baseline_counts
    staff = sum(s for s, _ in baseline_counts.values())
    certified = sum(c for _, c in baseline_counts.values())
    ratio = best_rates / best_baseline
    print(
        f"{kind}: {len(baseline_counts)} institutions, {staff} staff counted, "
        f"{certified} certified on {AS_OF}\n"
        f"  registry rates --format json  {best_rates:7.2f} s  "
        f"(runs: {', '.join(f'{t:.2f}' for t in rates_times)})\n"
        f"  hand-written SQL (baseline)   {best_baseline:7.2f} s  "
        f"(runs: {', '.join(f'{t:.2f}' for t in baseline_times)})\n"
        f"  ratio rates/baseline {ratio:.2f} (target ≤ {RATIO_TARGET}: "
        f"{'met' if ratio <= RATIO_TARGET else 'MISSED'}); "
        f"same numbers: {'yes' if same else 'NO'}",
        flush=True,
    )
    if not same:
        differ = [c for c in baseline_counts if rates_counts.get(c) != baseline_counts[c]]
        print(f"  differ for {len(differ)} institutions, e.g. {differ[:3]}", flush=True)
    return same


def postgres_database(base_url: str):
    url = make_url(base_url)
    name = f"{url.database}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return admin, url.set(database=name).render_as_string(hide_password=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=10_000)
    parser.add_argument("--employments", type=int, default=1_000_000)
    parser.add_argument("--certificates", type=int, default=2_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; {options.institutions} institutions, "
        f"{options.employments} employments, {options.certificates} certificates; "
        f"best of {options.repeat}",
        flush=True,
    )
    ok = True
    kinds = ["sqlite", "postgresql"] if options.database == "both" else [options.database]
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="rates-bench-") as work:
            instance = Path(work)
            if kind == "sqlite":
                ok &= bench(kind, f"sqlite:///{instance / 'registry.db'}", instance, options)
                continue
            admin, url = postgres_database(options.postgres_url)
            try:
                ok &= bench(kind, url, instance, options)
            finally:
                name = make_url(url).database
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
