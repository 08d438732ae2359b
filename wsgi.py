"""The WSGI entry point: ``gunicorn wsgi:app`` (``registry serve`` does this for you)."""

import os

from registry import create_app

# What the server writes (uploads, a SQLite database, its WAL) is its own account's alone,
# as under `registry serve`.
os.umask(0o077)

app = create_app()
