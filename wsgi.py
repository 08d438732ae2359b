"""The WSGI entry point: ``gunicorn wsgi:app`` (``registry serve`` does this for you)."""

from registry import create_app

app = create_app()
