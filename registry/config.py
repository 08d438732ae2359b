"""Settings from the environment, with the embedded defaults of SPEC §3.

Nothing set: a SQLite file and a key folder inside ./instance. REGISTRY_DATABASE_URL
switches to PostgreSQL (``postgresql+psycopg://…``) with no other change.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from registry.messages import _

ENVIRONMENTS = ("development", "production")
# Questions about people (hiring checks, eligibility questions, lookups, name searches) a
# user of each role may ask per minute and per day, each in a rolling window. A director
# checks candidates; HR and the bureau keep records and search; an inspector verifies on
# site; an administrator manages accounts and seldom asks about anyone.
BUDGETS = {
    "director": (120, 1_000),
    "hr": (120, 3_000),
    "bureau": (120, 3_000),
    "inspector": (60, 1_000),
    "admin": (30, 200),
}
# The day's count of a user's lookups by number that found nobody, beyond which the
# bureau is alerted (once per user and China day).
LOOKUP_MISS_THRESHOLD = 20
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
    # Questions about people a user of each role may ask in any minute and in any day
    # (role → (per minute, per day); 0: no budget of that kind); 429 beyond.
    budgets: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(BUDGETS))
    # Lookups by number that found nobody, per user and China day, beyond which the
    # bureau is alerted.
    lookup_miss_threshold: int = LOOKUP_MISS_THRESHOLD
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

    def budget(self, role: str) -> tuple[int, int]:
        """(per minute, per day) for a user of ``role``; 0 is no budget of that kind."""
        return self.budgets[role]

    def with_budget(self, per_minute: int, per_day: int, *roles: str) -> "Settings":
        """These settings with one budget for ``roles`` (every role when none is named)."""
        changed = {role: (per_minute, per_day) for role in roles or self.budgets}
        return dataclasses.replace(self, budgets={**self.budgets, **changed})


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
        budgets=_budgets(environ),
        lookup_miss_threshold=_positive(
            environ, "REGISTRY_LOOKUP_MISS_THRESHOLD", LOOKUP_MISS_THRESHOLD
        ),
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


def _budgets(environ) -> dict[str, tuple[int, int]]:
    # REGISTRY_LIMIT_PER_MINUTE / _PER_DAY set every role's; REGISTRY_LIMIT_<ROLE>_PER_…
    # one role's, and win.
    for old in ("REGISTRY_CHECK_LIMIT", "REGISTRY_CHECK_WINDOW"):
        if environ.get(old):
            raise ConfigError(
                _(
                    "{name} is no longer read: set REGISTRY_LIMIT_PER_MINUTE and "
                    "REGISTRY_LIMIT_PER_DAY, or REGISTRY_LIMIT_<ROLE>_PER_MINUTE and "
                    "REGISTRY_LIMIT_<ROLE>_PER_DAY",
                    name=old,
                )
            )
    budgets = {}
    for role, (per_minute, per_day) in BUDGETS.items():
        budgets[role] = tuple(
            _count(environ, f"REGISTRY_LIMIT_{role.upper()}_PER_{span}")
            if environ.get(f"REGISTRY_LIMIT_{role.upper()}_PER_{span}")
            else _count(environ, f"REGISTRY_LIMIT_PER_{span}")
            if environ.get(f"REGISTRY_LIMIT_PER_{span}")
            else default
            for span, default in (("MINUTE", per_minute), ("DAY", per_day))
        )
    return budgets


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
