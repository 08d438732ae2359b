"""`registry rules` and `registry eligibility`: the rules and a verdict on the command
line, and the README's rule table written from the files."""

import json
from datetime import date
from pathlib import Path

from registry.eligibility.rulesets import load_rulesets
from registry.eligibility.services import TABLE_BEGIN, TABLE_END, rules_table
from tests.conftest import CODES, id_number

README = Path(__file__).parents[2] / "README.md"
CAREGIVER = [
    ("health_certificate", date(2026, 3, 1)),
    ("caregiver_training", date(2024, 1, 1)),
]


def test_the_readme_rule_table_is_the_files():
    text = README.read_text(encoding="utf-8")
    begin, end = text.index(TABLE_BEGIN), text.index(TABLE_END) + len(TABLE_END)
    assert text[begin:end] == rules_table(load_rulesets()), (
        "the README's rule table differs from the rule files: "
        "run `registry rules --write-readme README.md`"
    )


def test_the_table_lists_every_rule_with_its_severity_and_source():
    table = rules_table(load_rulesets())
    rulesets = load_rulesets()
    for ruleset in rulesets.by_id.values():
        for rule in ruleset.rules:
            assert rule.source.replace("|", "\\|") in table
    assert "| `caregiver` | `qualification_certificate` | advisory |" in table
    assert "| `xihu` | `certification_rate` | 90% by 2025 (due 2025-12-31) |" in table
    assert "宠物护理" not in table


def test_write_readme_rewrites_only_the_table(run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# 标题\n\nbefore\n\n{TABLE_BEGIN}\nstale\n{TABLE_END}\n\nafter\n", "utf-8")
    result = run("rules", "--write-readme", str(readme))
    assert result.exit_code == 0, result.output and "written" in result.output
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# 标题\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "stale" not in text and "`not_barred`" in text
    assert "unchanged" in run("rules", "--write-readme", str(readme)).output


def test_write_readme_without_markers_changes_nothing(run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# 标题\n", "utf-8")
    result = run("rules", "--write-readme", str(readme))
    assert result.exit_code == 2 and "markers" in result.output
    assert readme.read_text(encoding="utf-8") == "# 标题\n"


def test_rules_shows_the_severity_in_force_in_a_district(run):
    result = run("rules", "--district", "永安市", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert listed["ruleset"] == "yongan"
    severities = {(r["role"], r["rule"]): r["severity"] for r in listed["rules"]}
    assert severities[("caregiver", "qualification_certificate")] == "advisory"
    assert severities[("caregiver", "training")] == "required"
    text = run("rules", "--district", "西湖区").output
    assert "qualification_certificate" in text and "required 必需" in text


def test_eligibility_on_the_command_line(run, make_person, make_institution):
    make_person(5, major="学前教育", certificates=CAREGIVER)
    make_institution(code=CODES[0], district="永安市")
    args = ["eligibility", "--role", "caregiver", "--as-of", "2026-06-01"]
    result = run(*args, "--id-number", "-", "--institution", CODES[0], input=id_number(5))
    assert result.exit_code == 0, result.output
    assert "可以任职（eligible）" in result.output and "1 项建议未满足" in result.output
    assert "✗ advisory 建议" in result.output and "永政办〔2021〕64号" in result.output
    assert id_number(5) not in result.output
    make_institution(code=CODES[1], district="西湖区")
    result = run(*args, "--id-number", id_number(5), "--institution", CODES[1], "--format", "json")
    assert result.exit_code == 4, result.output
    verdict = json.loads(result.output)
    assert verdict["eligible"] is False
    assert [(r["rule"], r["severity"]) for r in verdict["reasons"] if not r["ok"]] == [
        ("qualification_certificate", "required")
    ]


def test_a_bad_question_names_the_option(run):
    result = run("eligibility", "--role", "caregiver", "--id-number", "123")
    assert result.exit_code == 1 and "id_number" in result.output
    result = run("eligibility", "--role", "nanny", "--id-number", id_number(5))
    assert result.exit_code == 2


def test_a_district_without_an_overlay_is_told_it_gets_the_baseline(run):
    result = run("rules", "--district", "滨江区", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ruleset"] == "national"
    assert "适用全国基线" in result.stderr
