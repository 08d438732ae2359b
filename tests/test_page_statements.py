"""The list pages people open most run the same number of statements for a list of 2 as
for 20: what bench/pages.py counts at a district's full size, checked here small."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from registry import clock
from registry.institutions.models import Institution
from tests.auth.conftest import sign_in
from tests.conftest import CODES
from tests.test_lists import statements, world  # noqa: F401 (world is a fixture)

PAGES = [
    ("director", "/director/roster", "员工1"),
    ("director", "/director/alerts", "员工1"),
    ("bureau", "/bureau/alerts", "园"),
    ("bureau", "/bans", "拱卫禁"),
    ("bureau", "/rates?district=拱墅区", "园1"),
]


@pytest.mark.parametrize(("role", "path", "shown"), PAGES)
def test_list_pages_run_a_bounded_number_of_statements(
    client,
    session,
    world,  # noqa: F811 (the fixture imported above)
    make_user,
    role,
    path,
    shown,  # noqa: F811 (the fixture)
):
    grow, _bureau = world
    home = session.scalar(sa.select(Institution).where(Institution.code == CODES[0]))
    user, _headers = make_user(role, institution=home if role == "director" else None)
    counts = {}
    with clock.fixed_at(datetime(2026, 3, 1, 2, tzinfo=UTC)):
        assert sign_in(client, user.username).status_code == 302
        for n in (2, 20):
            grow(n)
            with statements(session) as seen:
                page = client.get(path)
            assert page.status_code == 200
            assert shown in page.get_data(as_text=True)
            counts[n] = len(seen)
    assert counts[2] == counts[20], counts
