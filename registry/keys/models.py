from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, UTCDateTime, utcnow


class KeyCheck(Base):
    """The one row holding the check value of every key the database was written with
    (``registry.keys.matching``): keyed values of a fixed label, which say whether a key
    is the same and nothing else about it."""

    __tablename__ = "key_check"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # {"blind_index": {kid: value}, "encryption": {...}, "receipts": {...}}
    values: Mapped[dict] = mapped_column(sa.JSON())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
