"""The one place that says what time it is.

Services ask ``now()`` instead of reading the system clock, so that a test can move
time (``app.extensions["registry.clock"] = lambda: …``) rather than sleep.
"""

from datetime import datetime

from flask import current_app, has_app_context

from registry.db import utcnow


def now() -> datetime:
    """The current time, aware UTC: the app's clock if one is set, else the system's."""
    if has_app_context():
        clock = current_app.extensions.get("registry.clock")
        if clock is not None:
            return clock()
    return utcnow()
