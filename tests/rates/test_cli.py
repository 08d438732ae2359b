"""`registry rates`: every output format, the chart, --explain, and bad input."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from cli.common import _width
from registry.rates import chart
from tests.conftest import CODES
from tests.rates.test_services import BEFORE, DAY, ISSUED


@pytest.fixture
def staffed(make_institution, make_person, employ):
    xihu = make_institution(CODES[0], district="西湖区")
    yuyao = make_institution(CODES[1], name="余姚市阳光托育园", district="余姚市")
    make_institution(CODES[2], name="永安市空托育园", district="永安市")
    employ(
        make_person(1, name="甲", certificates=[("childcare_worker", ISSUED)]), xihu, "caregiver"
    )
    employ(
        make_person(2, name="乙", certificates=[("infant_nurturer", ISSUED, BEFORE)]),
        xihu,
        "caregiver",
    )
    employ(make_person(3, certificates=[("childcare_worker", ISSUED)]), yuyao, "care_assistant")
    return xihu, yuyao


def test_json_is_the_contract(run, staffed):
    result = run("rates", "--as-of", DAY.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"as_of", "institutions", "districts"}
    assert report["as_of"] == DAY.isoformat()
    assert report["institutions"][0] == {
        "code": CODES[1],
        "name": "余姚市阳光托育园",
        "district": "余姚市",
        "staff": 1,
        "certified": 1,
        "rate": 1.0,
        "target": 0.8,
        "meets_target": True,
        "due": True,
        "due_on": "2025-12-31",
    }
    assert set(report["districts"][0]) == {
        "district",
        "institutions",
        "staff",
        "certified",
        "rate",
        "target",
        "meets_target",
        "due",
        "due_on",
    }
    empty = next(i for i in report["institutions"] if i["code"] == CODES[2])
    assert (empty["rate"], empty["target"], empty["meets_target"]) == (None, None, None)


def test_the_table_lines_up_chinese_names(run, staffed):
    result = run("rates", "--as-of", DAY.isoformat())
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[1]
    assert header.split() == ["level", "district", "code", "name", "institutions", "staff",
                              "certified", "rate", "target", "meets_target", "due"]  # fmt: skip
    rows = [line for line in lines[2:] if CODES[0] in line or CODES[1] in line]
    # The code column starts at the same terminal column on every line.
    starts = {
        _width(line[: line.index(code)]) for line, code in zip(rows, CODES[1::-1], strict=True)
    }
    assert starts == {_width(header[: header.index("code")])}
    xihu = next(line for line in lines if CODES[0] in line)
    assert "50.0%" in xihu and "90.0%" in xihu and "NO" in xihu.split()


def test_csv_opens_in_excel(run, staffed):
    result = run("rates", "--as-of", DAY.isoformat(), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(result.stdout.removeprefix("\ufeff"))))
    institutions = {r["code"]: r for r in rows if r["level"] == "institution"}
    assert institutions[CODES[0]]["rate"] == "0.5"
    assert institutions[CODES[0]]["meets_target"] == "False"
    assert institutions[CODES[2]]["rate"] == ""
    districts = {r["district"]: r for r in rows if r["level"] == "district"}
    assert districts["杭州市西湖区"]["institutions"] == "1"
    assert b"\r\n" in result.stdout_bytes


def test_below_target_and_one_district(run, staffed):
    result = run("rates", "--as-of", DAY.isoformat(), "--below-target", "--format", "json")
    report = json.loads(result.stdout)
    assert [i["code"] for i in report["institutions"]] == [CODES[0]]
    assert [d["district"] for d in report["districts"]] == ["杭州市西湖区"]

    result = run("rates", "--as-of", DAY.isoformat(), "--district", "余姚市", "--format", "json")
    assert [i["code"] for i in json.loads(result.stdout)["institutions"]] == [CODES[1]]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_the_chart_is_an_image(run, staffed, tmp_path, suffix):
    path = tmp_path / f"rates{suffix}"
    result = run("rates", "--as-of", DAY.isoformat(), "--chart", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["institutions"]  # the report still comes out
    if suffix == ".png":
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 100
    else:
        root = ET.parse(path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        text = path.read_text(encoding="utf-8")
        # Text stays text: names, the target line's label.
        assert "余姚市阳光托育园" in text and "90%" in text


def test_without_a_chinese_font_the_png_says_so(staffed, tmp_path, app, session):
    from registry.rates import services

    with app.app_context():
        report = services.rates(session, DAY)
    notes = chart.draw(report, tmp_path / "rates.png", font=None)
    assert notes and "fonts-noto-cjk" in notes[0]
    with Image.open(tmp_path / "rates.png") as image:
        assert image.format == "PNG"


@pytest.mark.skipif(chart.cjk_font() is None, reason="needs a font with Chinese characters")
def test_with_a_chinese_font_the_png_has_the_names(staffed, tmp_path, app, session):
    from registry.rates import services

    with app.app_context():
        report = services.rates(session, DAY)
    assert chart.draw(report, tmp_path / "rates.png", font=chart.cjk_font()) == []


def test_explain_shows_who_counts(run, staffed):
    code = staffed[0].code
    result = run("rates", "--as-of", DAY.isoformat(), "--explain", code.lower())
    assert result.exit_code == 0, result.output
    assert "1 of 2 staff certified, rate 50.0%, target 90.0%" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "乙" in line)
    assert "expired on" in line and "NO" in line.split()

    report = json.loads(
        run("rates", "--as-of", DAY.isoformat(), "--explain", code, "--format", "json").stdout
    )
    assert [(s["name"], s["certified"]) for s in report["counted"]] == [("甲", True), ("乙", False)]


@pytest.mark.parametrize(
    "args, named",
    [
        (["--as-of", "2025-13-45"], "2025-13-45"),
        (["--as-of", "1800-01-01"], "1800-01-01"),
        (["--district", "火星区"], "火星区"),
        (["--format", "xml"], "xml"),
        (["--explain", "91350100M000100Y44"], "91350100M000100Y44"),  # bad check character
        (["--explain", CODES[3]], CODES[3]),  # valid, not registered
        (["--chart", "rates.pdf"], "rates.pdf"),
        (["--chart", "/no/such/folder/rates.png"], "/no/such/folder/rates.png"),
        (["--explain", CODES[0], "--below-target"], "--explain"),
    ],
)
def test_bad_input_exits_2_and_prints_nothing(run, staffed, args, named):
    result = run("rates", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert named in result.stderr


@pytest.mark.parametrize(("as_of", "listed"), [("2025-12-30", False), ("2025-12-31", True)])
def test_below_target_lists_only_targets_that_are_due(
    run, make_institution, make_person, employ, as_of, listed
):
    xihu = make_institution(CODES[0], district="西湖区")
    employ(make_person(1, certificates=[("childcare_worker", ISSUED)]), xihu, "caregiver")
    employ(make_person(2), xihu, "caregiver")
    result = run("rates", "--as-of", as_of, "--below-target", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [i["code"] for i in report["institutions"]] == ([CODES[0]] if listed else [])
    everyone = json.loads(run("rates", "--as-of", as_of, "--format", "json").stdout)
    xihu = next(i for i in everyone["institutions"] if i["code"] == CODES[0])
    assert (xihu["meets_target"], xihu["due"], xihu["due_on"]) == (False, listed, "2025-12-31")
    table = run("rates", "--as-of", as_of).stdout
    row = next(line for line in table.splitlines() if CODES[0] in line)
    if listed:
        assert "NO" in row.split() and row.rstrip().endswith("due")
    else:
        assert "no (not yet due)" in row and "from 2025-12-31" in row
