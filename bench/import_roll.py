"""Speed and peak memory of the roll import, against a floor import into the same tables.

For each size (default 100,000 and 1,000,000 rows) this writes a roll as Excel saves it
(UTF-8 CSV with BOM, Chinese headers, distinct valid resident ID numbers, certificates
of the catalogue, dates in several of the forms the registry reads), then on SQLite and
on PostgreSQL:

* imports it end to end: ``registry init`` and ``registry import-roll FILE --format json``
  against a fresh instance, in a process of its own, checking that every row is accepted;
* as the floor, on another fresh instance, the same rows validated, encrypted and indexed
  by the registry's own code beforehand (untimed), then written into the registry's own
  tables (people, certificates, their first history entries, every index and constraint)
  through the driver's fastest path in one transaction: ``executemany`` on SQLite (WAL,
  synchronous as registry.db leaves it), ``COPY … FROM STDIN`` on PostgreSQL; only that
  write is timed (see ``floor_child``), and the rows it wrote are counted;
* as the bare insert (printed, no target), the same rows read with the csv module into a
  scratch table of text columns, in a process of its own, the same two ways.

It prints rows per second of each, the ratio import/floor (target ≥ 0.5), the import's
peak RSS (from ``os.wait4``) and, per database, the peak RSS of the largest size over
the smallest (target ≤ 1.5). Missed targets are reported, not failed: the exit status is
non-zero only when the bench itself fails (an import not accepted, a floor short of rows).

    .venv/bin/python bench/import_roll.py [--sizes 100000,1000000]
        [--database sqlite|postgresql|both] [--postgres-url URL] [--format csv|xlsx] [--keep]

PostgreSQL: each run gets a scratch database made beside ``--postgres-url`` (as
tests/conftest.py does) and dropped afterwards; the URL's own database need not exist.
``--format xlsx`` imports the same rows as a workbook (the baseline still reads the CSV),
and first times reading that workbook alone, each in a process of its own: with openpyxl
in read-only mode (the reader before) and with calamine through ``open_roll`` (the reader
now), printing rows per second, the ratio and each reader's peak RSS.
"""

import argparse
import csv
import itertools
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from registry.identity import gb11643_check_char

DEFAULT_POSTGRES = os.environ.get(
    "REGISTRY_BENCH_POSTGRES_URL", "postgresql+psycopg://registry:registry@127.0.0.1/registry_bench"
)
RATIO_TARGET, MEMORY_TARGET = 0.5, 1.5
REGISTRY = str(Path(sys.executable).with_name("registry"))

HEADERS = ["姓名", "身份证号", "证书名称", "等级", "证书编号", "发证机构", "发证日期", "有效期至"]
COLUMNS = ["name", "id_number", "certificate", "level", "number", "issuer"]
COLUMNS += ["issued_on", "expires_on"]

# ------------------------------------------------------------------------ the roll

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
GIVEN = "秀英华玉兰桂芳红梅丽敏静婷燕霞娟艳雪琳晓慧佳欣怡雨婷倩颖洁蕾晶莉萍"
AREAS = ("330106", "330105", "330102", "330481", "350481", "152723", "330281", "110105")
SKILLS = ("杭州市职业技能鉴定中心", "浙江省人力资源和社会保障厅", "杭州市西湖区人社局")
HEALTH = ("杭州市西湖区疾病预防控制中心", "杭州市拱墅区妇幼保健院")
TRAINING = ("杭州市卫生健康委员会", "杭州市妇幼保健院")
# (certificate as rolls write it, levels as rolls write them, issuers, years valid or None)
CERTIFICATES = (
    ("保育师", ("四级", "五级", "三级", "四级/中级工", "4"), SKILLS, None),
    ("保育员", ("五级", "初级工", "中级"), SKILLS, None),
    ("育婴员", ("五级", "四级", "三级/高级工"), SKILLS, None),
    ("高级育婴师", ("",), SKILLS, None),
    ("婴幼儿发展引导员", ("四级", "三级"), SKILLS, None),
    ("健康证", ("",), HEALTH, 1),
    ("健康合格证", ("",), HEALTH, 1),
    ("保育人员岗位培训合格证", ("",), TRAINING, None),
    ("护士执业证书", ("",), ("浙江省卫生健康委员会",), 5),
)
DATE_FORMS = (
    lambda d: d.isoformat(),  # 2021-03-05
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: d.strftime("%Y%m%d"),
)
FIRST_ISSUE = date(2019, 1, 1)


def identity_number(i: int) -> str:
    """The i-th of distinct valid numbers (tens of millions): area, birth day, sequence."""
    area, j = AREAS[i % len(AREAS)], i // len(AREAS)
    born = date(1970, 1, 1) + timedelta(days=j // 1000)
    first17 = f"{area}{born:%Y%m%d}{j % 1000:03d}"
    return first17 + gb11643_check_char(first17)


def roll_row(i: int, rnd: random.Random) -> list[str]:
    kind, levels, issuers, years = rnd.choice(CERTIFICATES)
    issued = FIRST_ISSUE + timedelta(days=rnd.randrange(5 * 365))
    expires = ""
    if years is not None and rnd.random() < 0.7:  # often left empty: the law's validity
        expires = rnd.choice(DATE_FORMS)(issued + timedelta(days=365 * years - 1))
    name = rnd.choice(SURNAMES) + "".join(rnd.choices(GIVEN, k=rnd.choice((1, 2))))
    return [
        name,
        identity_number(i),
        kind,
        rnd.choice(levels),
        f"{3301 + i % 7}{i:09d}",  # distinct: the key is issuer + number
        rnd.choice(issuers),
        rnd.choice(DATE_FORMS)(issued),
        expires,
    ]


def write_roll(path: Path, rows: int) -> None:
    """A roll of ``rows`` rows, written as it is made (a million never in memory)."""
    rnd = random.Random(20240501)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS)
        for i in range(rows):
            writer.writerow(roll_row(i, rnd))


def write_xlsx(roll: Path, path: Path) -> None:
    """The same rows as a workbook (written as it is made); ISO issue dates become date
    cells, as a clerk's Excel has them, the other forms stay text."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    f, reader = roll_values(roll)
    with f:
        sheet.append(HEADERS)
        for row in reader:
            if len(row[6]) == 10 and row[6][4] == "-":
                row[6] = date.fromisoformat(row[6])
            sheet.append(row)
    book.save(path)


def read_child(reader: str, path: str) -> None:
    """Read every row of a workbook and print how many: ``openpyxl`` as the registry
    read workbooks before calamine, or ``calamine`` through the registry's open_roll."""
    rows = 0
    if reader == "openpyxl":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True, keep_links=False)
        for _ in book.worksheets[0].iter_rows(values_only=True):
            rows += 1
        book.close()
        rows -= 1  # the header
    else:
        from registry.imports.readers import open_roll
        from registry.imports.rows import is_header

        with open_roll(path, is_header=is_header) as roll:
            for _ in roll:
                rows += 1
    print(rows)


def bench_readers(path: Path, rows: int) -> None:
    runs = {}
    for reader in ("openpyxl", "calamine"):
        run = run_measured([sys.executable, __file__, "--read-child", reader, str(path)])
        if int(run.stdout.strip().splitlines()[-1]) != rows:
            raise BenchFailed(f"{reader} read {run.stdout.strip()} rows, not {rows}")
        runs[reader] = run
        print(
            f"XLSX read by {reader:<8} {rows / run.seconds:>10,.0f} rows/s "
            f"({run.seconds:.1f} s), peak RSS {run.peak_rss_mb:.0f} MB",
            flush=True,
        )
    ratio = runs["openpyxl"].seconds / runs["calamine"].seconds
    print(f"XLSX reading, calamine (now) / openpyxl (before): {ratio:.1f}x as fast", flush=True)


def roll_values(roll: Path):
    """The CSV's rows after the header, as lists of text (and the file to close)."""
    f = open(roll, encoding="utf-8-sig", newline="")
    reader = csv.reader(f)
    next(reader)  # the header
    return f, reader


# --------------------------------------------------------------------- processes


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: str
    prepare_seconds: float = 0.0  # the floor's untimed validation and encryption


class BenchFailed(Exception):
    pass


def run_measured(command: list[str], env: dict | None = None) -> Run:
    """Run a command to its end: wall time, its own peak RSS (os.wait4), its stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise BenchFailed(
            f"{' '.join(command)} exited {process.returncode}:\n{stdout[-2000:]}{stderr[-2000:]}"
        )
    return Run(seconds, usage.ru_maxrss / 1024, stdout)  # ru_maxrss is in KiB on Linux


def import_roll(roll: Path, rows: int, instance: Path, database_url: str | None) -> Run:
    """``registry init`` then ``registry import-roll`` on a fresh instance; the import's
    own process is the one measured."""
    env = {**os.environ, "REGISTRY_INSTANCE_PATH": str(instance)}
    env.pop("REGISTRY_KEYS_DIR", None)
    if database_url:
        env["REGISTRY_DATABASE_URL"] = database_url
    else:
        env.pop("REGISTRY_DATABASE_URL", None)
    run_measured([REGISTRY, "init"], env)
    run = run_measured([REGISTRY, "import-roll", str(roll), "--format", "json"], env)
    summary = json.loads(run.stdout)
    if summary["rows"] != rows or summary["accepted"] != rows:
        first = summary["errors"][:3]
        raise BenchFailed(
            f"import of {roll.name}: rows {summary['rows']}, accepted {summary['accepted']}, "
            f"unchanged {summary['unchanged']}, rejected {summary['rejected']} (of {rows}); "
            f"first errors: {first}"
        )
    return run


def baseline(roll: Path, target: str) -> Run:
    """The raw insert of the same rows, in a process of its own (this file again)."""
    return run_measured([sys.executable, __file__, "--baseline-child", target, str(roll)])


# ---------------------------------------------------------------- baseline child


SCRATCH_TABLE = "CREATE TABLE roll ({})".format(", ".join(f"{c} TEXT" for c in COLUMNS))


def baseline_sqlite(path: str, roll: Path) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")  # as registry.db; synchronous left as is
    connection.execute(SCRATCH_TABLE)
    f, reader = roll_values(roll)
    with f:
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO roll VALUES ({', '.join('?' * 8)})", reader)
        connection.execute("COMMIT")
    connection.close()


def baseline_postgresql(url: str, roll: Path) -> None:
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        with connection.cursor() as cursor:
            cursor.execute(SCRATCH_TABLE)
            f, reader = roll_values(roll)
            with f, cursor.copy(f"COPY roll ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in reader:
                    copy.write_row(row)
    # Leaving the block committed the transaction.


def baseline_child(target: str, roll: str) -> None:
    if target.startswith("postgresql"):
        baseline_postgresql(target, Path(roll))
    else:
        baseline_sqlite(target, Path(roll))


# ------------------------------------------------------------------- floor child

FLOOR_BATCH = 5000


def floor_child(instance: str, roll: str) -> None:
    """The floor import: the roll's rows validated, encrypted and indexed with the
    registry's own code (``staging._Preparer``, the import's phase 1) and held in memory,
    untimed; then, timed, written into the registry's own tables (people, certificates and
    each certificate's first history entry, with every index and constraint the
    migrations made) through the driver's fastest path in one transaction: sqlite3's
    executemany with WAL and the registry's synchronous setting, psycopg's COPY. No
    staging table, no cross-row checks, no lookup of registered people, no batch row, no
    audit event. Prints ``{"prepare": s, "write": s, "rows": n}``."""
    from registry import clock, create_app
    from registry.config import load_settings
    from registry.imports.rows import map_headers
    from registry.imports.staging import _Preparer
    from registry.people.models import new_public_id

    env = {**os.environ, "REGISTRY_INSTANCE_PATH": instance}
    app = create_app(load_settings(env))
    keyring, engine = app.extensions["registry.keyring"], app.extensions["registry.engine"]
    dialect = engine.dialect.name
    start = time.perf_counter()
    with app.app_context():
        kid = keyring.active_blind_kid
        prepare = _Preparer(keyring, kid, map_headers(HEADERS), clock.today(), dialect)
        now = clock.now()
        staged = []
        f, reader = roll_values(Path(roll))
        with f:
            numbered = enumerate(reader, start=2)
            while batch := list(itertools.islice(numbered, FLOOR_BATCH)):
                rows, _other, errors, _failed, _skipped = prepare(batch)
                if errors:
                    raise BenchFailed(f"the floor's rows have errors: {errors[:3]}")
                staged += rows
    actor = "cli:root"
    if dialect == "sqlite":
        now = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    people, certificates, changes = [], [], []
    for i, (_row, id_type, index, number_enc, name_enc, name_hash, *cert) in enumerate(
        staged, start=1
    ):
        kind, level, number, issuer, issued_on, expires_on = cert
        people.append(
            (i, new_public_id(), id_type, index, kid, number_enc, name_enc, now, name_hash, kid)
        )
        certificates.append(
            (i, i, kind, level, number, issuer, issued_on, expires_on, "valid", now)
        )
        snapshot = {
            "kind": kind,
            "level": level,
            "number": number,
            "issuer": issuer,
            "issued_on": str(issued_on),
            "expires_on": expires_on and str(expires_on),
        }
        changes.append((i, i, "issued", json.dumps(snapshot, ensure_ascii=False), actor, now))
    del staged
    prepared = time.perf_counter() - start
    start = time.perf_counter()
    if dialect == "sqlite":
        floor_write_sqlite(engine.url.database, people, certificates, changes)
    else:
        floor_write_postgresql(engine.url, people, certificates, changes)
    written = time.perf_counter() - start
    engine.dispose()
    print(json.dumps({"prepare": prepared, "write": written, "rows": len(people)}))


FLOOR_COLUMNS = {
    "people": (
        "id",
        "public_id",
        "id_type",
        "id_index",
        "id_index_kid",
        "id_number_enc",
        "name_enc",
        "created_at",
        "name_index",
        "name_index_kid",
    ),
    "certificates": (
        "id",
        "person_id",
        "kind",
        "level",
        "number",
        "issuer",
        "issued_on",
        "expires_on",
        "status",
        "created_at",
    ),
    "certificate_changes": ("id", "certificate_id", "action", "changes", "actor", "changed_at"),
}


def floor_write_sqlite(path: str, *tables: list[tuple]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    # As registry.db configures every connection; synchronous is left as it is there.
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN IMMEDIATE")
    for (table, columns), rows in zip(FLOOR_COLUMNS.items(), tables, strict=True):
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    connection.execute("COMMIT")
    connection.close()


def floor_write_postgresql(url, *tables: list[tuple]) -> None:
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        for (table, columns), rows in zip(FLOOR_COLUMNS.items(), tables, strict=True):
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # The ids were given: the sequence moves past them, as the import's would.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
    # Leaving the block committed the transaction.


def floor_import(roll: Path, rows: int, instance: Path, database_url: str | None) -> Run:
    """``registry init`` on a fresh instance, then the floor child writing into it; the
    Run's seconds are the child's timed write alone."""
    env = {**os.environ, "REGISTRY_INSTANCE_PATH": str(instance)}
    env.pop("REGISTRY_KEYS_DIR", None)
    if database_url:
        env["REGISTRY_DATABASE_URL"] = database_url
    else:
        env.pop("REGISTRY_DATABASE_URL", None)
    run_measured([REGISTRY, "init"], env)
    run = run_measured([sys.executable, __file__, "--floor-child", str(instance), str(roll)], env)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    if figures["rows"] != rows:
        raise BenchFailed(f"the floor prepared {figures['rows']} rows, not {rows}")
    counts = table_counts(database_url or f"sqlite:///{instance / 'registry.db'}")
    if counts != {"people": rows, "certificates": rows, "certificate_changes": rows}:
        raise BenchFailed(f"the floor wrote {counts}, not {rows} rows into each table")
    return Run(figures["write"], run.peak_rss_mb, run.stdout, figures["prepare"])


def table_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in FLOOR_COLUMNS
            }
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- PostgreSQL


def admin_engine(base_url: str) -> sa.Engine:
    """An AUTOCOMMIT connection to the server: to the URL's database, or to ``postgres``
    when that one does not exist (registry_bench need not)."""
    url = make_url(base_url)
    for database in (url.database, "postgres"):
        engine = sa.create_engine(url.set(database=database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect():
                return engine
        except sa.exc.OperationalError:
            engine.dispose()
    raise BenchFailed(f"cannot connect to {url.render_as_string()}")


def create_database(admin: sa.Engine, base_url: str) -> str:
    url = make_url(base_url)
    name = f"{url.database}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin: sa.Engine, url: str) -> None:
    """Drop a scratch database; a failure is reported, not raised (the figures stand)."""
    name = make_url(url).database
    # FORCE ends our connections, not an autovacuum worker of the server, which after a
    # million rows may stay in the new database for a minute or more.
    deadline = time.monotonic() + 300
    while True:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except sa.exc.ProgrammingError as exc:
            if time.monotonic() > deadline:
                print(f"could not drop scratch database {name}: {exc.orig}", file=sys.stderr)
                return
            time.sleep(1)


def server_version(admin: sa.Engine) -> str:
    with admin.connect() as conn:
        return conn.exec_driver_sql("SHOW server_version").scalar()


# ----------------------------------------------------------------------- the bench


@dataclass
class Result:
    database: str
    rows: int
    imported: Run
    floor: Run
    baseline: Run

    @property
    def ratio(self) -> float:
        return self.floor.seconds / self.imported.seconds  # import rate / floor rate

    @property
    def bare_ratio(self) -> float:
        return self.baseline.seconds / self.imported.seconds  # import rate / bare rate


def bench_sqlite(roll: Path, rows: int, work: Path, imported_file: Path) -> Result:
    instance, scratch = work / f"sqlite-{rows}", work / f"baseline-{rows}.db"
    floor_instance = work / f"sqlite-floor-{rows}"
    try:
        imported = import_roll(imported_file, rows, instance, None)
        floor = floor_import(roll, rows, floor_instance, None)
        raw = baseline(roll, str(scratch))
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        shutil.rmtree(floor_instance, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    return Result("sqlite", rows, imported, floor, raw)


def bench_postgresql(
    roll: Path, rows: int, work: Path, imported_file: Path, admin: sa.Engine, base: str
) -> Result:
    instance, floor_instance = work / f"postgresql-{rows}", work / f"postgresql-floor-{rows}"
    registry_db = create_database(admin, base)
    floor_db = create_database(admin, base)
    scratch_db = create_database(admin, base)
    try:
        imported = import_roll(imported_file, rows, instance, registry_db)
        floor = floor_import(roll, rows, floor_instance, floor_db)
        raw = baseline(roll, scratch_db)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        shutil.rmtree(floor_instance, ignore_errors=True)
        drop_database(admin, registry_db)
        drop_database(admin, floor_db)
        drop_database(admin, scratch_db)
    return Result("postgresql", rows, imported, floor, raw)


def print_machine(admin: sa.Engine | None) -> None:
    import psycopg

    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs ({model}), load average {load}")
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"SQLAlchemy {sa.__version__}, psycopg {psycopg.__version__}"
        + (f", PostgreSQL {server_version(admin)}" if admin is not None else "")
    )


def print_result(r: Result) -> None:
    met = "met" if r.ratio >= RATIO_TARGET else "MISSED"
    print(
        f"{r.database:<10} {r.rows:>9,} rows  "
        f"import {r.imported.seconds:7.1f} s {r.rows / r.imported.seconds:8,.0f} rows/s  "
        f"floor {r.floor.seconds:6.1f} s {r.rows / r.floor.seconds:8,.0f} rows/s "
        f"(its rows prepared beforehand in {r.floor.prepare_seconds:.1f} s, untimed)  "
        f"import/floor {r.ratio:4.2f} ({met}, target ≥ {RATIO_TARGET})",
        flush=True,
    )
    print(
        f"{'':<10} {'':>9}       bare insert into one text table {r.baseline.seconds:6.1f} s "
        f"{r.rows / r.baseline.seconds:9,.0f} rows/s, import/bare {r.bare_ratio:4.2f} (no "
        f"target)  peak RSS import {r.imported.peak_rss_mb:6.0f} MB",
        flush=True,
    )


def print_startup() -> None:
    """An extra line, not part of the issue's ratio: what every import's time includes
    before it reads a row, the ``registry`` command starting (its imports) with nothing
    to do, best of three."""
    seconds = min(run_measured([REGISTRY, "--help"]).seconds for _ in range(3))
    print(f"(extra) registry command start-up, included in each import: {seconds:.2f} s")


def print_memory(results: list[Result]) -> None:
    for database in dict.fromkeys(r.database for r in results):
        mine = sorted((r for r in results if r.database == database), key=lambda r: r.rows)
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        ratio = large.imported.peak_rss_mb / small.imported.peak_rss_mb
        met = "met" if ratio <= MEMORY_TARGET else "MISSED"
        print(
            f"{database:<10} import peak RSS {large.rows:,} / {small.rows:,} rows: "
            f"{large.imported.peak_rss_mb:.0f} / {small.imported.peak_rss_mb:.0f} MB = "
            f"{ratio:.2f} ({met}, target ≤ {MEMORY_TARGET})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--format", choices=["csv", "xlsx"], default="csv", help="the file imported"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated rolls")
    parser.add_argument("--baseline-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--read-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--floor-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline_child(*args.baseline_child)
        return 0
    if args.read_child:
        read_child(*args.read_child)
        return 0
    if args.floor_child:
        floor_child(*args.floor_child)
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    admin = admin_engine(args.postgres_url) if "postgresql" in databases else None
    print_machine(admin)
    print(f"sizes {', '.join(f'{n:,}' for n in sizes)}; {args.format}; {', '.join(databases)}")
    print_startup()
    work = Path(tempfile.mkdtemp(prefix="import_roll_bench_"))
    results: list[Result] = []
    try:
        for rows in sizes:
            roll = work / f"roll-{rows}.csv"
            start = time.perf_counter()
            write_roll(roll, rows)
            print(
                f"roll of {rows:,} rows: {roll.stat().st_size / 2**20:.1f} MB, "
                f"written in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            imported_file = roll
            if args.format == "xlsx":
                imported_file = roll.with_suffix(".xlsx")
                start = time.perf_counter()
                write_xlsx(roll, imported_file)
                print(
                    f"the same as XLSX: {imported_file.stat().st_size / 2**20:.1f} MB, "
                    f"written in {time.perf_counter() - start:.1f} s (the baseline reads the CSV)",
                    flush=True,
                )
                bench_readers(imported_file, rows)
            for database in databases:
                if database == "sqlite":
                    result = bench_sqlite(roll, rows, work, imported_file)
                else:
                    result = bench_postgresql(
                        roll, rows, work, imported_file, admin, args.postgres_url
                    )
                results.append(result)
                print_result(result)
            if not args.keep:
                roll.unlink()
                imported_file.unlink(missing_ok=True)
    except BenchFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"rolls kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        if admin is not None:
            admin.dispose()
    print_memory(results)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
