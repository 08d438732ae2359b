"""audit events chained by hash

Revision ID: 7f79c5c2ab4f
Revises: 0d8fa94d9422
Create Date: 2026-11-24 01:35:12.288284
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision: str = "7f79c5c2ab4f"
down_revision: str | None = "0d8fa94d9422"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = bytes(32)
BATCH = 1000

events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("prev_hash", sa.LargeBinary()),
    sa.column("hash", sa.LargeBinary()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.LargeBinary(length=32), nullable=True))
    _chain_existing_events(op.get_bind())
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_prev_hash"), ["prev_hash"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_prev_hash"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")


def _chain_existing_events(connection) -> None:
    """Chain the events already recorded, in id order, as record_event would have."""
    previous_id, previous_hash = 0, GENESIS
    link = (
        events.update()
        .where(events.c.id == sa.bindparam("event_id"))
        .values(prev_hash=sa.bindparam("new_prev_hash"), hash=sa.bindparam("new_hash"))
    )
    while True:
        rows = connection.execute(
            sa.select(events).where(events.c.id > previous_id).order_by(events.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        links = []
        for row in rows:
            content = _canonical_form(
                row.occurred_at, row.actor, row.action, row.subject, row.data, previous_hash
            )
            digest = hashlib.sha256(content).digest()
            links.append({"event_id": row.id, "new_prev_hash": previous_hash, "new_hash": digest})
            previous_id, previous_hash = row.id, digest
        connection.execute(link, links)


def _canonical_form(occurred_at, actor, action, subject, data, prev_hash) -> bytes:
    # registry.audit.canonical_form as of this revision, copied: a migration must keep
    # doing what it did when it was written, whatever the code becomes.
    if occurred_at.tzinfo is None:  # SQLite keeps UTC without a zone
        occurred_at = occurred_at.replace(tzinfo=UTC)
    content = {
        "occurred_at": occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "data": data,
        "prev_hash": None if prev_hash is None else prev_hash.hex(),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")
