"""Write a new migration from the difference between the models and the database:

    python -m migrations "what changed"

The database is the one the registry uses (REGISTRY_DATABASE_URL or the embedded
default) and must be at the latest migration; read the new file before committing it.
"""

import sys

from alembic import command

from migrations import alembic_config
from registry.config import load_settings

if len(sys.argv) != 2:
    sys.exit(__doc__)
command.revision(
    alembic_config(load_settings().database_url), message=sys.argv[1], autogenerate=True
)
