"""The audit log: every write of the registry calls ``record_event`` in its transaction.

Rows are only ever appended. Data never holds an identity number or a name in clear:
callers pass ids, codes and blind-index references.
"""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import Base, intpk, str64, str200, timestamp, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[intpk]
    occurred_at: Mapped[timestamp]
    actor: Mapped[str64]
    action: Mapped[str64] = mapped_column(index=True)
    subject: Mapped[str200] = mapped_column(index=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)


def actor_name(actor) -> str:
    """A user's name, or the given label (``"system"``, ``"cli"``) for the rest."""
    return getattr(actor, "username", None) or str(actor or "system")


def record_event(
    session: Session, actor, action: str, subject: str, data: dict | None = None
) -> AuditEvent:
    """Append an event to the audit log in the caller's transaction.

    ``subject`` names what changed, as ``"<kind>:<key>"`` (``"institution:9135…"``).
    """
    event = AuditEvent(
        occurred_at=utcnow(),
        actor=actor_name(actor),
        action=action,
        subject=subject,
        data=data or {},
    )
    session.add(event)
    return event
