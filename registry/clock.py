"""Today and now, in one place: services ask here, tests set them.

The registry serves institutions in China, so "today" is the date in Beijing time
whatever the server's own time zone: a director checking a candidate at 07:00 in
Hangzhou is on the same day as the check's receipt. China keeps no daylight saving
time, so a fixed offset is exact.
"""

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "UTC+08:00")

_fixed: datetime | None = None


def now() -> datetime:
    """The current moment, aware, in UTC."""
    return _fixed if _fixed is not None else datetime.now(UTC)


def today() -> date:
    """Today's date in China."""
    return now().astimezone(CHINA).date()


@contextmanager
def fixed_at(moment: datetime):
    """Within the block, ``now()`` is ``moment`` (aware) and ``today()`` its date in
    China. For tests and benchmarks; nothing in the registry calls it."""
    global _fixed
    if moment.tzinfo is None:
        raise ValueError("give an aware datetime")
    previous, _fixed = _fixed, moment.astimezone(UTC)
    try:
        yield
    finally:
        _fixed = previous
