from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, aliased, mapped_column, relationship

from registry.db import (
    Base,
    created_at,
    day,
    enum,
    index_where_set,
    intpk,
    str16,
    str64,
    str200,
    timestamp,
)
from registry.vocabulary import CERTIFICATE_KINDS, CERTIFICATE_STATUSES


class Certificate(Base):
    """A certificate as issued. A renewal is a new row (``replaces_id``); a revocation
    changes ``status`` and keeps the row; every change is in ``certificate_changes``."""

    __tablename__ = "certificates"
    __table_args__ = (
        # The key of roll imports: an issuer never reuses a certificate number.
        sa.UniqueConstraint("issuer", "number"),
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on >= issued_on", name="expires_after_issue"
        ),
        index_where_set("certificates", "replaces_id"),
    )

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(enum(*CERTIFICATE_KINDS, name="certificate_kind"))
    level: Mapped[str16 | None]
    number: Mapped[str64]
    issuer: Mapped[str200]
    issued_on: Mapped[day]
    expires_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(
        enum(*CERTIFICATE_STATUSES, name="certificate_status"), default="valid"
    )
    revoked_on: Mapped[date | None]
    revoked_reason: Mapped[str200 | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    replaces_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
    import_batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_batches.id"), index=True
    )
    created_at: Mapped[created_at]
    updated_at: Mapped[timestamp | None]

    person: Mapped["Person"] = relationship()  # noqa: F821 (registry.people.models)
    changes: Mapped[list["CertificateChange"]] = relationship(
        back_populates="certificate", order_by="CertificateChange.id"
    )

    @classmethod
    def valid_on(cls, day: date):
        """The condition "valid on ``day``" in SQL, as ``services.state_on`` decides it:
        issued on or before the day, not expired before it, not revoked on or before it."""
        return sa.and_(
            cls.issued_on <= day,
            sa.or_(cls.expires_on.is_(None), cls.expires_on >= day),
            sa.or_(cls.status != "revoked", cls.revoked_on > day),
        )

    @classmethod
    def not_superseded(cls):
        """The condition "no later valid certificate of the same kind" in SQL: a
        certificate followed by a renewal (or the next health certificate) needs
        nothing doing about its expiry."""
        newer = aliased(cls)
        return ~sa.exists().where(
            newer.person_id == cls.person_id,
            newer.kind == cls.kind,
            newer.status == "valid",
            sa.or_(newer.expires_on.is_(None), newer.expires_on > cls.expires_on),
        )


class CertificateChange(Base):
    """One entry of a certificate's history: what changed, when, by whom or which import."""

    __tablename__ = "certificate_changes"

    id: Mapped[intpk]
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    action: Mapped[str] = mapped_column(
        enum("issued", "updated", "revoked", "renewed", name="certificate_action")
    )
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    actor: Mapped[str64]
    import_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_batches.id"))
    changed_at: Mapped[timestamp]

    certificate: Mapped[Certificate] = relationship(back_populates="changes")
