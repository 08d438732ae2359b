"""gunicorn serving a bench's app as ``registry serve`` serves the registry: the same
worker class, logger and limits (``registry.serving``), on 127.0.0.1."""

from registry import serving


def serve(load, port: int, workers: int, access_log: str | None = None) -> None:
    """Run gunicorn on ``load()``'s app until stopped; ``access_log`` as gunicorn's
    (``-`` is stdout, None none)."""
    from gunicorn.app.base import BaseApplication

    settings = serving.settings(
        bind=f"127.0.0.1:{port}", workers=workers, timeout=30, access_log=access_log, error_log="-"
    )

    class Server(BaseApplication):
        def load_config(self):
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self):
            return load()

    Server().run()
