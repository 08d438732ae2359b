"""Today and now, in one place: services ask here, tests set them.

The registry serves institutions in China, so "today" is the date in Beijing time
whatever the server's own time zone: a director checking a candidate at 07:00 in
Hangzhou is on the same day as the check's receipt. China keeps no daylight saving
time, so a fixed offset is exact.
"""

from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "UTC+08:00")

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current moment, aware, in UTC."""
    return _source().astimezone(UTC) if _source is not None else datetime.now(UTC)


def today() -> date:
    """Today's date in China."""
    return now().astimezone(CHINA).date()


@contextmanager
def using(source: Callable[[], datetime]):
    """Within the block, ``now()`` asks ``source`` (a test's clock that it moves instead
    of sleeping). For tests and benchmarks; nothing in the registry calls it."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous


def fixed_at(moment: datetime):
    """``using`` a clock that stands still at ``moment`` (aware)."""
    if moment.tzinfo is None:
        raise ValueError("give an aware datetime")
    return using(lambda: moment)
