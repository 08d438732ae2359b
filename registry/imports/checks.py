"""Phase 2 of a roll import: the staged rows checked against each other in SQL (one
certificate given twice with different data, one number under two names, over every row
that can be read, refused or not) and against the certificates recorded.
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from registry.credentials.models import Certificate

from . import staging
from .rows import RowError
from .staging import _STAGE_INDEXES, STAGE, STAGE_ERRORS, STAGE_FAILED
from .turns import finished

_FIELD_LABELS = {
    "identity": ("证件号码", "identity number"),
    "name": ("姓名", "name"),
    "kind": ("证书名称", "certificate name"),
    "level": ("等级", "level"),
    "issued_on": ("发证日期", "issue date"),
    "expires_on": ("有效期至", "expiry date"),
}


def room_to_sort(conn) -> None:
    """PostgreSQL: joins, sorts and groupings of a million staged rows in memory rather
    than on disk (the default 4 MB spilled them), for the current transaction only (each
    of an import's transactions begins with it)."""
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


def check(job, columns) -> None:
    for statement in _STAGE_INDEXES:
        job.conn.exec_driver_sql(statement)
    if job.conn.dialect.name == "postgresql":
        # Autovacuum never analyzes temporary tables: without this the planner guesses
        # the staged rows' count and picks nested loops over a million rows.
        job.conn.exec_driver_sql(f"ANALYZE {STAGE.name}")
    check_same_certificate(job, columns)
    check_same_number(job, columns)
    mark_errors(job)
    check_recorded_for_another(job, columns)
    mark_errors(job)
    mark_repeats(job)


def check_same_certificate(job, columns) -> None:
    """The same certificate (issuer + number) on rows that say different things, or
    on a valid row and a row refused for another reason: which row is right cannot be
    told, so every row of the certificate gets an error naming the others (identical
    repeats are no conflict: ``mark_repeats`` merges them once)."""
    s, f, first = STAGE, STAGE_FAILED, STAGE.alias("f")
    compared = ("id_index", "name_hash", "kind", "level", "issued_on", "expires_on")
    groups = (
        sa.select(s.c.issuer, s.c.number, sa.func.min(s.c.row).label("first"))
        .group_by(s.c.issuer, s.c.number)
        .having(sa.func.count() > 1)
        .subquery()
    )
    differs = sa.or_(*(s.c[c].is_distinct_from(first.c[c]) for c in compared))
    conflicting = sa.union(
        sa.select(s.c.issuer, s.c.number)
        .select_from(
            s.join(
                groups, sa.and_(s.c.issuer == groups.c.issuer, s.c.number == groups.c.number)
            ).join(first, first.c.row == groups.c.first)
        )
        .where(differs),
        sa.select(f.c.issuer, f.c.number).select_from(
            f.join(s, sa.and_(s.c.issuer == f.c.issuer, s.c.number == f.c.number))
        ),
    ).subquery()
    in_conflict = (conflicting.c.issuer, conflicting.c.number)
    rows = sa.union_all(
        sa.select(s.c.row, s.c.issuer, s.c.number, sa.true().label("ok"), *s.c[compared]).where(
            sa.tuple_(s.c.issuer, s.c.number).in_(sa.select(*in_conflict))
        ),
        sa.select(
            f.c.row,
            f.c.issuer,
            f.c.number,
            sa.false().label("ok"),
            *(sa.null().label(c) for c in compared),
        ).where(sa.tuple_(f.c.issuer, f.c.number).in_(sa.select(*in_conflict))),
    ).subquery()
    query = sa.select(rows).order_by(rows.c.issuer, rows.c.number, rows.c.row)
    header = columns.header("certificate_no")

    def errors():
        found = job.conn.execute(query).all()
        for _, group in itertools.groupby(found, key=lambda r: (r.issuer, r.number)):
            group = list(group)
            for r in group:
                data = tuple(r._mapping[c] for c in compared)
                others = [
                    o
                    for o in group
                    if o.row != r.row
                    and (not (r.ok and o.ok) or tuple(o._mapping[c] for c in compared) != data)
                ]
                if others:
                    yield _certificate_conflict(r, others, compared, header)

    staging.add_errors(job, sorted(errors(), key=lambda e: e.row))


def check_same_number(job, columns) -> None:
    """One identity number under two names, over every row whose number and name can
    be read, refused or not: every row of the number gets an error naming the rows
    with the other name, so that neither name reaches the registry."""
    s, f, f2 = STAGE, STAGE_FAILED, STAGE_FAILED.alias("f2")
    conflicting = sa.union(
        sa.select(s.c.id_index)
        .group_by(s.c.id_index)
        .having(sa.func.count(sa.distinct(s.c.name_hash)) > 1),
        sa.select(f.c.id_index)
        .select_from(f.join(s, s.c.id_index == f.c.id_index))
        .where(s.c.name_hash != f.c.name_hash),
        sa.select(f.c.id_index)
        .select_from(f.join(f2, f2.c.id_index == f.c.id_index))
        .where(f2.c.name_hash != f.c.name_hash),
    ).subquery()
    rows = sa.union_all(
        sa.select(s.c.row, s.c.id_index, s.c.name_hash).where(
            s.c.id_index.in_(sa.select(conflicting.c.id_index))
        ),
        sa.select(f.c.row, f.c.id_index, f.c.name_hash).where(
            f.c.id_index.in_(sa.select(conflicting.c.id_index))
        ),
    ).subquery()
    query = sa.select(rows).order_by(rows.c.id_index, rows.c.row)
    header = columns.header("id_number")

    def errors():
        found = job.conn.execute(query).all()
        for _, group in itertools.groupby(found, key=lambda r: r.id_index):
            group = list(group)
            for r in group:
                others = [o.row for o in group if o.name_hash != r.name_hash]
                zh, en = _rows_shown(others)
                yield RowError(
                    r.row,
                    "id_number",
                    header,
                    f"该证件号码在第{zh}行对应另一个姓名，这些行都未导入；多为号码录入错误，"
                    "请核对号码和姓名"
                    f"（this identity number appears in {en} with another name, and none of "
                    "these rows is imported; usually a typo in the number: check the number "
                    "and the name）",
                )

    staging.add_errors(job, sorted(errors(), key=lambda e: e.row))


def check_recorded_for_another(job, columns) -> list[RowError]:
    """A certificate number of the issuer already recorded for another person.
    Returns the errors it staged."""
    s, c = STAGE, Certificate.__table__
    query = (
        sa.select(s.c.row, s.c.issuer, s.c.number)
        .select_from(s.join(c, sa.and_(c.c.issuer == s.c.issuer, c.c.number == s.c.number)))
        .where(
            s.c.ok,
            sa.or_(s.c.person_id.is_(None), c.c.person_id != s.c.person_id),
            finished(c.c.import_batch_id),  # not another roll's, hidden while it is merged
        )
        .order_by(s.c.row)
    )
    header = columns.header("certificate_no")
    errors = [
        RowError(
            r.row,
            "certificate_no",
            header,
            f"证书编号{r.number}（{r.issuer}）已登记在另一人名下；请核对证书编号和证件号码"
            f"（certificate {r.number} of {r.issuer} is already recorded for another person; "
            "check the certificate number and the identity number）",
        )
        for r in job.conn.execute(query)
    ]
    staging.add_errors(job, errors)
    return errors


def mark_errors(job) -> None:
    job.conn.execute(
        STAGE.update()
        .where(STAGE.c.ok, STAGE.c.row.in_(sa.select(STAGE_ERRORS.c.row)))
        .values(ok=False)
    )


def mark_repeats(job) -> None:
    """Rows identical to an earlier valid row of the same certificate: merged once."""
    earlier = STAGE.alias("e")
    repeated = (
        sa.select(STAGE.c.issuer, STAGE.c.number)
        .group_by(STAGE.c.issuer, STAGE.c.number)
        .having(sa.func.count() > 1)
    )
    job.conn.execute(
        STAGE.update()
        .where(
            STAGE.c.ok,
            sa.tuple_(STAGE.c.issuer, STAGE.c.number).in_(repeated),
            sa.exists().where(
                earlier.c.ok,
                earlier.c.issuer == STAGE.c.issuer,
                earlier.c.number == STAGE.c.number,
                earlier.c.row < STAGE.c.row,
            ),
        )
        .values(dup=True)
    )


def _rows_shown(rows: list[int], most: int = 5) -> tuple[str, str]:
    """Other rows named in a message: '5、8行' style Chinese and 'rows 5, 8' English."""
    shown = [str(r) for r in rows[:most]]
    more_zh = f"等{len(rows)}" if len(rows) > most else ""
    more_en = f" and {len(rows) - most} more" if len(rows) > most else ""
    zh = "、".join(shown) + more_zh
    en = ("row " if len(rows) == 1 else "rows ") + ", ".join(shown) + more_en
    return zh, en


def _certificate_conflict(r, others, compared, header) -> RowError:
    zh_rows, en_rows = _rows_shown([o.row for o in others])
    valid = [o for o in others if o.ok] if r.ok else []
    if valid:
        names = ("identity", "name", "kind", "level", "issued_on", "expires_on")
        fields = [
            name
            for name, c in zip(names, compared, strict=True)
            if r._mapping[c] != valid[0]._mapping[c]
        ]
        zh = "、".join(_FIELD_LABELS[f][0] for f in fields)
        en = ", ".join(_FIELD_LABELS[f][1] for f in fields)
        said_zh, said_en = f"但{zh}不同", f"with a different {en}"
    else:
        said_zh = "但其中有的行有错误，无法确认哪一行正确"
        said_en = "and a row of it has errors, so which row is right cannot be told"
    return RowError(
        r.row,
        "certificate_no",
        header,
        f"证书编号{r.number}（{r.issuer}）在第{zh_rows}行也出现，{said_zh}；这些行都未导入，"
        "同一证书只能出现一次，或各行内容完全相同"
        f"（certificate {r.number} of {r.issuer} also appears in {en_rows} {said_en}; none of "
        "these rows is imported: a certificate may appear once, or again with identical data）",
    )
