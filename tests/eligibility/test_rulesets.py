"""The ruleset files: what each district gets, and what a broken file does."""

import shutil

import pytest

from registry.eligibility.rulesets import RULESETS_DIR, RulesetError, load_rulesets

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
    assert "hangjin.toml" in str(error.value) or problem in str(error.value)
    assert problem in str(error.value)


def test_without_the_baseline_nothing_loads(tmp_path):
    directory = _copy_rulesets(tmp_path)
    (directory / "national.toml").unlink()
    with pytest.raises(RulesetError, match="national"):
        load_rulesets(directory)
