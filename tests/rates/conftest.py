from datetime import date

import pytest

from registry.db import utcnow
from registry.staffing.models import Employment


@pytest.fixture
def employ(session):
    """Records an employment directly: rates must count staff that hiring, which checks
    qualifications, would not have let in (certificates expire and are revoked later)."""

    def employ(person, institution, role, start=date(2025, 1, 1), end=None):
        session.add(
            Employment(
                person_id=person.id,
                institution_id=institution.id,
                role=role,
                start=start,
                end=end,
                declaration_at=utcnow(),
            )
        )
        session.flush()

    return employ
