"""A district's rows written straight into a scratch registry, for the benches that need
the registry full (``rescreen.py``, ``pages.py``): institutions, people, certificates,
employments in post, bans and alerts, in the registry's own tables at the latest
migration, through the driver's fastest path (COPY on PostgreSQL, executemany on
SQLite). Not the registry's services: a million hires through them would take hours.

Blind indexes are computed with the instance's keyring, as the services would, so that
the registry finds the people, bans and their matches by them. Identity numbers and
names are encrypted for real when ``encrypt`` is set (the pages decrypt names); without
it every row shares one real ciphertext (the re-screening never decrypts).
"""

import os
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from registry import crypto
from registry.alerts.models import Alert
from registry.bans.models import Ban
from registry.credentials.models import Certificate
from registry.db import utcnow
from registry.identity import gb11643_check_char, parse_identity, uscc_check_char
from registry.institutions.models import Institution, InstitutionClass
from registry.people.models import Person, new_public_id
from registry.people.names import LABEL as NAME_LABEL
from registry.people.names import name_key
from registry.people.services import NAME_CONTEXT, NUMBER_CONTEXT
from registry.staffing.models import Employment

BATCH = 20_000
STAFF_AREA = "330106"  # every person of the district has this area code ...
UNMATCHED_AREA = "110105"  # ... and the bans of nobody in the district this one
FIRST_BIRTH = date(1960, 1, 1)
DISTRICT = "西湖区"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
GIVEN = "秀英华玉兰桂芳红梅丽敏静婷燕霞娟艳雪琳晓慧佳欣怡雨婷倩颖洁蕾晶莉萍"
ROLES = ("caregiver", "care_assistant", "caregiver", "nurse", "cook")
KINDS = ("childcare_worker", "health_certificate")


def resident_id(area: str, i: int) -> str:
    """The ``i``-th valid resident ID number of ``area``: 1000 per birth day from 1960."""
    born = FIRST_BIRTH + timedelta(days=i // 1000)
    first17 = f"{area}{born:%Y%m%d}{i % 1000:03d}"
    return first17 + gb11643_check_char(first17)


def institution_code(i: int) -> str:
    """The ``i``-th valid unified social credit code (check character included)."""
    first17 = f"91330106M{i:07d}A"
    return first17 + uscc_check_char(first17)


def person_name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)] + GIVEN[i % len(GIVEN)]


@contextmanager
def scratch_database(kind: str, instance: Path, postgres_url: str):
    """The URL of an empty database: a file in ``instance``, or a PostgreSQL database
    created beside ``postgres_url`` and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{instance / 'registry.db'}"
        return
    base = make_url(postgres_url)
    name = f"{base.database}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def scratch_instance(kind: str, postgres_url: str, prefix: str, *, budgets: bool = True):
    """A fresh instance folder with its keys, and an empty database; yields the folder,
    the database's URL and the environment of a registry on them. ``budgets=False``
    turns the per-user budgets off (a bench's clients share one account)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        instance = Path(folder)
        crypto.generate_missing_keys(instance / "keys")
        with scratch_database(kind, instance, postgres_url) as url:
            env = os.environ | {
                "REGISTRY_INSTANCE_PATH": str(instance),
                "REGISTRY_DATABASE_URL": url,
                "REGISTRY_KEYS_DIR": str(instance / "keys"),
            }
            if not budgets:
                env |= {"REGISTRY_LIMIT_PER_MINUTE": "0", "REGISTRY_LIMIT_PER_DAY": "0"}
            yield instance, url, env


def insert(engine: sa.Engine, table: sa.Table, rows: list[dict]) -> None:
    """Rows (dicts with the same keys) into ``table``: COPY, or executemany."""
    if not rows:
        return
    columns = list(rows[0])
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                names = ", ".join(f'"{c}"' for c in columns)
                with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
            raw.commit()
        finally:
            raw.close()
    else:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)


def in_batches(engine: sa.Engine, table: sa.Table, count: int, make_row) -> None:
    for start in range(0, count, BATCH):
        insert(
            engine, table, [make_row(i) for i in range(start + 1, min(count, start + BATCH) + 1)]
        )


def move_sequences(engine: sa.Engine, tables) -> None:
    """Ids were given: PostgreSQL's sequences move past them, then statistics are
    gathered, as autovacuum would within a minute of such a load."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"coalesce(max(id), 1)) FROM {table.name}"
            )
        conn.exec_driver_sql("VACUUM ANALYZE")


@dataclass
class District:
    institutions: int
    staff: int  # people, each with one employment in post at institution i % institutions
    certificates: int  # spread over the staff in turn
    bans: int
    barred_every: int  # staff member i is barred when i % barred_every == 0 (0: nobody)
    alerts: int  # expiring-certificate alerts, on the first certificates


def fill(engine: sa.Engine, keyring, district: District, today: date, *, encrypt: bool) -> dict:
    """Write ``district``; returns the ids a bench needs (the barred people's ids)."""
    index = keyring.indexer(keyring.active_blind_kid)
    kid = keyring.active_blind_kid
    now = utcnow()
    seal_number = keyring.encrypter(NUMBER_CONTEXT)
    seal_name = keyring.encrypter(NAME_CONTEXT)
    shared_number, shared_name = seal_number("0" * 18), seal_name("某")
    n_inst = district.institutions

    def institution(i):
        return {
            "id": i,
            "code": institution_code(i),
            "name": f"西湖区第{i}托育园",
            "district": DISTRICT,
            "meals_on_site": i % 2 == 0,
            "created_at": now,
        }

    def institution_class(i):
        return {"id": i, "institution_id": i, "type": "toddler", "children": 60}

    def person(i):
        identity = parse_identity(resident_id(STAFF_AREA, i))
        name = person_name(i)
        return {
            "id": i,
            # Written here: PostgreSQL's COPY applies no Python-side default.
            "public_id": new_public_id(),
            "id_type": identity.id_type,
            "id_index": index(identity.canonical),
            "id_index_kid": kid,
            "id_number_enc": seal_number(identity.number) if encrypt else shared_number,
            "name_enc": seal_name(name) if encrypt else shared_name,
            "name_index": index(NAME_LABEL + name_key(name)),
            "name_index_kid": kid,
            "created_at": now,
        }

    def employment(i):
        return {
            "id": i,
            "person_id": i,
            "institution_id": (i - 1) % n_inst + 1,
            "role": ROLES[i % len(ROLES)],
            "full_time": True,
            "start": date(2020, 1, 1) + timedelta(days=i % 1500),
            "declaration_at": now,
            "created_at": now,
        }

    def certificate(i):
        kind = KINDS[i % len(KINDS)]
        issued = today - timedelta(days=30 + i % 300)
        health = kind == "health_certificate"
        return {
            "id": i,
            "person_id": (i - 1) % district.staff + 1,
            "kind": kind,
            "level": None if health else "四级",
            "number": f"C{i:09d}",
            "issuer": "杭州市西湖区疾病预防控制中心" if health else "杭州市职业技能鉴定中心",
            "issued_on": issued,
            "expires_on": issued + timedelta(days=364) if health else None,
            "status": "valid",
            "created_at": now,
        }

    barred = []
    matched = [
        i
        for i in range(1, district.staff + 1)
        if district.barred_every and i % district.barred_every == 0
    ]
    matched = matched[: district.bans]

    def ban(i):
        if i <= len(matched):
            number = resident_id(STAFF_AREA, matched[i - 1])
        else:
            number = resident_id(UNMATCHED_AREA, i)
        identity = parse_identity(number)
        return {
            "id": i,
            "id_type": identity.id_type,
            "id_index": index(identity.canonical),
            "id_index_kid": kid,
            "id_number_enc": shared_number,
            "name_enc": shared_name,
            "category": "sexual_assault",
            "authority": "杭州市西湖区卫生健康局",
            "decision_no": f"西卫禁〔2025〕{i}号",
            "effective_on": date(2020, 1, 1) + timedelta(days=i % 1500),
            "until": None,
            "status": "active",
            "created_at": now,
        }

    def alert(i):
        # Expiring-certificate alerts on health certificates (even ids), at the
        # institution that employs the certificate's holder.
        certificate_id = 2 * i
        person_id = (certificate_id - 1) % district.staff + 1
        return {
            "id": i,
            "kind": "certificate_expiring",
            "certificate_id": certificate_id,
            "employment_id": person_id,
            "institution_id": (person_id - 1) % n_inst + 1,
            "raised_at": now,
        }

    steps = [
        (Institution.__table__, n_inst, institution),
        (InstitutionClass.__table__, n_inst, institution_class),
        (Person.__table__, district.staff, person),
        (Employment.__table__, district.staff, employment),
        (Certificate.__table__, district.certificates, certificate),
        (Ban.__table__, district.bans, ban),
        (Alert.__table__, min(district.alerts, district.certificates // 2), alert),
    ]
    for table, count, make_row in steps:
        in_batches(engine, table, count, make_row)
    move_sequences(engine, [table for table, _count, _make in steps])
    barred = matched
    return {"barred_people": barred}
