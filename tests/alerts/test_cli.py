"""`registry alerts list|acknowledge|sweep`."""

import csv
import io
import json
from datetime import date

from tests.conftest import CODES


def _caregiver(make_institution, make_person, employ, i=1, code=CODES[0], district="西湖区"):
    place = make_institution(code, name=f"托育园{i}", district=district)
    person = make_person(
        i, name=f"员工{i}", certificates=[("childcare_worker", date(2025, 3, 1), date(2026, 3, 20))]
    )
    employ(person, place, "caregiver")
    return person


def test_sweep_list_acknowledge(run, make_institution, make_person, employ):
    _caregiver(make_institution, make_person, employ)
    swept = run("alerts", "sweep", "--as-of", "2026年2月20日")
    assert swept.exit_code == 0, swept.output
    assert swept.output.startswith("2026-02-20：新提醒 1 条")
    assert run("alerts", "sweep", "--as-of", "2026/2/21").output.startswith(
        "2026-02-21：新提醒 0 条"
    )

    listed = run("alerts", "list", "--unacknowledged", "--format", "json")
    (alert,) = json.loads(listed.stdout)
    assert alert["kind"] == "certificate_expiring" and "员工1" in alert["message"]
    assert "第 1/1 页，共 1 条" in listed.stderr
    table = run("alerts", "list").stdout.splitlines()
    assert table[0].split() == [
        "id", "raised_at", "kind", "institution", "acknowledged_at", "message"
    ]  # fmt: skip
    assert "将于2026-03-20到期" in table[1]

    done = run("alerts", "acknowledge", str(alert["id"]))
    assert done.exit_code == 0 and f"已确认提醒 {alert['id']}" in done.output
    again = run("alerts", "acknowledge", str(alert["id"]))
    assert again.exit_code == 1 and "已确认过" in again.output
    assert json.loads(run("alerts", "list", "--unacknowledged", "--format", "json").stdout) == []
    acknowledged = run("alerts", "list", "--acknowledged", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(acknowledged.removeprefix("\ufeff"))))
    assert [r["id"] for r in rows] == [str(alert["id"])] and rows[0]["acknowledged_at"]
    assert run("alerts", "acknowledge", "999999").exit_code == 1


def test_list_by_institution(run, make_institution, make_person, employ):
    _caregiver(make_institution, make_person, employ)
    _caregiver(make_institution, make_person, employ, 2, CODES[1], "余姚市")
    assert run("alerts", "sweep", "--as-of", "2026-03-01").exit_code == 0
    listed = run("alerts", "list", "--institution", CODES[1].lower(), "--format", "json")
    assert [a["institution"] for a in json.loads(listed.stdout)] == [CODES[1]]
    bad = run("alerts", "list", "--institution", "123")
    assert bad.exit_code == 1 and "code" in bad.output
    assert run("alerts", "sweep", "--as-of", "2026-02-30").exit_code == 2
