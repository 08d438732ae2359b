"""The ruleset files: what each district gets, and what a broken file does."""

import shutil
from datetime import date

import pytest

from registry.eligibility.rulesets import (
    MAJORS_FILE,
    RULESETS_DIR,
    CertificationTarget,
    RulesetError,
    load_rulesets,
)

RULESETS = load_rulesets()


@pytest.mark.parametrize(
    ("district", "ruleset", "target"),
    [
        ("西湖区", "xihu", (0.90, 2025)),
        ("杭州市西湖区", "xihu", (0.90, 2025)),
        ("余姚市", "yuyao", (0.80, 2025)),
        ("拱墅区", "gongshu", (0.80, 2022)),
        ("永安市", "yongan", None),
        ("杭锦旗", "hangjin", None),
        (" 西湖 区 ", "xihu", (0.90, 2025)),  # as typed, with spaces
        ("滨江区", "national", None),  # no overlay: the baseline
    ],
)
def test_a_district_picks_its_overlay_and_target(district, ruleset, target):
    chosen = RULESETS.for_district(district)
    assert chosen.id == ruleset
    got = chosen.certification_target
    assert (got and (got.rate, got.by)) == target
    if got:
        assert "持证率" in got.source


def test_every_rule_cites_its_source_in_both_languages():
    for ruleset in RULESETS.by_id.values():
        for rule in ruleset.rules:
            assert rule.source and rule.requirement and rule.requirement_en, rule
        for class_rule in ruleset.classes.values():
            assert class_rule.source


def _copy_rulesets(tmp_path):
    directory = tmp_path / "rulesets"
    shutil.copytree(RULESETS_DIR, directory)
    return directory


OVERLAY = """
id = "binjiang"
name = "杭州市滨江区"
version = "2027-01-01"
extends = "national"
districts = ["滨江区"]

[certification_target]
rate = 0.85
by = 2027
source = "某文件 二、"

[institution.classes.mixed]
children_per_caregiver = 4
"""


def test_adding_a_district_is_adding_a_file(tmp_path):
    directory = _copy_rulesets(tmp_path)
    (directory / "binjiang.toml").write_text(OVERLAY, encoding="utf-8")
    rulesets = load_rulesets(directory)
    binjiang = rulesets.for_district("滨江区")
    assert binjiang.id == "binjiang" and binjiang.certification_target.rate == 0.85
    assert binjiang.classes["mixed"].children_per_caregiver == 4
    assert binjiang.classes["mixed"].max_children == 18  # the rest from the baseline
    assert [r.id for r in binjiang.rules_for("director")] == [
        r.id for r in rulesets.baseline.rules_for("director")
    ]


def test_an_overlay_rule_replaces_the_baseline_rule_of_the_same_id(tmp_path):
    directory = _copy_rulesets(tmp_path)
    (directory / "binjiang.toml").write_text(
        OVERLAY
        + """
[[rules]]
id = "education"
roles = ["director"]
check = "education"
at_least = "bachelor"
requirement = "本科及以上学历"
requirement_en = "education bachelor or higher"
source = "某文件 三、"
""",
        encoding="utf-8",
    )
    rules = load_rulesets(directory).for_district("滨江区").rules_for("director")
    education = [r for r in rules if r.id == "education"]
    assert len(education) == 1 and education[0].parameters["at_least"] == "bachelor"
    assert [r.id for r in rules].index("education") == 2  # in the baseline's place


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('roles = ["nurse"]', 'roles = ["nanny"]'), "nanny"),
        (
            ('kinds = ["nurse_license", "physician_license"]', 'kinds = ["nurse_licence"]'),
            "nurse_licence",
        ),
        (('check = "certificate"', 'check = "horoscope"'), "horoscope"),
        (
            (
                'kinds = ["nurse_license", "physician_license"]',
                'kinds = ["nurse_license"]\nyears = 3',
            ),
            "years",
        ),
        (('kinds = ["nurse_license", "physician_license"]\n', ""), "kinds"),
        (('source = "杭政办发', 'sauce = "杭政办发'), "source"),
        (('extends = "national"\n', ""), "extends"),
        (('districts = ["杭锦旗", "鄂尔多斯市杭锦旗"]', 'districts = ["西湖区"]'), "西湖区"),
        (('id = "hangjin"', 'id = "xihu"'), "xihu"),
        (("[[rules]]", "[[rules]"), "TOML"),
    ],
)
def test_a_broken_file_stops_the_start_and_says_why(tmp_path, change, problem):
    directory = _copy_rulesets(tmp_path)
    path = directory / "hangjin.toml"
    text = path.read_text(encoding="utf-8")
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(RulesetError) as error:
        load_rulesets(directory)
    # The message names the file to open and what is wrong in it.
    assert "hangjin.toml" in str(error.value)
    assert problem in str(error.value)


def test_without_the_baseline_nothing_loads(tmp_path):
    directory = _copy_rulesets(tmp_path)
    (directory / "national.toml").unlink()
    with pytest.raises(RulesetError, match="national"):
        load_rulesets(directory)


@pytest.mark.parametrize(
    ("file", "change", "rule", "problem"),
    [
        (
            "yongan.toml",
            ('severity = "advisory"', 'severity = "optional"'),
            "(qualification_certificate)",
            "'optional' is not one of",
        ),
        (
            "hangjin.toml",
            ('major_groups = ["infant_care"]', 'major_groups = ["infant"]'),
            "(background)",
            "unknown major group 'infant'",
        ),
        (
            "national.toml",
            ('major_groups = ["infant_care", "health", "education"]', "major_groups = []"),
            "(background)",
            "major_groups",
        ),
    ],
    ids=["unknown-severity", "unknown-major-group", "no-major-group"],
)
def test_a_bad_rule_names_the_file_the_rule_and_the_problem(tmp_path, file, change, rule, problem):
    directory = _copy_rulesets(tmp_path)
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(RulesetError) as error:
        load_rulesets(directory)
    message = str(error.value)
    assert file in message and rule in message and problem in message


MAJOR = """
[[majors]]
name = "{name}"
group = "{group}"
aliases = []
source = "某文件"
"""


def test_a_district_adds_majors_for_itself(tmp_path):
    directory = _copy_rulesets(tmp_path)
    (directory / "binjiang.toml").write_text(
        OVERLAY + MAJOR.format(name="托育服务", group="infant_care"), encoding="utf-8"
    )
    rulesets = load_rulesets(directory)
    assert rulesets.for_district("滨江区").majors.find("托育服务").group == "infant_care"
    assert rulesets.baseline.majors.find("托育服务") is None
    assert rulesets.for_district("西湖区").majors.find("托育服务") is None


@pytest.mark.parametrize(
    ("name", "group", "problem"),
    [
        ("学前教育", "infant_care", "'学前教育' is listed twice"),
        ("护理学", "health", "'护理学' is listed twice"),  # an alias of 护理
        ("托育服务", "nursery", "unknown major group 'nursery'"),
    ],
)
def test_a_bad_major_stops_the_start(tmp_path, name, group, problem):
    directory = _copy_rulesets(tmp_path)
    (directory / "binjiang.toml").write_text(
        OVERLAY + MAJOR.format(name=name, group=group), encoding="utf-8"
    )
    with pytest.raises(RulesetError) as error:
        load_rulesets(directory)
    assert "binjiang.toml" in str(error.value) and problem in str(error.value)
    assert name in str(error.value)


def test_a_major_listed_twice_in_the_vocabulary_stops_the_start(tmp_path):
    majors = tmp_path / "majors.toml"
    text = MAJORS_FILE.read_text(encoding="utf-8")
    majors.write_text(text + MAJOR.format(name="早期 教育", group="infant_care"), "utf-8")
    with pytest.raises(RulesetError) as error:
        load_rulesets(RULESETS_DIR, majors)
    assert "majors.toml" in str(error.value) and "'早期 教育' is listed twice" in str(error.value)


@pytest.mark.parametrize(
    ("rate", "by", "day", "due"),
    [
        (0.9, 2025, date(2025, 12, 30), False),
        (0.9, 2025, date(2025, 12, 31), True),
        (0.8, 2022, date(2023, 1, 1), True),
    ],
)
def test_a_target_falls_due_on_the_last_day_of_its_year(rate, by, day, due):
    target = CertificationTarget(rate, by, "某文件")
    assert target.is_due(day) is due and target.due_on() == date(by, 12, 31)
