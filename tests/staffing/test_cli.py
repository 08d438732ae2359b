"""`registry expiring`, for the bureau across institutions."""

import csv
import io
import json
from datetime import date, timedelta

from registry import clock
from tests.conftest import CODES, id_number
from tests.staffing.test_views import _hire

TODAY = clock.today()


def test_expiring_across_institutions(run, client, make_user, make_institution, make_person):
    make_institution(CODES[0], district="西湖区")
    make_institution(CODES[1], name="余姚市阳光托育园", district="余姚市")
    _, bureau = make_user("bureau")
    start = (TODAY - timedelta(days=100)).isoformat()
    for i, (code, expires_in) in enumerate(
        [(CODES[0], 20), (CODES[1], 5), (CODES[1], 60)], start=1
    ):
        expires = TODAY + timedelta(days=expires_in)
        issued = expires - timedelta(days=300)
        make_person(i, name=f"员工{i}", certificates=[("health_certificate", issued, expires)])
        assert _hire(client, bureau, id_number(i), code=code, start=start).status_code == 201

    result = run("expiring", "--within", "30", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["institution"], r["name"], r["days_left"]) for r in rows] == [
        (CODES[1], "员工2", 5),
        (CODES[0], "员工1", 20),
    ]

    result = run("expiring", "--within", "90", "--district", "余姚市", "--format", "csv")
    assert result.output.startswith("\ufeff")  # for Excel
    rows = list(csv.DictReader(io.StringIO(result.output.removeprefix("\ufeff"))))
    assert [(r["name"], r["days_left"], r["kind"]) for r in rows] == [
        ("员工2", "5", "health_certificate"),
        ("员工3", "60", "health_certificate"),
    ]

    table = run("expiring", "--within", "30").output.splitlines()
    assert table[0].startswith("没有已过期的证书") and table[2].startswith("30 天内到期 2 张")
    table = table[3:]
    assert table[0].split() == [
        "expires_on",
        "days",
        "institution",
        "institution_name",
        "name",
        "roles",
        "kind",
        "number",
    ]
    assert "员工2" in table[1] and "员工1" in table[2] and len(table) == 3
    assert (
        "no certificate of staff in post expires within 1 days"
        in run("expiring", "--within", "1").output
    )


def test_bad_options_say_what_is_wrong(run):
    result = run("expiring", "--within", "soon")
    assert result.exit_code == 1 and "within" in result.output
    result = run("expiring", "--as-of", "2026-02-30")
    assert result.exit_code == 2 and "--as-of" in result.output and "不存在" in result.output
    result = run("expiring", "--institution", "123")
    assert result.exit_code == 1 and "code" in result.output


def test_expiring_by_district_in_any_spelling_keeps_the_expired_apart(
    run, session, make_institution, make_person
):
    from registry.db import utcnow
    from registry.staffing.models import Employment

    place = make_institution(CODES[0], name="拱墅区第一托育园", district="杭州市拱墅区")
    make_institution(CODES[1], name="西湖区托育园", district="西湖区")
    for i, expires_on in ((1, date(2024, 6, 1)), (2, date(2026, 3, 20))):
        person = make_person(
            i,
            name=f"员工{i}",
            certificates=[("childcare_worker", date(2023, 1, 1), expires_on)],
        )
        session.add(
            Employment(
                person_id=person.id,
                institution_id=place.id,
                role="caregiver",
                start=date(2023, 1, 1),
                declaration_at=utcnow(),
            )
        )
    session.flush()
    as_of = ["--as-of", "2026年3月1日", "--within", "30", "--district", "拱墅区"]
    rows = json.loads(run("expiring", *as_of, "--format", "json").stdout)
    assert [(r["name"], r["state"], r["days_left"], r["days_expired"]) for r in rows] == [
        ("员工1", "expired", None, 638),
        ("员工2", "expiring", 19, None),
    ]
    table = run("expiring", *as_of).stdout
    assert "已过期 1 张" in table and "30 天内到期 1 张" in table and "-638" not in table
    assert table.index("员工1") < table.index("30 天内到期") < table.index("员工2")
    assert (
        json.loads(run("expiring", *as_of[:4], "--district", "西湖区", "--format", "json").stdout)
        == []
    )
    unknown = run("expiring", "--district", "火星区")
    assert unknown.exit_code == 1 and "火星区" in unknown.output
