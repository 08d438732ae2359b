"""Phase 3 of a roll import: the batch, the new people, the new and updated certificates
with their history, the errors and one audit event, written so that the registry shows
all of it or none of it, and holds its write lock only briefly.

Imports take turns (``take_turn``): an import's batch is written first, ``running``,
and another import waits while one runs (within a request only as long as a writer waits
for the lock: then 503 ``busy``); what changed in the registry since phase 2 is checked
again. Then the rows go in chunks of ``turns.CHUNK_ROWS``, each its own short
transaction: on SQLite a hiring check waits at most for one chunk, never for a million
rows. The last transaction updates the recorded certificates the roll changes (it grows
with their number, not with the roll's), writes the counts and the audit event, and
finishes the batch: from that commit the whole roll is there at once. Until then its rows
are hidden, and nobody else adds people or certificates; a merge that fails or is cut
off is cleared away (``turns``). A preview or a refused file writes only its batch and
its errors (``write_without_merge``), and takes no turn.
"""

from __future__ import annotations

import os
import time
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from registry.audit import actor_name, record_event
from registry.credentials.models import Certificate, CertificateChange
from registry.db import UTCDateTime, utcnow
from registry.errors import Busy
from registry.messages import _
from registry.people.models import Person, new_public_id_sql

from . import checks, staging, turns
from .models import ImportBatch, ImportRowError
from .rows import RowError
from .staging import BATCH_ROWS, STAGE, STAGE_ERRORS
from .turns import CHUNK_ROWS, NOTHING

# How long an import waits between looks at the batch written before it.
TURN_PAUSE_SECONDS = 0.5
_UPDATABLE = ("kind", "level", "issued_on", "expires_on")


class _Rejected(Exception):
    """The late checks found errors that phase 2 could not see. They are carried out to
    be recorded with the batch, which then writes no row."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} errors under the lock")
        self.errors = errors


def error_rows(job) -> int:
    return job.conn.scalar(
        sa.select(sa.func.count(sa.distinct(STAGE_ERRORS.c.row))).where(
            STAGE_ERRORS.c.row != job.roll.header_row
        )
    )


def has_errors(job) -> bool:
    return job.conn.scalar(sa.select(sa.exists(sa.select(STAGE_ERRORS.c.seq))))


# ------------------------------------------------------------------- the whole phase


def finish(job) -> int:
    """Write the batch: a preview's, a refused file's, or a roll merged. Returns its id."""
    with job.transaction(writes=False):
        failed = has_errors(job)
        counts = classify(job) if job.dry_run else None
    if failed and not job.partial:
        return write_without_merge(job, "rejected", dict(NOTHING))
    if job.dry_run:
        return write_without_merge(job, outcome(failed), counts)
    batch_id = take_turn(job)
    try:
        try:
            with job.transaction(writes=False):  # writes to staging tables only
                late_checks(job)
        except _Rejected as rejected:
            with job.transaction(writes=False):
                staging.add_errors(job, rejected.errors)
            status, counts = "rejected", dict(NOTHING)
        else:
            write_people(job, batch_id)
            write_certificates(job, batch_id)
            status = None  # the last transaction counts what the merge wrote
        write_errors(job, batch_id)
        with job.transaction(writes=True):
            turns.beat(job.conn, batch_id, job.owner)
            if status is None:
                status, counts = outcome(has_errors(job)), update_and_count(job, batch_id)
            return record(job, status, counts, batch_id)
    except turns.TakenOver:
        raise  # recovered by another, which removes what was written
    except BaseException:
        turns.abandon(job.conn, batch_id, job.owner)
        raise


def write_without_merge(job, status: str, counts: dict) -> int:
    """A preview's or refused file's batch: ``recording`` while its errors are written,
    in chunks; no person and no certificate, so it takes no turn."""
    with job.transaction(writes=True):
        batch_id = new_batch(job, "recording")
    try:
        write_errors(job, batch_id)
        with job.transaction(writes=True):
            turns.beat(job.conn, batch_id, job.owner)
            return record(job, status, counts, batch_id)
    except turns.TakenOver:
        raise
    except BaseException:
        turns.abandon(job.conn, batch_id, job.owner)
        raise


def outcome(failed: bool) -> str:
    return "partial" if failed else "accepted"


def take_turn(job) -> int:
    """Start the import's batch, ``running``, once no other merge runs (an interrupted
    one is recovered first). Returns the batch's id. An import waits for as long as it
    takes, but within a request only for ``job.turn_wait`` seconds (then ``Busy``)."""
    deadline = None if job.turn_wait is None else time.monotonic() + job.turn_wait
    while True:
        with job.transaction(writes=True):
            if job.conn.dialect.name == "postgresql":
                job.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(turns.IMPORT_LOCK)))
            others = turns.running(job.conn)
            if not others:
                return new_batch(job, "running")
        cut_off = [r.id for r in others if turns.interrupted(r)]
        for batch_id in cut_off:
            turns.recover(job.conn, batch_id)
        if cut_off:
            continue
        if deadline is not None and time.monotonic() >= deadline:
            raise Busy(
                _(
                    "another roll is being written; send this file again in a minute. "
                    "Nothing was changed"
                ),
                retry_after=turns.BUSY_RETRY_SECONDS,
            )
        time.sleep(TURN_PAUSE_SECONDS)


def new_batch(job, status: str) -> int:
    """The batch, being written (``running`` or ``recording``) by this import."""
    now = utcnow()
    job.owner = turns.new_owner()
    result = job.conn.execute(
        ImportBatch.__table__.insert().values(
            filename=job.filename,
            sha256=job.sha256,
            user_id=getattr(job.actor, "id", None),
            actor=actor_name(job.actor),
            dry_run=job.dry_run,
            partial=job.partial,
            created_at=now,
            status=status,
            rows=job.rows,
            accepted=0,
            unchanged=0,
            rejected=0,
            host=turns.this_host(),
            pid=os.getpid(),
            beat_at=now,
            owner=job.owner,
        )
    )
    return result.inserted_primary_key[0]


def differs(job, c, fields=_UPDATABLE):
    s = STAGE
    return sa.or_(*(c.c[f].is_distinct_from(s.c[f]) for f in fields))


def classify(job) -> dict:
    """What a merge now would count (for a dry run)."""
    s, c = STAGE, Certificate.__table__
    changing = sa.and_(~s.c.dup, c.c.status != "revoked")
    new, updated, valid, people, *fields = job.conn.execute(
        sa.select(
            sa.func.count(sa.case((sa.and_(~s.c.dup, c.c.id.is_(None)), 1))),
            sa.func.count(sa.case((sa.and_(changing, differs(job, c)), 1))),
            sa.func.count(),
            sa.func.count(sa.distinct(sa.case((s.c.person_id.is_(None), s.c.id_index)))),
            *(
                sa.func.count(sa.case((sa.and_(changing, differs(job, c, (f,))), 1)))
                for f in _UPDATABLE
            ),
        )
        .select_from(s.outerjoin(c, sa.and_(c.c.issuer == s.c.issuer, c.c.number == s.c.number)))
        .where(s.c.ok)
    ).one()
    return {
        "accepted": new + updated,
        "unchanged": valid - new - updated,
        "created": new,
        "updated": updated,
        "updated_fields": {f: n for f, n in zip(_UPDATABLE, fields, strict=True) if n},
        "people_created": people,
    }


def record(job, status: str, counts: dict, batch_id: int) -> int:
    """Finish the batch: its status and counts (and how the file was read), and the
    audit event. From this commit, a merged batch's rows are seen."""
    values = {
        "status": status,
        "rows": job.rows,
        "rejected": error_rows(job),
        "finished_at": utcnow(),
        **how_read(job),
        **counts,
    }
    batches = ImportBatch.__table__
    job.conn.execute(batches.update().where(batches.c.id == batch_id).values(**values))
    session = Session(bind=job.conn, join_transaction_mode="rollback_only")
    try:
        record_event(
            session,
            job.actor,
            "import.rejected" if status == "rejected" else "import.accepted",
            f"import:{batch_id}",
            {
                "filename": job.filename,
                "sha256": job.sha256,
                "status": status,
                "dry_run": job.dry_run,
                "partial": job.partial,
                "rows": job.rows,
                "accepted": values["accepted"],
                "unchanged": values["unchanged"],
                "rejected": values["rejected"],
                "created": values["created"],
                "updated": values["updated"],
                "people_created": values["people_created"],
                "skipped": values["skipped"],
            },
        )
    finally:
        session.close()
    return batch_id


def how_read(job) -> dict:
    return {
        "header_row": job.roll.header_row,
        "sheet": job.roll.sheet and job.roll.sheet[:200],
        "ignored_columns": list(job.columns.unknown),
        "skipped": job.skipped_count,
        "skipped_rows": job.skipped,
    }


def _chunks(job, column: sa.Column) -> list[tuple[int, int]]:
    """The ranges (first, last) of ``column`` (a staging table's row number) that make
    chunks of at most ``CHUNK_ROWS`` rows."""
    with job.transaction(writes=False):
        low, high = job.conn.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
    if low is None:
        return []
    return [(first, first + CHUNK_ROWS - 1) for first in range(low, high + 1, CHUNK_ROWS)]


def write_errors(job, batch_id: int) -> None:
    """The staged errors into the batch, in row order, a chunk per transaction."""
    e = STAGE_ERRORS
    for first, last in _chunks(job, e.c.seq):
        with job.transaction(writes=True):
            turns.beat(job.conn, batch_id, job.owner)
            job.conn.execute(
                ImportRowError.__table__.insert().from_select(
                    ["batch_id", "row", "column", "header", "message"],
                    sa.select(sa.literal(batch_id), e.c.row, e.c.column, e.c.header, e.c.message)
                    .where(e.c.seq.between(first, last))
                    .order_by(e.c.seq),
                )
            )


def write_people(job, batch_id: int) -> None:
    """New people, hidden with the batch: the first valid row of each number nobody
    registered, in chunks of staged rows."""
    conn, s, people = job.conn, STAGE, Person.__table__
    now = utcnow()
    columns = ["id_type", "id_index", "id_index_kid", "id_number_enc", "name_enc", "created_at"]
    columns += ["name_index", "name_index_kid", "public_id", "import_batch_id"]
    new_people = sa.select(
        s.c.id_type,
        s.c.id_index,
        sa.literal(job.kid, sa.String(40)),
        s.c.id_number_enc,
        s.c.name_enc,
        sa.literal(now, UTCDateTime()),
        s.c.name_hash,  # the name's index (registry.people.names), under the same key
        sa.literal(job.kid, sa.String(40)),
        new_public_id_sql(conn.dialect.name),
        sa.literal(batch_id),
    ).where(s.c.ok, s.c.person_id.is_(None))
    for first, last in _chunks(job, s.c.row):
        chunk = s.c.row.between(first, last)
        if conn.dialect.name == "sqlite":
            # In row order, the later rows of a number left out by its unique index
            # (written by this chunk or an earlier one): half the time of looking for an
            # earlier row of each. Nobody else adds or re-keys people while it runs.
            insert = (
                sqlite.insert(people)
                .from_select(columns, new_people.where(chunk).order_by(s.c.row))
                .on_conflict_do_nothing(index_elements=[people.c.id_index])
            )
        else:
            earlier = s.alias("e")
            insert = people.insert().from_select(
                columns,
                new_people.where(
                    chunk,
                    ~sa.exists().where(
                        earlier.c.ok,
                        earlier.c.person_id.is_(None),
                        earlier.c.id_index == s.c.id_index,
                        earlier.c.row < s.c.row,
                    ),
                ),
            )
        with job.transaction(writes=True):
            turns.beat(conn, batch_id, job.owner)
            conn.execute(insert)


def write_certificates(job, batch_id: int) -> None:
    """New certificates and their first history entry, hidden with the batch, in
    chunks of staged rows."""
    conn, s = job.conn, STAGE
    people, certificates = Person.__table__, Certificate.__table__
    changes = CertificateChange.__table__
    now, actor = utcnow(), actor_name(job.actor)
    snapshot = (
        sa.func.json_build_object if conn.dialect.name == "postgresql" else sa.func.json_object
    )
    key = sa.literal_column  # keys as SQL text: PostgreSQL cannot type a bound "any"
    for first, last_row in _chunks(job, s.c.row):
        with job.transaction(writes=True):
            turns.beat(conn, batch_id, job.owner)
            last = conn.scalar(sa.select(sa.func.max(certificates.c.id))) or 0
            conn.execute(
                certificates.insert().from_select(
                    [
                        "person_id",
                        "kind",
                        "level",
                        "number",
                        "issuer",
                        "issued_on",
                        "expires_on",
                        "status",
                        "import_batch_id",
                        "created_at",
                    ],
                    sa.select(
                        # The person registered before, or by this batch: joined here
                        # rather than first written into the staging table.
                        sa.func.coalesce(s.c.person_id, people.c.id),
                        s.c.kind,
                        s.c.level,
                        s.c.number,
                        s.c.issuer,
                        s.c.issued_on,
                        s.c.expires_on,
                        sa.literal("valid", sa.String(16)),
                        sa.literal(batch_id),
                        sa.literal(now, UTCDateTime()),
                    )
                    .select_from(
                        s.outerjoin(
                            people,
                            sa.and_(s.c.person_id.is_(None), people.c.id_index == s.c.id_index),
                        )
                    )
                    .where(
                        s.c.row.between(first, last_row), s.c.ok, ~s.c.dup, s.c.cert_id.is_(None)
                    )
                    .order_by(s.c.row),
                )
            )
            conn.execute(
                changes.insert().from_select(
                    [
                        "certificate_id",
                        "action",
                        "changes",
                        "actor",
                        "import_batch_id",
                        "changed_at",
                    ],
                    sa.select(
                        certificates.c.id,
                        sa.literal("issued", sa.String(16)),
                        snapshot(
                            key("'kind'"),
                            certificates.c.kind,
                            key("'level'"),
                            certificates.c.level,
                            key("'number'"),
                            certificates.c.number,
                            key("'issuer'"),
                            certificates.c.issuer,
                            key("'issued_on'"),
                            certificates.c.issued_on,
                            key("'expires_on'"),
                            certificates.c.expires_on,
                        ),
                        sa.literal(actor, sa.String(64)),
                        sa.literal(batch_id),
                        sa.literal(now, UTCDateTime()),
                    )
                    .where(certificates.c.id > last, certificates.c.import_batch_id == batch_id)
                    .order_by(certificates.c.id),
                )
            )


def update_and_count(job, batch_id: int) -> dict:
    """In the last transaction: the recorded certificates the roll changes (a revoked one
    stays as it was), updated with their history, and the batch's counts."""
    conn, s = job.conn, STAGE
    people, certificates = Person.__table__, Certificate.__table__
    changes = CertificateChange.__table__
    now, actor = utcnow(), actor_name(job.actor)
    updated, updated_fields = 0, {}
    query = (
        sa.select(
            certificates.c.id,
            *(certificates.c[f].label(f"old_{f}") for f in _UPDATABLE),
            *(s.c[f] for f in _UPDATABLE),
        )
        .select_from(s.join(certificates, certificates.c.id == s.c.cert_id))
        .where(s.c.ok, ~s.c.dup, certificates.c.status != "revoked", differs(job, certificates))
        .order_by(s.c.row)
    )
    rows = conn.execute(query).all()
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start : start + BATCH_ROWS]
        conn.execute(
            certificates.update()
            .where(certificates.c.id == sa.bindparam("cid"))
            .values(
                **{f: sa.bindparam(f"new_{f}") for f in _UPDATABLE},
                updated_at=sa.bindparam("now", type_=UTCDateTime()),
            ),
            [
                {"cid": r.id, "now": now, **{f"new_{f}": r._mapping[f] for f in _UPDATABLE}}
                for r in chunk
            ],
        )
        changed = [_changed(r) for r in chunk]
        conn.execute(
            changes.insert(),
            [
                {
                    "certificate_id": r.id,
                    "action": "updated",
                    "changes": fields,
                    "actor": actor,
                    "import_batch_id": batch_id,
                    "changed_at": now,
                }
                for r, fields in zip(chunk, changed, strict=True)
            ],
        )
        for fields in changed:
            for name in fields:
                updated_fields[name] = updated_fields.get(name, 0) + 1
        updated += len(chunk)

    def written(table) -> int:
        return conn.scalar(sa.select(sa.func.count()).where(table.c.import_batch_id == batch_id))

    inserted = written(certificates)
    valid = conn.scalar(sa.select(sa.func.count()).where(s.c.ok))
    return {
        "accepted": inserted + updated,
        "unchanged": valid - inserted - updated,
        "created": inserted,
        "updated": updated,
        "updated_fields": {f: updated_fields[f] for f in _UPDATABLE if f in updated_fields},
        "people_created": written(people),
    }


def late_checks(job) -> None:
    """Once the batch runs (nobody else adds people or certificates now): what other
    writers did since the rows were checked. People registered since (by another import,
    say) are found and their names compared; a person found while staging and removed
    since (with an interrupted import) is new again; a certificate number recorded since
    for another person is an error. Without ``partial`` any such error rejects the file
    (``_Rejected``)."""
    s, people = STAGE, Person.__table__
    columns = job.columns
    job.conn.execute(
        s.update()
        .where(
            s.c.person_id.is_not(None),
            ~sa.exists().where(people.c.id == s.c.person_id),
        )
        .values(person_id=None)
    )
    # Named by the record's public id: the row error reaches the clerk.
    target = people.alias("merged_target")
    merged_into = (
        sa.select(target.c.public_id)
        .where(target.c.id == people.c.merged_into_id)
        .scalar_subquery()
        .label("merged_into")
    )
    found = job.conn.execute(
        sa.select(
            s.c.row, s.c.name_hash, people.c.id, people.c.name_enc.label("registered"), merged_into
        )
        .select_from(s.join(people, people.c.id_index == s.c.id_index))
        .where(s.c.ok, s.c.person_id.is_(None))
    ).all()
    errors = [staging.refusal(r, columns, lambda: None) for r in staging.match_people(job, found)]
    # A person found while staging, whose record was merged into another since.
    merged_since = job.conn.execute(
        sa.select(s.c.row, merged_into)
        .select_from(s.join(people, people.c.id == s.c.person_id))
        .where(s.c.ok, people.c.merged_into_id.is_not(None))
    ).all()
    errors += [staging.refusal(r, columns, lambda: None) for r in merged_since]
    errors.sort(key=lambda e: e.row)
    staging.add_errors(job, errors)
    certificates = Certificate.__table__
    job.conn.execute(
        s.update()
        .where(
            s.c.ok,
            ~s.c.dup,
            certificates.c.issuer == s.c.issuer,
            certificates.c.number == s.c.number,
        )
        .values(cert_id=certificates.c.id)
    )
    conflicts = checks.check_recorded_for_another(job, columns)
    if (errors or conflicts) and not job.partial:
        raise _Rejected(errors + conflicts)
    checks.mark_errors(job)


def _json_value(value):
    return value.isoformat() if isinstance(value, date) else value


def _changed(r) -> dict:
    m = r._mapping
    return {
        f: {"from": _json_value(m[f"old_{f}"]), "to": _json_value(m[f])}
        for f in _UPDATABLE
        if m[f"old_{f}"] != m[f]
    }
