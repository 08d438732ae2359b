from alembic import context
from sqlalchemy.pool import NullPool

import registry.models  # noqa: F401  (fills Base.metadata)
from registry.db import Base, UTCDateTime, make_engine

config = context.config


def render_item(type_, obj, autogen_context):
    # Migrations stay plain SQLAlchemy: the UTC handling is the application's business.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection) -> None:
    context.configure(
        connection=connection,
        # Tests may hand in a changed copy of the metadata to see that drift is found.
        target_metadata=config.attributes.get("target_metadata", Base.metadata),
        # SQLite alters tables by copying them; batch mode writes migrations that way.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = config.attributes["database_url"]
    engine = make_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # A batch migration drops and re-creates tables; with foreign keys enforced
            # that would cascade or fail. The pragma only works outside a transaction.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
        run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_online()
