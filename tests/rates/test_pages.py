"""The certification-rate page: the figures of `registry rates`, the chart inline as
SVG without inline styles, below target, the CSV, each institution's staff counted."""

import re

import pytest
import sqlalchemy as sa

from registry.audit import record_event
from registry.auth.models import SystemActor
from registry.credentials import services as credentials
from registry.credentials.models import Certificate
from tests.auth.conftest import sign_in
from tests.conftest import CODES
from tests.rates.test_cli import staffed  # noqa: F401 (a fixture)
from tests.rates.test_services import DAY
from tests.test_lists import _code, statements


def _certificate(session, number):
    return session.scalar(sa.select(Certificate).where(Certificate.number == number))


@pytest.fixture
def reader(client, make_user):
    make_user("inspector", username="sun.inspector")
    sign_in(client, "sun.inspector")
    return client


def test_the_page_shows_the_figures_of_registry_rates_and_links_the_chart(reader, staffed):  # noqa: F811
    page = reader.get(f"/rates?as_of={DAY.isoformat()}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"各区县（{DAY.year}年{DAY.month}月{DAY.day}日）" in text
    assert "余姚市阳光托育园" in text and "永安市空托育园" in text
    assert "50.0%" in text and "100.0%" in text  # 西湖区: 1 of 2; 余姚市: 1 of 1
    assert "数据计算于" in text
    # The chart is not drawn with the page: it is its own image, on request.
    assert "<svg" not in text
    link = re.search(r'href="(/rates/chart\.svg\?[^"]*)"', text)[1].replace("&amp;", "&")
    assert f"as_of={DAY.isoformat()}" in link
    chart = reader.get(link)
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert 'role="img"' in svg and "余姚市阳光托育园" in svg
    # The page's policy allows no inline style: the chart carries none.
    assert " style=" not in svg and "<style" not in svg and "<script" not in svg
    assert 'fill="#2e7d32"' in svg  # a bar meeting its target, green


def test_the_browser_keeps_the_chart_until_the_data_changes(reader, session, staffed):  # noqa: F811
    address = f"/rates/chart.svg?as_of={DAY.isoformat()}"
    first = reader.get(address)
    assert "max-age" in first.headers["Cache-Control"] and first.headers["Last-Modified"]
    tag = first.headers["ETag"]
    again = reader.get(address, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b""
    other = reader.get(f"{address}&district=余姚市", headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.headers["ETag"] != tag
    certificate = _certificate(session, "1-childcare_worker-0")
    credentials.revoke(session, SystemActor("test"), certificate, "forged", DAY)
    session.commit()
    changed = reader.get(address, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_the_figures_follow_a_change_made_since_the_last_view(reader, session, staffed):  # noqa: F811
    address = f"/rates?as_of={DAY.isoformat()}&district=余姚市"
    assert "100.0%" in reader.get(address).get_data(as_text=True)
    certificate = _certificate(session, "3-childcare_worker-0")
    credentials.revoke(session, SystemActor("test"), certificate, "forged", DAY)
    session.commit()
    text = reader.get(address).get_data(as_text=True)
    assert "100.0%" not in text and "0.0%" in text


def test_the_institutions_are_shown_50_to_a_page(reader, make_institution):
    for n in range(51):
        make_institution(_code(n), name=f"翻页托育园{n:02d}", district="拱墅区")
    first = reader.get(f"/rates?as_of={DAY.isoformat()}&district=拱墅区").get_data(as_text=True)
    assert "翻页托育园00" in first and "翻页托育园49" in first and "翻页托育园50" not in first
    assert "第 1 / 2 页，共 51 条" in first
    second = reader.get(f"/rates?as_of={DAY.isoformat()}&district=拱墅区&page=2")
    text = second.get_data(as_text=True)
    assert "翻页托育园50" in text and "翻页托育园49" not in text
    # The districts' roll-up is over every institution, whichever page is shown.
    districts = text[text.index("<h2>各区县") : text.index("<h2>各机构</h2>")]
    assert "拱墅区" in districts and '<td class="num">51</td>' in districts


def test_below_target_keeps_only_the_targets_due_and_missed(reader, staffed):  # noqa: F811
    text = reader.get(f"/rates?as_of={DAY.isoformat()}&below=1").get_data(as_text=True)
    table = text[text.index("<h2>各机构</h2>") :]
    assert CODES[0] in table and CODES[1] not in table and CODES[2] not in table


def test_the_csv_is_the_one_of_registry_rates(reader, run, staffed):  # noqa: F811
    for below in ("", "&below=1"):
        response = reader.get(f"/rates.csv?as_of={DAY.isoformat()}{below}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        body = response.get_data()
        assert body.startswith("\ufeff".encode())
        command = ["rates", "--as-of", DAY.isoformat(), "--format", "csv"]
        result = run(*command, *(["--below-target"] if below else []))
        assert b"\r\n" in body  # as Excel writes CSV; the test runner reads it as "\n"
        assert body.decode("utf-8").replace("\r\n", "\n") == result.stdout
        assert len(result.stdout.splitlines()) == (3 if below else 7)


def test_an_institutions_explanation_lists_the_staff_counted(reader, staffed):  # noqa: F811
    page = reader.get(f"/rates/{CODES[0]}?as_of={DAY.isoformat()}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "甲" in text and "乙" in text and "1 / 2" in text
    assert "未持证" in text and "expired on" in text  # 乙's certificate, and why


def test_bad_choices_are_said_beside_their_fields(reader, staffed):  # noqa: F811
    bad_date = reader.get("/rates?as_of=2026-02-30")
    assert bad_date.status_code == 422
    assert 'id="as_of-error"' in bad_date.get_data(as_text=True)
    bad_district = reader.get("/rates?district=火星区")
    assert bad_district.status_code == 422
    text = bad_district.get_data(as_text=True)
    assert 'id="district-error"' in text and 'value="火星区"' in text
    assert reader.get("/rates.csv?as_of=2026-02-30").status_code == 422


def test_the_bureau_and_the_inspector_may_read_rates_but_not_a_director(
    client, make_user, make_institution
):
    place = make_institution(CODES[3])
    make_user("director", place, username="zhao.director")
    sign_in(client, "zhao.director")
    assert client.get("/rates").status_code == 403
    assert client.get("/rates.csv").status_code == 403


def test_a_view_after_unrelated_work_reads_the_kept_report(reader, session, staffed):  # noqa: F811
    address = f"/rates?as_of={DAY.isoformat()}"
    with statements(session) as first:
        assert reader.get(address).status_code == 200
    # A lookup is audited, but moves no rate: the report computed above is shown again.
    record_event(session, SystemActor("test"), "person.looked_up", "person:1")
    session.commit()
    with statements(session) as second:
        page = reader.get(address)
    assert "50.0%" in page.get_data(as_text=True)
    assert not any("GROUP BY" in s for s in second), second
    assert any("GROUP BY" in s for s in first)
