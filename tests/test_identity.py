"""Tests of registry.identity: identity numbers and institution codes.

The check characters used to build test inputs come from reference implementations written
here from the standards' definitions (ISO 7064 MOD 11-2 as powers of two, GB 32100 from the
published table), not from the module under test.
"""

import re
import unicodedata
from datetime import date, datetime
from unicodedata import category

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.identity import (
    ID_TYPES,
    IdentityNumber,
    InvalidIdentifier,
    gb11643_check_char,
    normalize,
    parse_identity,
    parse_institution_code,
    upgrade_legacy,
    uscc_check_char,
)

PROPERTY = settings(max_examples=100, deadline=None)
PER_KIND_PROPERTY = settings(max_examples=50, deadline=None)
HEAVY_PROPERTY = settings(max_examples=30, deadline=None)


# ------------------------------------------------------------------ reference code


def ref_mod11_2(first17: str) -> str:
    """ISO 7064 MOD 11-2: weights 2**(17-i) mod 11, check c with sum + c == 1 (mod 11)."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def ref_uscc(first17: str) -> str:
    weights = [pow(3, i, 31) for i in range(17)]  # 1 3 9 27 19 26 16 17 20 29 25 13 8 ...
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, weights, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def with_check(first17: str) -> str:
    return first17 + ref_mod11_2(first17)


def bad_check(first17: str) -> str:
    """first17 plus a check character that is wrong."""
    right = ref_mod11_2(first17)
    return first17 + ("0" if right != "0" else "1")


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def expect_error(raw, id_type=None, *parts, **kwargs) -> InvalidIdentifier:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identity(raw, id_type, **kwargs)
    for part in parts:
        assert part in info.value.message, (part, info.value.message)
    return info.value


def expect_both(raw, id_type, zh, en, **kwargs) -> InvalidIdentifier:
    err = expect_error(raw, id_type, **kwargs)
    assert zh in err.zh, (zh, err.message)
    assert en in err.en, (en, err.message)
    assert err.message == f"{err.zh}（{err.en}）"
    return err


RESIDENT = "11010519491231002X"
LEGACY = "110105491231002"
ALPHABET_18 = "0123456789X"
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
HMT_AREAS = ["810000", "820000", "830000"]
# The forms a passport number may not take (see the module docstring), written out here.
CHINESE_ID_FORM = re.compile("[0-9]{17}[0-9X]|[0-9]{15}|[A-Z]{3}[0-9]{12}")


# ------------------------------------------------------------------ strategies


def birth_dates(years=(1900, 2020)):
    return st.dates(date(years[0], 1, 1), date(years[1], 12, 31))


@st.composite
def valid_resident(draw, years=(1900, 2020)):
    area = draw(st.integers(110000, 659999))
    born = draw(birth_dates(years))
    seq = draw(st.integers(0, 999))
    return with_check(f"{area:06d}{born:%Y%m%d}{seq:03d}")


@st.composite
def valid_hmt(draw):
    area = draw(st.sampled_from(HMT_AREAS))
    return with_check(f"{area}{draw(birth_dates()):%Y%m%d}{draw(st.integers(0, 999)):03d}")


@st.composite
def valid_fpr2023(draw):
    head = "9" + draw(st.text(DIGITS, min_size=5, max_size=5))
    return with_check(f"{head}{draw(birth_dates()):%Y%m%d}{draw(st.integers(0, 999)):03d}")


@st.composite
def valid_fpr2017(draw):
    return draw(st.text(LETTERS, min_size=3, max_size=3)) + draw(
        st.text(DIGITS, min_size=12, max_size=12)
    )


@st.composite
def valid_legacy(draw):
    area = draw(st.integers(110000, 659999))
    return f"{area:06d}{draw(birth_dates((1900, 1999))):%y%m%d}{draw(st.integers(0, 999)):03d}"


def ref_upgrade(legacy: str) -> str:
    return with_check(legacy[:6] + "19" + legacy[6:])


valid_passport = st.text(LETTERS + DIGITS, min_size=5, max_size=20).filter(
    lambda s: not CHINESE_ID_FORM.fullmatch(s)
)

# kind: (strategy, id_type, expected number from the drawn one, family, detected when unnamed)
DOCUMENT_KINDS = {
    "resident_id": (valid_resident(), "resident_id", str, "gb11643", True),
    "hmt_residence": (valid_hmt(), "hmt_residence", str, "gb11643", True),
    "fpr2023": (valid_fpr2023(), "foreign_permanent_residence", str, "gb11643", True),
    "fpr2017": (valid_fpr2017(), "foreign_permanent_residence", str, "fpr2017", True),
    "legacy": (valid_legacy(), "resident_id", ref_upgrade, "gb11643", True),
    "passport": (valid_passport, "passport", str, "passport", False),
}


SEPARATORS = [
    " ",
    "\u3000",
    "\u00a0",
    "\t",
    "-",
    "\u2010",
    "\u2011",
    "\u2012",
    "\u2013",
    "\u2014",
    "\u2015",
    "\u2212",
    "\ufe63",
    "\uff0d",
    "\u200b",
]


@st.composite
def typed_variant(draw, number: str):
    """The number as someone might type it: case, full width, separators, padding."""
    out = []
    for c in number:
        if c.isalpha() and draw(st.booleans()):
            c = c.lower()
        if draw(st.booleans()):
            c = full_width(c)
        out.append(c)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.text(st.sampled_from(SEPARATORS), min_size=1, max_size=3)))
    pad = st.text(st.sampled_from([" ", "\u3000", "\u00a0", "\t", "\n"]), max_size=3)
    return draw(pad) + "".join(out) + draw(pad)


# ------------------------------------------------------------------ references agree


def test_reference_examples():
    assert ref_mod11_2(RESIDENT[:17]) == "X"
    assert ref_uscc("91350100M000100Y4") == "3"
    assert ref_uscc("91110000802100433") == "B"


@PROPERTY
@given(st.text("0123456789", min_size=17, max_size=17))
def test_check_char_matches_reference(first17):
    assert gb11643_check_char(first17) == ref_mod11_2(first17)


@PROPERTY
@given(st.text(USCC_ALPHABET, min_size=17, max_size=17))
def test_uscc_check_char_matches_reference(first17):
    assert uscc_check_char(first17) == ref_uscc(first17)


def test_known_check_characters():
    assert gb11643_check_char("11010519491231002") == "X"
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_check_char("91110000802100433") == "B"


@pytest.mark.parametrize("bad", ["1101051949123100", "110105194912310021", "1101051949123100A", 17])
def test_check_char_rejects_bad_input(bad):
    with pytest.raises(InvalidIdentifier):
        gb11643_check_char(bad)


# ------------------------------------------------------------------ normalise


def test_normalize():
    assert normalize(" 1101\u3000０５－1949 1231\u00a0002ｘ ") == RESIDENT
    assert normalize("1\u20102\u20113\u20124\u20135\u20146\u20157\u22128\ufe639\uff0d0") == (
        "1234567890"
    )
    assert normalize("\ufeff1\u200b2\u00ad3") == "123"
    assert normalize("ｇ１２３") == "G123"
    assert normalize("") == ""


def ref_normalize(raw: str) -> str:
    """normalize() as its docstring defines it, one character at a time (no fast path)."""
    text = unicodedata.normalize("NFKC", raw)
    dropped = ("Pd", "Cf")
    kept = (c for c in text if not (c.isspace() or c == "\u2212" or category(c) in dropped))
    return "".join(kept).upper()


# ASCII alone (the fast path) and mixed with what typed numbers really hold.
NUMBER_CHARS = st.sampled_from(
    "0123456789xX abcXYZ-_.\t\n\x1c\x1f\x00\x7f０１２３ｘＸ－\u2010\u2212\u3000\u00a0"
    "\u200b\ufeff\u00ad\u0661ⅸ①"
)


@PROPERTY
@given(st.text(st.characters(max_codepoint=127), max_size=25))
def test_normalize_of_ascii_matches_reference(raw):
    assert normalize(raw) == ref_normalize(raw)


@PROPERTY
@given(st.text(NUMBER_CHARS, max_size=25))
def test_normalize_matches_reference(raw):
    assert normalize(raw) == ref_normalize(raw)


@PROPERTY
@given(st.text("0123456789０１２３", min_size=17, max_size=17))
def test_check_char_of_other_digits_is_an_error_or_the_reference(first17):
    if first17.isascii():
        assert gb11643_check_char(first17) == ref_mod11_2(first17)
    else:
        with pytest.raises(InvalidIdentifier, match="应为数字"):
            gb11643_check_char(first17)


# ------------------------------------------------------------------ resident ids


def test_valid_resident_example():
    ident = parse_identity(RESIDENT)
    assert ident == IdentityNumber("resident_id", RESIDENT)
    assert ident.family == "gb11643"
    assert ident.canonical == "gb11643:" + RESIDENT
    assert parse_identity(RESIDENT, "resident_id") == ident
    assert parse_identity("11010519491231002x") == ident


def test_legacy_example():
    assert upgrade_legacy(LEGACY) == RESIDENT
    assert parse_identity(LEGACY) == IdentityNumber("resident_id", RESIDENT)
    assert parse_identity(LEGACY, "resident_id").number == RESIDENT
    assert parse_identity("110105 491231 002").canonical == "gb11643:" + RESIDENT


@pytest.mark.parametrize("bad", ["11010549123100", "1101054912310021", "11010549123100A"])
def test_upgrade_legacy_rejects_bad_input(bad):
    with pytest.raises(InvalidIdentifier):
        upgrade_legacy(bad)


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
@PER_KIND_PROPERTY
@given(data=st.data())
def test_every_valid_number_survives_every_typing_variant(kind, data):
    strategy, id_type, expected_number, family, detected = DOCUMENT_KINDS[kind]
    drawn = data.draw(strategy, label="number")
    expected = IdentityNumber(id_type, expected_number(drawn))
    variant = data.draw(typed_variant(drawn), label="typed")
    named = parse_identity(variant, id_type)
    assert named == expected
    assert named.canonical == f"{family}:{expected.number}"
    if detected:
        assert parse_identity(variant) == expected
    if kind == "hmt_residence":  # named a resident ID, it is still the same permit
        assert parse_identity(variant, "resident_id") == expected


@HEAVY_PROPERTY
@given(st.one_of(valid_resident(), valid_hmt(), valid_fpr2023()))
def test_every_single_substitution_is_rejected(number):
    assert parse_identity(number).number == number
    for pos in range(18):
        for c in ALPHABET_18:
            if c == number[pos]:
                continue
            typo = number[:pos] + c + number[pos + 1 :]
            for id_type in (None, "resident_id", "hmt_residence", "foreign_permanent_residence"):
                with pytest.raises(InvalidIdentifier):
                    parse_identity(typo, id_type)


def test_every_single_substitution_of_the_example_is_rejected():
    for pos in range(18):
        for c in ALPHABET_18:
            if c != RESIDENT[pos]:
                with pytest.raises(InvalidIdentifier):
                    parse_identity(RESIDENT[:pos] + c + RESIDENT[pos + 1 :])


@PROPERTY
@given(valid_resident(years=(1900, 1999)))
def test_legacy_round_trip(number):
    legacy = number[:6] + number[8:17]
    assert upgrade_legacy(legacy) == number
    assert parse_identity(legacy) == parse_identity(number)
    assert parse_identity(legacy, "resident_id").canonical == parse_identity(number).canonical


def test_resident_messages():
    expect_both("", None, "证件号码为空", "identity number is empty")
    expect_both(" \u3000-\u200b ", "resident_id", "证件号码为空", "identity number is empty")
    expect_both(None, None, "证件号码为空", "identity number is empty")
    expect_both(11010519491231002, None, "证件号码为空", "identity number is empty")
    expect_both(
        RESIDENT[:17],
        "resident_id",
        "证件号码应为18位，实际为17位",
        "identity number should have 18 characters, got 17",
    )
    expect_both(
        RESIDENT + "1",
        "resident_id",
        "证件号码应为18位，实际为19位",
        "identity number should have 18 characters, got 19",
    )
    expect_both(
        "1101A519491231002X", "resident_id", "第5位应为数字", "character 5 should be a digit"
    )
    expect_both(
        "11010519491231002A",
        "resident_id",
        "第18位应为数字或X",
        "character 18 should be a digit or X",
    )
    expect_both(
        "110105194912310021",
        "resident_id",
        "第18位校验码应为 X",
        "check character should be X",
    )
    err = expect_error("110105194912310021", None)
    assert err.message == "第18位校验码应为 X（check character should be X）"
    expect_both(
        with_check("11010519990231002"),
        None,
        "出生日期19990231不存在",
        "birth date 19990231 does not exist",
    )
    expect_both(
        with_check("11010519991301002"),
        None,
        "出生日期19991301不存在",
        "birth date 19991301 does not exist",
    )
    expect_both(
        with_check("11010520990101002"),
        None,
        "出生日期20990101在未来",
        "birth date 20990101 is in the future",
    )
    expect_both(
        with_check("11010518991231002"),
        None,
        "出生日期18991231早于19000101",
        "birth date 18991231 is before 19000101",
    )
    expect_both(
        "110105990231002", None, "出生日期19990231不存在", "birth date 19990231 does not exist"
    )
    expect_both(
        "11010549123A002", "resident_id", "第12位应为数字", "character 12 should be a digit"
    )
    expect_both(
        with_check("01010519491231002"),
        "resident_id",
        "地区码010105无效",
        "resident ID area codes cannot start with 0",
    )
    expect_both(
        with_check("91010519491231002"),
        "resident_id",
        "不能以9开头",
        "resident ID area codes cannot start with 9",
    )
    expect_both(
        "010105491231002", None, "不能以0开头", "resident ID area codes cannot start with 0"
    )


def test_birth_date_bounds_follow_today():
    born_2020_01_02 = with_check("11010520200102002")
    expect_both(
        born_2020_01_02,
        None,
        "出生日期20200102在未来",
        "birth date 20200102 is in the future",
        today=date(2020, 1, 1),
    )
    assert parse_identity(born_2020_01_02, today=date(2020, 1, 2)).number == born_2020_01_02
    assert parse_identity(born_2020_01_02, today=datetime(2020, 1, 2, 8)).number == (
        born_2020_01_02
    )
    assert parse_identity(with_check("11010519000101002")).number[6:14] == "19000101"
    assert parse_identity(with_check("11010520000229002")).number[6:14] == "20000229"
    expect_error(with_check("11010519000229002"), None, "出生日期19000229不存在")


def test_non_ascii_digits_are_rejected():
    arabic_indic_1 = "\u0661"  # str.isdigit() is True and NFKC keeps it
    assert normalize(arabic_indic_1) == arabic_indic_1
    expect_error(arabic_indic_1 + RESIDENT[1:], "resident_id", "第1位应为数字")
    expect_error(arabic_indic_1 + RESIDENT[1:], None, "第1位应为数字")


def test_unknown_type():
    err = expect_error(RESIDENT, "id_card")
    for name in ID_TYPES:
        assert name in err.message
    assert "id_card" in err.zh and "id_card" in err.en
    expect_error(RESIDENT, "RESIDENT_ID", "resident_id")


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    "raw, id_type, number",
    [
        (RESIDENT, "resident_id", RESIDENT),
        (LEGACY, "resident_id", RESIDENT),
        (with_check("81000019900101123"), "hmt_residence", with_check("81000019900101123")),
        (with_check("82000019900101123"), "hmt_residence", with_check("82000019900101123")),
        (with_check("83000019900101123"), "hmt_residence", with_check("83000019900101123")),
        (with_check("81000119900101123"), "resident_id", with_check("81000119900101123")),
        (
            with_check("93115619900101123"),
            "foreign_permanent_residence",
            with_check("93115619900101123"),
        ),
        ("USA310190010110", "foreign_permanent_residence", "USA310190010110"),
        ("usa 3101 9001 0110", "foreign_permanent_residence", "USA310190010110"),
    ],
)
def test_detection(raw, id_type, number):
    assert parse_identity(raw) == IdentityNumber(id_type, number)


@pytest.mark.parametrize("raw", ["E12345678", "G1234567", "1101051949123100", "12345"])
def test_unrecognised_lengths(raw):
    n = len(raw)
    err = expect_both(
        raw,
        None,
        f"无法识别证件号码格式：实际为{n}位，应为18位",
        f"got {n} characters, expected 18",
    )
    assert "15" in err.zh and "15" in err.en
    assert "passport" in err.en


def test_unrecognised_18_and_15_character_forms():
    expect_both("E1234567890123456X", None, "第1位应为数字", "character 1 should be a digit")
    expect_both(
        "1101A519491231002X",
        None,
        "无法识别证件号码格式：18位号码的第5位应为数字",
        "character 5 should be a digit",
    )
    expect_both("AB1234567890123", None, "3个字母加12位数字", "3 letters and 12 digits")


def test_passport_is_never_guessed():
    expect_error("E12345678", None, "无法识别证件号码格式")
    assert parse_identity("E12345678", "passport").id_type == "passport"


# ------------------------------------------------------------------ hmt residence


HMT = with_check("81000019900101123")


def test_hmt_residence():
    ident = parse_identity(HMT, "hmt_residence")
    assert ident == IdentityNumber("hmt_residence", HMT)
    assert ident.family == "gb11643"
    assert ident.canonical == "gb11643:" + HMT
    # named a resident ID, it is still the same person and the same blind index
    assert parse_identity(HMT, "resident_id") == ident
    assert parse_identity(full_width(HMT.lower()), "resident_id") == ident


def test_hmt_messages():
    expect_both(
        RESIDENT,
        "hmt_residence",
        "应以810000、820000或830000开头，实际为110105",
        "start with 810000, 820000 or 830000, got 110105",
    )
    expect_both(with_check("81000119900101123"), "hmt_residence", "实际为810001", "got 810001")
    expect_both(
        bad_check(HMT[:17]),
        "hmt_residence",
        f"第18位校验码应为 {HMT[17]}",
        f"check character should be {HMT[17]}",
    )
    expect_both(
        with_check("81000019900230123"),
        "hmt_residence",
        "出生日期19900230不存在",
        "birth date 19900230 does not exist",
    )
    expect_both(
        "810000900101123",
        "hmt_residence",
        "证件号码应为18位，实际为15位",
        "identity number should have 18 characters, got 15",
    )
    expect_both(
        LEGACY, "hmt_residence", "15位旧号码仅适用于居民身份证", "legacy numbers exist only"
    )
    expect_both(
        HMT[:16],
        "hmt_residence",
        "证件号码应为18位，实际为16位",
        "identity number should have 18 characters, got 16",
    )


@pytest.mark.parametrize("area", HMT_AREAS)
def test_legacy_number_with_an_hmt_area_is_refused_in_every_path(area):
    legacy = area + "900101123"
    assert parse_identity(ref_upgrade(legacy)).id_type == "hmt_residence"  # only the length
    for raw in (legacy, f" {full_width(area)}-900101\u3000123 "):
        for id_type in (None, "resident_id"):
            expect_both(
                raw,
                id_type,
                f"地区码{area}属于港澳台：15位号码仅适用于内地居民身份证",
                f"area code {area} is Hong Kong, Macao or Taiwan: "
                "15-digit numbers exist only for mainland resident IDs",
            )
    expect_both(
        legacy,
        "hmt_residence",
        "15位旧号码仅适用于居民身份证，不适用于港澳台居民居住证",
        "15-digit legacy numbers exist only for resident IDs, not for HMT residence permits",
    )
    expect_error(legacy, "foreign_permanent_residence", "15位旧号码仅适用于居民身份证")
    expect_error(legacy, "passport", "不能作为护照号码登记")


@PROPERTY
@given(st.sampled_from(HMT_AREAS), birth_dates((1900, 1999)), st.integers(0, 999))
def test_no_legacy_number_with_an_hmt_area_is_accepted(area, born, seq):
    legacy = f"{area}{born:%y%m%d}{seq:03d}"
    for id_type in (None, *ID_TYPES):
        with pytest.raises(InvalidIdentifier):
            parse_identity(legacy, id_type)


# ------------------------------------------------------------------ foreign residence


FPR23 = with_check("93115619900101123")
FPR17 = "USA310190010110"


def test_foreign_permanent_residence_2023():
    ident = parse_identity(FPR23, "foreign_permanent_residence")
    assert ident == IdentityNumber("foreign_permanent_residence", FPR23)
    assert ident.family == "gb11643"
    assert ident.canonical == "gb11643:" + FPR23
    assert parse_identity(" " + full_width(FPR23) + " ") == ident


def test_foreign_permanent_residence_2023_messages():
    expect_both(
        bad_check(FPR23[:17]),
        None,
        f"第18位校验码应为 {FPR23[17]}",
        f"check character should be {FPR23[17]}",
    )
    expect_both(
        with_check("93115619900230123"),
        None,
        "出生日期19900230不存在",
        "birth date 19900230 does not exist",
    )
    expect_both(
        with_check("93115620990101123"),
        "foreign_permanent_residence",
        "出生日期20990101在未来",
        "birth date 20990101 is in the future",
    )
    expect_both(
        RESIDENT, "foreign_permanent_residence", "应以9开头，实际为1", "should start with 9, got 1"
    )
    expect_both(
        "9311561990010112X3",
        "foreign_permanent_residence",
        "第17位应为数字",
        "character 17 should be a digit",
    )
    expect_both(
        FPR23[:17],
        "foreign_permanent_residence",
        "应为18位，2017版为15位，实际为17位",
        "should have 18 characters (15 for the 2017 format), got 17",
    )
    expect_both(
        LEGACY,
        "foreign_permanent_residence",
        "15位旧号码仅适用于居民身份证",
        "legacy numbers exist only for resident IDs",
    )


def test_foreign_permanent_residence_2017():
    ident = parse_identity(FPR17, "foreign_permanent_residence")
    assert ident == IdentityNumber("foreign_permanent_residence", FPR17)
    assert ident.family == "fpr2017"
    assert ident.canonical == "fpr2017:" + FPR17
    assert parse_identity("usa-310190-010110") == ident
    assert parse_identity(full_width("usa310190010110")) == ident


def test_foreign_permanent_residence_2017_messages():
    expect_both(
        "US1310190010110",
        "foreign_permanent_residence",
        "第3位应为字母",
        "character 3 should be a letter A-Z",
    )
    expect_both(
        "1SA310190010110",
        "foreign_permanent_residence",
        "第1位应为字母",
        "character 1 should be a letter A-Z",
    )
    expect_both(
        "USA31019001011X",
        "foreign_permanent_residence",
        "第15位应为数字",
        "character 15 should be a digit",
    )
    expect_both("USÄ310190010110", "foreign_permanent_residence", "第3位应为字母", "character 3")


def test_fpr_substitutions_of_the_2023_example_are_rejected():
    for pos in range(18):
        for c in ALPHABET_18:
            if c != FPR23[pos]:
                with pytest.raises(InvalidIdentifier):
                    parse_identity(FPR23[:pos] + c + FPR23[pos + 1 :])


# ------------------------------------------------------------------ passport


def test_passport():
    ident = parse_identity(" e1234-5678 ", "passport")
    assert ident == IdentityNumber("passport", "E12345678")
    assert ident.family == "passport"
    assert ident.canonical == "passport:E12345678"
    assert parse_identity(full_width("g12345678"), "passport").number == "G12345678"
    assert parse_identity("AB123", "passport").number == "AB123"
    assert parse_identity("A" * 20, "passport").number == "A" * 20


def test_passport_messages():
    expect_both(
        "E123",
        "passport",
        "护照号码应为5至20位，实际为4位",
        "passport number should have 5 to 20 characters, got 4",
    )
    expect_both(
        "A" * 21,
        "passport",
        "护照号码应为5至20位，实际为21位",
        "passport number should have 5 to 20 characters, got 21",
    )
    expect_both("E1234#678", "passport", "第6位字符'#'不允许", "character 6 '#' is not allowed")
    expect_both("E1234É678", "passport", "第6位字符'É'不允许", "character 6 'É' is not allowed")
    expect_both("", "passport", "证件号码为空", "identity number is empty")


@pytest.mark.parametrize("number", [RESIDENT, LEGACY, HMT, FPR23, FPR17, "110105194912310021"])
def test_chinese_id_numbers_cannot_be_registered_as_passports(number):
    expect_both(number, "passport", "不能作为护照号码登记", "cannot be registered as a passport")


# ------------------------------------------------------------------ the value object


@pytest.mark.parametrize(
    "ident, masked",
    [
        (IdentityNumber("resident_id", RESIDENT), "110***********002X"),
        (IdentityNumber("foreign_permanent_residence", FPR17), "USA********0110"),
        (IdentityNumber("passport", "E12345678"), "E1*****78"),
        (IdentityNumber("passport", "AB123"), "AB*23"),
        (IdentityNumber("passport", "A" * 14), "AA**********AA"),
        (IdentityNumber("passport", "ABCDEFGHIJKLMNOPQRST"), "ABC*************QRST"),
    ],
)
def test_masked(ident, masked):
    assert ident.masked == masked


def test_masked_legacy_is_masked_18_form():
    assert parse_identity(LEGACY).masked == "110***********002X"


def test_repr_does_not_show_the_number():
    ident = parse_identity(RESIDENT)
    assert RESIDENT not in repr(ident)
    assert ident.masked in repr(ident)


def test_identity_number_is_frozen_and_checks_its_type():
    ident = parse_identity(RESIDENT)
    with pytest.raises(AttributeError):
        ident.number = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        IdentityNumber("id_card", RESIDENT)


def test_resident_and_hmt_share_family_but_fpr2017_and_passport_do_not():
    families = {
        IdentityNumber(t, n).family
        for t, n in [
            ("resident_id", RESIDENT),
            ("hmt_residence", HMT),
            ("foreign_permanent_residence", FPR23),
        ]
    }
    assert families == {"gb11643"}
    assert IdentityNumber("foreign_permanent_residence", FPR17).family == "fpr2017"
    assert IdentityNumber("passport", "E12345678").family == "passport"


# ------------------------------------------------------------------ institution codes


USCC_EXAMPLES = ["91350100M000100Y43", "91110000802100433B"]


@pytest.mark.parametrize("code", USCC_EXAMPLES)
def test_uscc_valid(code):
    assert parse_institution_code(code) == code
    assert parse_institution_code(" " + full_width(code.lower()[:9]) + "-" + code[9:] + " ") == code


def test_uscc_messages():
    code = USCC_EXAMPLES[0]
    for raw in ("", " - ", None):
        with pytest.raises(InvalidIdentifier) as info:
            parse_institution_code(raw)
        assert "统一社会信用代码为空" in info.value.zh
        assert "unified social credit code is empty" in info.value.en
    cases = [
        (
            code[:17],
            "统一社会信用代码应为18位，实际为17位",
            "unified social credit code should have 18 characters, got 17",
        ),
        (
            code + "1",
            "统一社会信用代码应为18位，实际为19位",
            "unified social credit code should have 18 characters, got 19",
        ),
        ("91I50100M000100Y43", "第3位字符'I'不允许", "character 3 'I' is not allowed"),
        ("O1350100M000100Y43", "第1位字符'O'不允许", "character 1 'O' is not allowed"),
        ("91350100M000100Y4S", "第18位字符'S'不允许", "character 18 'S' is not allowed"),
        ("913501A0M000100Y43", "第7位应为数字", "character 7 should be a digit"),
        ("91350100M000100Y44", "第18位校验码应为 3", "check character should be 3"),
        ("91110000802100433C", "第18位校验码应为 B", "check character should be B"),
    ]
    for raw, zh, en in cases:
        with pytest.raises(InvalidIdentifier) as info:
            parse_institution_code(raw)
        assert zh in info.value.zh, (raw, info.value.message)
        assert en in info.value.en, (raw, info.value.message)


def test_uscc_area_code_must_be_digits_even_with_a_matching_check():
    code = USCC_EXAMPLES[0]
    for pos in range(2, 8):  # characters 3-8
        first17 = code[:pos] + "A" + code[pos + 1 : 17]
        with pytest.raises(InvalidIdentifier) as info:
            parse_institution_code(first17 + ref_uscc(first17))
        assert f"第{pos + 1}位应为数字" in info.value.zh
        assert f"character {pos + 1} should be a digit" in info.value.en
    for pos in (0, 1, 8, 16):  # letters are fine outside the area code
        first17 = code[:pos] + "A" + code[pos + 1 : 17]
        assert parse_institution_code(first17 + ref_uscc(first17)) == first17 + ref_uscc(first17)


@pytest.mark.parametrize("code", USCC_EXAMPLES)
def test_uscc_every_single_substitution_is_rejected(code):
    for pos in range(18):
        for c in USCC_ALPHABET + "IOSVZ":
            if c != code[pos]:
                with pytest.raises(InvalidIdentifier):
                    parse_institution_code(code[:pos] + c + code[pos + 1 :])


@PROPERTY
@given(
    st.text(USCC_ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
)
def test_uscc_generated_codes_validate(head, area, tail):
    first17 = head + area + tail
    code = first17 + ref_uscc(first17)
    assert parse_institution_code(code) == code
    assert parse_institution_code(code.lower()) == code
