"""The certificate catalogue: names and aliases to kinds, level forms, expiry. No database."""

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.credentials import catalogue
from registry.credentials.catalogue import (
    KINDS,
    CatalogueError,
    InvalidLevel,
    UnknownCertificate,
    default_expiry,
    level_name,
    load_catalogue,
    normalize_level,
    resolve_kind,
)
from registry.eligibility.rules import last_day_of_year_from
from registry.vocabulary import CERTIFICATE_KINDS

# Every name the catalogue knows, written out here so that a changed or added alias shows
# up as a failing test (see test_table_covers_the_catalogue).
NAMES = [
    ("保育师", "childcare_worker", None),
    ("保育员", "childcare_worker", None),
    ("保育师证", "childcare_worker", None),
    ("保育员证", "childcare_worker", None),
    ("初级保育员", "childcare_worker", "5"),
    ("中级保育员", "childcare_worker", "4"),
    ("高级保育员", "childcare_worker", "3"),
    ("初级保育师", "childcare_worker", "5"),
    ("中级保育师", "childcare_worker", "4"),
    ("高级保育师", "childcare_worker", "3"),
    ("育婴员", "infant_nurturer", None),
    ("育婴师", "infant_nurturer", "4"),
    ("高级育婴师", "infant_nurturer", "3"),
    ("中级育婴师", "infant_nurturer", "4"),
    ("初级育婴师", "infant_nurturer", "5"),
    ("婴幼儿发展引导员", "infant_development_guide", None),
    ("幼儿园教师资格证", "kindergarten_teacher", None),
    ("教师资格证（幼儿园）", "kindergarten_teacher", None),
    ("幼儿园教师资格", "kindergarten_teacher", None),
    ("教师资格（幼儿园）", "kindergarten_teacher", None),
    ("幼儿教师资格证", "kindergarten_teacher", None),
    ("幼师资格证", "kindergarten_teacher", None),
    ("保育人员岗位培训合格证", "caregiver_training", None),
    ("保育人员培训合格证", "caregiver_training", None),
    ("托育机构保育人员培训合格证", "caregiver_training", None),
    ("托育机构保育人员岗位培训合格证", "caregiver_training", None),
    ("托育人员岗位培训合格证", "caregiver_training", None),
    ("托育人员培训合格证", "caregiver_training", None),
    ("托育机构负责人岗位培训合格证", "director_training", None),
    ("托育机构负责人培训合格证", "director_training", None),
    ("卫生保健专业知识培训合格证", "health_care_training", None),
    ("卫生保健人员培训合格证", "health_care_training", None),
    ("卫生保健人员岗位培训合格证", "health_care_training", None),
    ("托幼机构卫生保健人员培训合格证", "health_care_training", None),
    ("托幼机构卫生保健人员岗位培训合格证", "health_care_training", None),
    ("托育机构卫生保健人员培训合格证", "health_care_training", None),
    ("卫生保健专业知识培训证", "health_care_training", None),
    ("护士执业证书", "nurse_license", None),
    ("医师执业证书", "physician_license", None),
    ("保安员证", "security_guard", None),
    ("保安证", "security_guard", None),
    ("健康合格证", "health_certificate", None),
    ("健康证明", "health_certificate", None),
    ("健康证", "health_certificate", None),
    ("从业人员健康证明", "health_certificate", None),
    ("从业人员健康证", "health_certificate", None),
    ("托幼机构工作人员健康合格证", "health_certificate", None),
    ("食品从业人员健康证明", "health_certificate", None),
    ("食品从业人员健康证", "health_certificate", None),
]

# Spellings that are not in the catalogue but must match through normalisation.
SPELLINGS = [
    ("护士执业证", "nurse_license"),
    ("《护士执业证书》", "nurse_license"),
    ("医师执业证", "physician_license"),
    ("教师资格证(幼儿园)", "kindergarten_teacher"),
    ("教师资格证书【幼儿园】", "kindergarten_teacher"),
    ("保育人员岗位培训合格证书", "caregiver_training"),
    ("\u3000保 育 员\t", "childcare_worker"),
    ("保\u200b育员", "childcare_worker"),
    ("“健康证”", "health_certificate"),
    ("NURSE_LICENSE", "nurse_license"),
    ("Security_Guard", "security_guard"),
    ("ｈｅａｌｔｈ＿ｃｅｒｔｉｆｉｃａｔｅ", "health_certificate"),
]

# Qualifications that are not the certificate, and names too vague to map.
NOT_CERTIFICATES = [
    "护士资格证",
    "护士执业资格考试成绩合格证明",
    "护士证",
    "医师资格证书",
    "教师资格证",
    "保安员",
    "小学教师资格证",
    "childcare worker",
    "保育",
]


def test_kinds_are_the_vocabulary():
    assert list(KINDS) == list(CERTIFICATE_KINDS)
    assert {k: v.name for k, v in KINDS.items()} == CERTIFICATE_KINDS


def test_table_covers_the_catalogue():
    known = {(e.name, e.kind, None) for e in KINDS.values()}
    known |= {(a, e.kind, e.implied_levels.get(a)) for e in KINDS.values() for a in e.aliases}
    assert known == set(NAMES)


@pytest.mark.parametrize("kind", CERTIFICATE_KINDS)
def test_contract_value_resolves(kind):
    assert resolve_kind(kind) == (kind, None)
    assert resolve_kind(kind.upper()) == (kind, None)


@pytest.mark.parametrize(("text", "kind", "level"), NAMES)
def test_name_resolves(text, kind, level):
    assert resolve_kind(text) == (kind, level)


@pytest.mark.parametrize(("text", "kind"), SPELLINGS)
def test_spelling_resolves(text, kind):
    assert resolve_kind(text)[0] == kind


@pytest.mark.parametrize("text", NOT_CERTIFICATES)
def test_unknown_certificate(text):
    with pytest.raises(UnknownCertificate) as e:
        resolve_kind(text)
    assert f"'{text}'" in e.value.message
    assert e.value.message == f"无法识别证书名称'{text}'（unknown certificate '{text}'）"


@pytest.mark.parametrize("text", ["", "   ", "\u3000", "（）", None])
def test_empty_certificate_name(text):
    with pytest.raises(UnknownCertificate, match="证书名称为空"):
        resolve_kind(text)


def test_unknown_certificate_message_is_cut_short():
    with pytest.raises(UnknownCertificate) as e:
        resolve_kind("某" * 500)
    assert len(e.value.message) < 120


LEVEL_FORMS = [
    ("一级", "1"),
    ("二级", "2"),
    ("三级", "3"),
    ("四级", "4"),
    ("五级", "5"),
    ("1", "1"),
    ("5", "5"),
    ("３", "3"),
    ("3级", "3"),
    ("３级", "3"),
    (" 4 ", "4"),
    ("高级技师", "1"),
    ("技师", "2"),
    ("高级", "3"),
    ("中级", "4"),
    ("初级", "5"),
    ("高级工", "3"),
    ("中级工", "4"),
    ("初级工", "5"),
    ("五级/初级工", "5"),
    ("五级／初级工", "5"),
    ("一级/高级技师", "1"),
    ("二级（技师）", "2"),
    ("三级（高级工）", "3"),
    ("三级(高级工)", "3"),
    ("高级工（三级）", "3"),
    ("四级、中级工", "4"),
    ("国家职业资格三级", "3"),
    ("国家职业资格四级（中级）", "4"),
    ("职业技能等级三级", "3"),
    ("职业技能等级：二级", "2"),
    ("等级 五级", "5"),
    ("三 级", "3"),
    ("\u3000三级\u3000", "3"),
]


@pytest.mark.parametrize(("text", "level"), LEVEL_FORMS)
def test_level_forms(text, level):
    assert normalize_level("childcare_worker", text) == level


@pytest.mark.parametrize(
    "text", ["六级", "0", "6", "12", "三", "特级", "国家职业资格", "level 3", "III", "3.0", "/"]
)
def test_unknown_level(text):
    with pytest.raises(InvalidLevel) as e:
        normalize_level("childcare_worker", text)
    assert "无法识别等级" in e.value.message and "not recognised" in e.value.message


@pytest.mark.parametrize("text", ["三级/中级工", "五级（高级工）", "1/2"])
def test_inconsistent_level(text):
    with pytest.raises(InvalidLevel, match="前后不一致"):
        normalize_level("childcare_worker", text)


@pytest.mark.parametrize("kind", [k for k, e in KINDS.items() if not e.has_levels])
def test_level_on_a_kind_without_levels(kind):
    assert normalize_level(kind, None) is None
    assert normalize_level(kind, "  ") is None
    with pytest.raises(InvalidLevel) as e:
        normalize_level(kind, "三级")
    assert e.value.message == (
        f"{CERTIFICATE_KINDS[kind]}没有等级，不应填写等级'三级'"
        f"（{kind} has no levels, got level '三级'）"
    )


def test_which_kinds_have_levels():
    assert {k: e.levels for k, e in KINDS.items() if e.has_levels} == {
        "childcare_worker": ("5", "4", "3", "2", "1"),
        "infant_nurturer": ("5", "4", "3"),
        "infant_development_guide": ("4", "3", "2", "1"),
    }


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("infant_nurturer", "一级"),
        ("infant_nurturer", "技师"),
        ("infant_development_guide", "五级"),
    ],
)
def test_level_the_occupation_does_not_have(kind, text):
    with pytest.raises(InvalidLevel, match="has no level"):
        normalize_level(kind, text)


@pytest.mark.parametrize(
    ("alias", "text", "level"),
    [
        ("高级育婴师", None, "3"),
        ("高级育婴师", "", "3"),
        ("高级育婴师", "三级", "3"),
        ("高级育婴师", "国家职业资格三级", "3"),
        ("育婴师", "四级/中级工", "4"),
        ("初级保育员", "5", "5"),
        ("育婴员", None, None),
        ("育婴员", "三级", "3"),
        ("保育师", "一级", "1"),
    ],
)
def test_implied_level(alias, text, level):
    kind, implied = resolve_kind(alias)
    assert normalize_level(kind, text, implied) == level


@pytest.mark.parametrize(
    ("alias", "text"), [("高级育婴师", "五级"), ("育婴师", "三级"), ("高级保育员", "初级")]
)
def test_level_contradicting_the_name(alias, text):
    kind, implied = resolve_kind(alias)
    with pytest.raises(InvalidLevel) as e:
        normalize_level(kind, text, implied)
    assert "不符" in e.value.message and f"implies level {implied}" in e.value.message


def test_normalize_level_needs_a_contract_kind():
    with pytest.raises(UnknownCertificate):
        normalize_level("保育员", "三级")
    with pytest.raises(ValueError):
        normalize_level("security_guard", None, implied="3")


@pytest.mark.parametrize(
    ("level", "name"),
    [
        ("1", "一级/高级技师"),
        ("2", "二级/技师"),
        ("3", "三级/高级工"),
        ("4", "四级/中级工"),
        ("5", "五级/初级工"),
    ],
)
def test_level_name(level, name):
    assert level_name(level) == name
    assert normalize_level("childcare_worker", name) == level


@pytest.mark.parametrize("level", ["0", "6", "三级", "", None])
def test_level_name_of_a_non_level(level):
    with pytest.raises(InvalidLevel):
        level_name(level)


@pytest.mark.parametrize(
    ("kind", "issued", "expires"),
    [
        # Through the day before the examination's first anniversary.
        ("health_certificate", date(2023, 3, 5), date(2024, 3, 4)),  # 2024 is a leap year
        ("health_certificate", date(2024, 3, 5), date(2025, 3, 4)),
        ("health_certificate", date(2025, 3, 5), date(2026, 3, 4)),
        ("health_certificate", date(2024, 2, 29), date(2025, 2, 28)),
        ("health_certificate", date(2023, 2, 28), date(2024, 2, 27)),
        ("health_certificate", date(2023, 3, 1), date(2024, 2, 29)),
        ("health_certificate", date(2024, 12, 31), date(2025, 12, 30)),
        ("health_certificate", date(2025, 1, 1), date(2025, 12, 31)),
        ("nurse_license", date(2021, 3, 5), date(2026, 3, 5)),
        ("nurse_license", date(2024, 2, 29), date(2029, 2, 28)),
        ("nurse_license", date(2020, 2, 29), date(2025, 2, 28)),
        ("nurse_license", date(2019, 2, 28), date(2024, 2, 28)),
        ("nurse_license", datetime(2021, 3, 5, 10, 30), date(2026, 3, 5)),
    ],
)
def test_default_expiry(kind, issued, expires):
    assert default_expiry(kind, issued) == expires


@pytest.mark.parametrize(
    "kind", [k for k in CERTIFICATE_KINDS if k not in {"health_certificate", "nurse_license"}]
)
def test_no_default_expiry(kind):
    assert default_expiry(kind, date(2024, 2, 29)) is None


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)))
def test_a_health_certificate_expires_as_the_eligibility_rule_holds_it(issued):
    # Valid through the day before the examination's first anniversary: the day the
    # eligibility rule takes, so certificate states, expiring lists and verdicts agree.
    expires = default_expiry("health_certificate", issued)
    assert expires == last_day_of_year_from(issued)
    assert (expires - issued).days in (364, 365)  # 365 across a 29 February


def test_default_expiry_of_an_unknown_kind():
    with pytest.raises(UnknownCertificate):
        default_expiry("health", date(2024, 1, 1))


# ---------------------------------------------------------------- property tests

ALL_NAMES = [text for text, _, _ in NAMES] + list(CERTIFICATE_KINDS)
_SPACES = st.sampled_from([" ", "\t", "\u3000", "\u00a0", "\n", "\u2009"])
# ASCII to full-width forms (U+FF01..U+FF5E), and full-width brackets to ASCII ones.
_OTHER_WIDTH = {**{chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}, "（": "(", "）": ")"}


@given(st.sampled_from(ALL_NAMES), st.data())
def test_any_name_survives_spaces_and_width(text, data):
    expected = resolve_kind(text)
    chars = []
    for c in text:
        if c in _OTHER_WIDTH and data.draw(st.booleans()):
            c = _OTHER_WIDTH[c]
        chars.append(c)
        chars.extend(data.draw(st.lists(_SPACES, max_size=2)))
    spaced = "".join(data.draw(st.lists(_SPACES, max_size=2))) + "".join(chars)
    assert resolve_kind(spaced) == expected


@given(st.sampled_from([f for f, _ in LEVEL_FORMS]), st.lists(_SPACES, max_size=3), st.data())
def test_level_forms_survive_spaces(text, spaces, data):
    i = data.draw(st.integers(0, len(text)))
    spaced = text[:i] + "".join(spaces) + text[i:]
    assert normalize_level("childcare_worker", spaced) == normalize_level("childcare_worker", text)


# ---------------------------------------------------------------- the file itself


def _catalogue(extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> str:
    """A minimal valid catalogue text, with lines added to some kinds' tables."""
    extra = extra or {}
    lines = []
    for kind, name in CERTIFICATE_KINDS.items():
        if kind not in drop:
            lines += [f"[kinds.{kind}]", f'name = "{name}"', extra.get(kind, ""), ""]
    return "\n".join(lines)


def test_minimal_catalogue_loads():
    kinds = load_catalogue(_catalogue())
    assert list(kinds) == list(CERTIFICATE_KINDS)
    assert not any(e.aliases or e.levels or e.validity for e in kinds.values())


def test_shipped_catalogue_is_what_the_module_loaded():
    source = catalogue._SOURCE.read_text(encoding="utf-8")
    assert load_catalogue(source) == KINDS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kinds = [", "not valid TOML"),
        (_catalogue() + "\n[other]\n", "expected only a [kinds] table"),
        (_catalogue(drop=("nurse_license",)), "kinds missing: ['nurse_license']"),
        (_catalogue() + '\n[kinds.nurse]\nname = "护士"\n', "unknown kinds ['nurse']"),
        (_catalogue({"nurse_license": 'alias = ["护士执业证"]'}), "unknown keys ['alias']"),
        (
            _catalogue({"infant_nurturer": 'aliases = ["保育师"]'}),
            "'保育师' of kinds.infant_nurturer and '保育师' of kinds.childcare_worker",
        ),
        (
            _catalogue({"infant_nurturer": 'aliases = ["保 育（师）"]'}),
            "are the same name once normalised",
        ),
        (
            _catalogue({"nurse_license": 'aliases = ["护士执业证"]'}),
            "'护士执业证' of kinds.nurse_license and '护士执业证书' of kinds.nurse_license",
        ),
        (_catalogue({"nurse_license": 'aliases = ["护士执业证", "护士执业证"]'}), "twice"),
        (_catalogue({"nurse_license": 'aliases = [" "]'}), "empty alias"),
        (_catalogue({"nurse_license": "aliases = [1]"}), "aliases must be a list of strings"),
        (_catalogue({"nurse_license": "validity = { months = 60 }"}), "unknown key 'months'"),
        (
            _catalogue({"nurse_license": "validity = { years = 5, days = 1 }"}),
            "exactly one of days, years",
        ),
        (_catalogue({"nurse_license": "validity = { years = 0 }"}), "positive integer"),
        (_catalogue({"nurse_license": "validity = { years = true }"}), "positive integer"),
        (_catalogue({"nurse_license": 'validity = { years = "5" }'}), "positive integer"),
        (_catalogue({"nurse_license": "validity = 5"}), "exactly one of days, years"),
        (
            _catalogue({"nurse_license": 'validity = { years = 5, last_day = "eve" }'}),
            "last_day must be one of anniversary, day_before_anniversary",
        ),
        (
            _catalogue(
                {"nurse_license": 'validity = { days = 365, last_day = "day_before_anniversary" }'}
            ),
            "last_day goes with years",
        ),
        (
            _catalogue({"nurse_license": 'validity = { last_day = "anniversary" }'}),
            "exactly one of days, years",
        ),
        (_catalogue({"childcare_worker": 'levels = ["6"]'}), "levels must be among"),
        (_catalogue({"childcare_worker": "levels = [3]"}), "levels must be a list of strings"),
        (
            _catalogue(
                {"infant_nurturer": 'aliases = ["育婴师"]\nimplied_levels = { "育婴师" = "4" }'}
            ),
            "'育婴师' = '4' is not one of the levels",
        ),
        (
            _catalogue({"infant_nurturer": 'levels = ["4"]\nimplied_levels = { "育婴师" = "4" }'}),
            "'育婴师' is not one of the aliases",
        ),
    ],
)
def test_malformed_catalogue(text, message):
    with pytest.raises(CatalogueError) as e:
        load_catalogue(text, origin="test.toml")
    assert str(e.value).startswith("test.toml: ")
    assert message in str(e.value)


def test_name_must_match_the_vocabulary():
    text = _catalogue().replace('name = "保育师"', 'name = "保育员"')
    with pytest.raises(CatalogueError, match="kinds.childcare_worker: name must be '保育师'"):
        load_catalogue(text)


def test_catalogue_error_is_not_a_value_error():
    # Input errors are ValueErrors and become 422s; a broken file must not pass for one.
    assert not issubclass(CatalogueError, ValueError)
