"""Every list of the API answers a page at a time (`page`, `page_size`, the
`X-Pagination` header), with the same number of statements for 2 items as for 20."""

import json
from contextlib import contextmanager
from datetime import date

import pytest
import sqlalchemy as sa

from registry.bans.models import BanCheck
from registry.crypto import current_keyring
from registry.db import utcnow
from registry.identity import parse_identity, uscc_check_char
from registry.imports.models import ImportBatch
from registry.paging import MAX_PAGE_SIZE
from registry.staffing.models import Employment
from tests.conftest import CODES, id_number

AS_OF = date(2026, 3, 1)
CHECKED = id_number(999)


@contextmanager
def statements(session):
    """The statements run meanwhile, on the test's connection (requests share it)."""
    seen = []
    engine = session.get_bind().engine

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _code(i: int) -> str:
    first17 = f"52330100MA{i:07d}"
    return first17 + uscc_check_char(first17)


@pytest.fixture
def world(app, session, client, make_institution, make_person, make_user):
    """Adds items to every list, up to ``n`` of each: institutions of 拱墅区 spelled
    two ways, people in post at the first with a certificate expiring soon, bans on
    them (so alerts), imports, checks of one number."""
    home = make_institution(CODES[0], name="拱墅区第一托育园", district="杭州市拱墅区")
    _, bureau = make_user("bureau")
    made = [0]

    def grow(n):
        for i in range(made[0], n):
            make_institution(
                _code(i), name=f"园{i}", district="拱墅区" if i % 2 else "杭州市 拱墅区"
            )
            person = make_person(
                i + 1,
                name=f"员工{i}",
                certificates=[("childcare_worker", date(2025, 1, 1), date(2026, 3, 20))],
            )
            session.add(
                Employment(
                    person_id=person.id,
                    institution_id=home.id,
                    role="caregiver",
                    start=date(2025, 1, 1),
                    declaration_at=utcnow(),
                )
            )
            session.flush()
            ban = {
                "id_number": id_number(i + 1),
                "name": f"员工{i}",
                "category": "other",
                "authority": "拱墅区卫生健康局",
                "decision_no": f"拱卫禁〔2026〕{i}号",
                "effective_on": "2026-01-01",
            }
            assert client.post("/api/v1/bans", json=ban, headers=bureau).status_code == 201
            session.add(
                ImportBatch(
                    filename=f"名册{i}.xlsx",
                    sha256="0" * 64,
                    actor="hr",
                    status="accepted",
                    rows=i,
                    accepted=i,
                )
            )
            with app.app_context():
                index = current_keyring().blind_index(parse_identity(CHECKED).canonical)
                kid = current_keyring().active_blind_kid
            session.add(
                BanCheck(
                    id_index=index,
                    id_index_kid=kid,
                    result="clear",
                    checked_at=utcnow(),
                )
            )
            session.flush()
        made[0] = n

    return grow, bureau


LISTS = [
    ("GET", "/api/v1/institutions", {"district": "拱墅区"}),
    ("GET", "/api/v1/bans", {"status": "active"}),
    ("GET", "/api/v1/imports", {}),
    ("GET", "/api/v1/alerts", {"acknowledged": "false"}),
    ("GET", f"/api/v1/institutions/{CODES[0]}/employments", {"as_of": AS_OF}),
    ("GET", f"/api/v1/institutions/{CODES[0]}/expiring", {"as_of": AS_OF, "within": 30}),
    ("GET", "/api/v1/expiring", {"as_of": AS_OF, "within": 30, "district": "拱墅区"}),
    ("POST", "/api/v1/ban-checks/for-person", {}),
]


def _get(client, headers, method, url, query, **paging):
    if method == "POST":
        body = {"id_number": CHECKED}
        return client.post(url, json=body, headers=headers, query_string=paging)
    return client.get(url, headers=headers, query_string={**query, **paging})


@pytest.mark.parametrize(("method", "url", "query"), LISTS)
def test_every_list_pages_with_a_bounded_number_of_statements(
    client, session, world, method, url, query
):
    grow, bureau = world
    counts = {}
    for n in (2, 20):
        grow(n)
        with statements(session) as seen:
            response = _get(client, bureau, method, url, query)
        assert response.status_code == 200, response.get_json()
        extra = 1 if url == "/api/v1/institutions" else 0  # the institution the others work at
        assert len(response.get_json()) == n + extra
        assert json.loads(response.headers["X-Pagination"])["total"] == n + extra
        counts[n] = len(seen)
    assert counts[2] == counts[20]

    page = _get(client, bureau, method, url, query, page=2, page_size=3)
    assert page.status_code == 200 and len(page.get_json()) == 3
    pagination = json.loads(page.headers["X-Pagination"])
    assert (pagination["page"], pagination["total_pages"], pagination["previous_page"]) == (
        2,
        7,
        1,
    )
    first = _get(client, bureau, method, url, query, page=1, page_size=6).get_json()
    assert first[3:6] == page.get_json()  # the same order, page after page

    too_big = _get(client, bureau, method, url, query, page_size=MAX_PAGE_SIZE + 1)
    assert too_big.status_code == 422 and "page_size" in too_big.get_json()["errors"]


def test_the_district_of_a_list_is_matched_as_rates_match_it(
    client, session, make_institution, make_user
):
    make_institution(CODES[0], name="甲", district="杭州市拱墅区")
    make_institution(CODES[1], name="乙", district="拱墅区")
    make_institution(CODES[2], name="丙", district="西湖区")
    _, bureau = make_user("bureau")
    for spelling in ("拱墅区", "杭州市拱墅区", "杭州市 拱墅区"):
        response = client.get(f"/api/v1/institutions?district={spelling}", headers=bureau)
        assert sorted(i["name"] for i in response.get_json()) == ["乙", "甲"]
    unknown = client.get("/api/v1/institutions?district=火星区", headers=bureau)
    assert unknown.status_code == 422 and "district" in unknown.get_json()["errors"]


def test_a_director_lists_only_the_own_institution(client, make_institution, make_user):
    own = make_institution(CODES[0], name="甲")
    make_institution(CODES[1], name="乙")
    _, director = make_user("director", own)
    assert [i["code"] for i in client.get("/api/v1/institutions", headers=director).get_json()] == [
        CODES[0]
    ]


def test_the_blacklist_by_status_with_masked_numbers(client, make_user):
    _, bureau = make_user("bureau")
    ids = []
    for i in (1, 2):
        ban = {
            "id_number": id_number(i),
            "name": f"张{i}",
            "category": "abuse",
            "authority": "西湖区卫生健康局",
            "decision_no": f"西卫禁〔2026〕{i}号",
            "effective_on": f"2026-01-0{i}",
        }
        ids.append(client.post("/api/v1/bans", json=ban, headers=bureau).get_json()["id"])
    revoked = client.post(
        f"/api/v1/bans/{ids[0]}/revoke", json={"reason": "复议撤销"}, headers=bureau
    )
    assert revoked.status_code == 200
    everything = client.get("/api/v1/bans", headers=bureau).get_json()
    assert [(b["name"], b["status"]) for b in everything] == [("张2", "active"), ("张1", "revoked")]
    assert all(id_number(i)[6:14] not in json.dumps(everything) for i in (1, 2))
    assert everything[0]["id_number_masked"].endswith(id_number(2)[-4:])
    active = client.get("/api/v1/bans?status=active", headers=bureau).get_json()
    assert [b["name"] for b in active] == ["张2"]
    _, inspector = make_user("inspector")
    assert client.get("/api/v1/bans", headers=inspector).status_code == 403
    bad = client.get("/api/v1/bans?status=gone", headers=bureau)
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]


def test_a_page_past_the_end_is_empty(client, make_user):
    _, bureau = make_user("bureau")
    for page in ("2", "9" * 40):
        response = client.get(f"/api/v1/bans?page={page}", headers=bureau)
        assert response.status_code == 200 and response.get_json() == []
        assert json.loads(response.headers["X-Pagination"])["total"] == 0
