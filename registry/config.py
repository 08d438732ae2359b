"""Settings from the environment, with the embedded defaults of SPEC §3.

Nothing set: a SQLite file and a key folder inside ./instance. REGISTRY_DATABASE_URL
switches to PostgreSQL (``postgresql+psycopg://…``) with no other change.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from registry.messages import _

ENVIRONMENTS = ("development", "production")
DEFAULT_BAN_CONTACT = _("contact the county health bureau where the institution is registered")


class ConfigError(RuntimeError):
    """The settings cannot work; the message says which one and why."""


@dataclass(frozen=True)
class Settings:
    env: str
    instance_path: Path
    database_url: str
    keys_dir: Path
    # Upload limit for the roll import endpoint (413 beyond it).
    max_content_length: int = 512 * 1024 * 1024
    # Every other API request's body, JSON (413 beyond it).
    max_json_bytes: int = 1024 * 1024
    # Hiring checks a user may make in any window of that many seconds (429 beyond).
    check_limit: int = 120
    check_window: int = 60
    # Whom a director is told to contact about a "barred" answer.
    ban_contact: str = DEFAULT_BAN_CONTACT
    # Web sign-in: a session ends after this many minutes without a request, and this
    # many hours after sign-in whatever happens.
    session_idle_minutes: int = 30
    session_lifetime_hours: int = 12
    # Served over HTTPS (behind a proxy that terminates TLS, say): cookies are Secure.
    https: bool = False
    # Proxies in front of the registry whose X-Forwarded-For / -Proto to trust (0: none,
    # the client address is the connection's).
    proxies: int = 0
    # Days an API token lasts unless its creator says otherwise.
    token_days: int = 365
    # A roll uploaded on the web page larger than this (bytes) is imported in the
    # background, the page showing its progress; a smaller one while the page waits.
    import_background_bytes: int = 256 * 1024
    # SQLite: how long (milliseconds) a request waits for the write lock before it is
    # answered 503 with Retry-After.
    sqlite_busy_timeout_ms: int = 10_000

    @property
    def production(self) -> bool:
        return self.env == "production"


def load_settings(environ: dict | None = None) -> Settings:
    """Read the settings from ``environ`` (default: the process environment)."""
    environ = os.environ if environ is None else environ
    env = environ.get("REGISTRY_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(
            _(
                "REGISTRY_ENV must be one of {choices}, not {value!r}",
                choices=", ".join(ENVIRONMENTS),
                value=env,
            )
        )
    instance_path = Path(environ.get("REGISTRY_INSTANCE_PATH") or "instance").resolve()
    database_url = (
        environ.get("REGISTRY_DATABASE_URL") or f"sqlite:///{instance_path / 'registry.db'}"
    )
    keys_dir = Path(environ.get("REGISTRY_KEYS_DIR") or instance_path / "keys").resolve()
    return Settings(
        env=env,
        instance_path=instance_path,
        database_url=database_url,
        keys_dir=keys_dir,
        check_limit=_positive(environ, "REGISTRY_CHECK_LIMIT", 120),
        check_window=_positive(environ, "REGISTRY_CHECK_WINDOW", 60),
        ban_contact=environ.get("REGISTRY_BAN_CONTACT") or DEFAULT_BAN_CONTACT,
        session_idle_minutes=_positive(environ, "REGISTRY_SESSION_IDLE_MINUTES", 30),
        session_lifetime_hours=_positive(environ, "REGISTRY_SESSION_LIFETIME_HOURS", 12),
        https=_flag(environ, "REGISTRY_HTTPS"),
        proxies=_count(environ, "REGISTRY_PROXIES"),
        token_days=_positive(environ, "REGISTRY_TOKEN_DAYS", 365),
        max_json_bytes=_positive(environ, "REGISTRY_MAX_JSON_BYTES", 1024 * 1024),
        import_background_bytes=_count(environ, "REGISTRY_IMPORT_BACKGROUND_BYTES")
        if environ.get("REGISTRY_IMPORT_BACKGROUND_BYTES")
        else 256 * 1024,
        sqlite_busy_timeout_ms=_positive(environ, "REGISTRY_SQLITE_BUSY_TIMEOUT_MS", 10_000),
    )


def _flag(environ, name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(
        _("{name} must be true or false (1/0, yes/no), not {value!r}", name=name, value=raw)
    )


def _count(environ, name: str) -> int:
    raw = environ.get(name)
    if not raw:
        return 0
    if not raw.strip().isdigit():
        raise ConfigError(
            _("{name} must be a whole number of 0 or more, not {value!r}", name=name, value=raw)
        )
    return int(raw)


def _positive(environ, name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            _("{name} must be a whole number of at least 1, not {value!r}", name=name, value=raw)
        )
    return value
