import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, enum, intpk, str16, str64, str200, timestamp
from registry.vocabulary import IMPORT_STATUSES


class ImportBatch(Base):
    """One roll file handed in by the HR bureau, with its counts."""

    __tablename__ = "import_batches"
    __table_args__ = (
        # The imports being written: every read of people and certificates asks for them.
        sa.Index(
            "ix_import_batches_running",
            "status",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        ),
    )

    id: Mapped[intpk]
    filename: Mapped[str200]
    sha256: Mapped[str64]
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str64]
    status: Mapped[str] = mapped_column(enum(*IMPORT_STATUSES, name="import_status"))
    dry_run: Mapped[bool] = mapped_column(default=False)
    partial: Mapped[bool] = mapped_column(default=False)
    rows: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # What the import changed (accepted = created + updated) and how the file was read.
    created: Mapped[int] = mapped_column(default=0, server_default="0")
    updated: Mapped[int] = mapped_column(default=0, server_default="0")
    people_created: Mapped[int] = mapped_column(default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(default=0, server_default="0")
    # {"expires_on": 3}: how many certificates each field changed on.
    updated_fields: Mapped[dict | None] = mapped_column(sa.JSON, default=dict)
    header_row: Mapped[int | None]
    sheet: Mapped[str200 | None]
    # The file's headers the registry does not use (序号, 性别 …), and the first rows
    # skipped as no data (合计, 制表人 …).
    ignored_columns: Mapped[list | None] = mapped_column(sa.JSON, default=list)
    skipped_rows: Mapped[list | None] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[created_at]
    finished_at: Mapped[timestamp | None]
    # While ``running`` or ``recording``: where it is written (host and process), when
    # it last wrote a chunk, and who owns it (a random token; recovery takes it over). A
    # batch whose process is gone, or silent for long, was interrupted.
    host: Mapped[str200 | None]
    pid: Mapped[int | None]
    beat_at: Mapped[timestamp | None]
    owner: Mapped[str | None] = mapped_column(sa.String(32))


class ImportRowError(Base):
    """What is wrong with one cell of a roll: row as the spreadsheet shows it, field, header."""

    __tablename__ = "import_errors"

    id: Mapped[intpk]
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("import_batches.id"), index=True)
    row: Mapped[int]
    column: Mapped[str64 | None]
    header: Mapped[str200 | None]
    message: Mapped[str] = mapped_column(sa.Text)


class ImportJob(Base):
    """A roll imported in the background, from the web page or the API: where it runs (host and
    process), how far it got, and the batch it made. A job still ``running`` when its
    server starts again was cut off by a restart and is marked ``failed``; its import
    never reached the merge's commit, so nothing of it was written."""

    __tablename__ = "import_jobs"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    filename: Mapped[str200]
    partial: Mapped[bool] = mapped_column(default=False)
    dry_run: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    status: Mapped[str16]  # running, done, failed
    host: Mapped[str200]
    pid: Mapped[int]
    rows_done: Mapped[int] = mapped_column(default=0)
    permille: Mapped[int] = mapped_column(default=0)  # of the file read, 0 to 1000
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_batches.id"))
    message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[created_at]
    finished_at: Mapped[timestamp | None]

    user = relationship("User", lazy="joined")
