"""Roll rows to certificates: header mapping, cell parsing, and every error of a row naming
its row, column and header. Rolls are real files written here; no database."""

import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from openpyxl import Workbook

from registry import clock
from registry.fields import CertificateNumber, OrganisationName
from registry.identity import parse_identity
from registry.imports.readers import Unreadable, open_roll
from registry.imports.rows import (
    ALIASES,
    FIELDS,
    REQUIRED,
    CellError,
    ParsedRow,
    RowError,
    map_headers,
    normalize_certificate_number,
    normalize_organisation_name,
    parse_date,
    parse_id_type,
    parse_row,
)
from tests.conftest import id_number

TODAY = date(2024, 6, 1)
ID = id_number(1)
ID2 = id_number(2)

# Contract order; each test shuffles or renames as it needs.
ZH = "姓名 证件类型 证件号码 证书名称 等级 证书编号 发证机构 发证日期 有效期至".split()
EN = list(FIELDS)


def good(**changes):
    row = {
        "name": "王芳",
        "id_type": "",
        "id_number": ID,
        "certificate": "保育师",
        "level": "四级",
        "certificate_no": "HZ2021001",
        "issuer": "杭州市人力资源和社会保障局",
        "issued_on": "2021-03-05",
        "expires_on": "",
    }
    row.update(changes)
    return row


def parse(row: dict, headers=EN):
    columns = map_headers(headers)
    values = [row[name] for name in FIELDS]
    return parse_row(columns, 7, values, today=TODAY)


def errors_of(row: dict) -> dict[str, str]:
    result = parse(row)
    assert isinstance(result, list), result
    assert all(e.row == 7 for e in result)
    return {e.column: e.message for e in result}


# --------------------------------------------------------------------------- headers


def test_chinese_headers_in_any_order_with_decoration():
    headers = [
        "\u3000发证日期 ",  # full-width space around
        "证书编号＊",  # required-field star, full-width
        " 姓 名 ",
        "身份证号码",
        "职业（工种）",
        "技能等级",
        "发证单位：",
        "有效期至（yyyy-mm-dd）",
        "证件类型(选填)",
        "备注",
        "",
        "序号",
    ]
    columns = map_headers(headers)
    assert columns.ok
    assert dict(columns.positions) == {
        "issued_on": 0,
        "certificate_no": 1,
        "name": 2,
        "id_number": 3,
        "certificate": 4,
        "level": 5,
        "issuer": 6,
        "expires_on": 7,
        "id_type": 8,
    }
    assert columns.unknown == ("备注", "序号")
    assert columns.header("certificate") == "职业（工种）"
    assert columns.header("nothing") is None
    assert columns.errors() == []


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("身份证号码", "id_number"),
        ("证件号", "id_number"),
        ("ＩＤ　Ｎｕｍｂｅｒ", "id_number"),
        ("id_number", "id_number"),
        ("证书名称", "certificate"),
        ("职业(工种)", "certificate"),
        ("职业工种", "certificate"),
        ("【职业】", "certificate"),
        ("Certificate Name", "certificate"),
        ("技能等级", "level"),
        ("等级", "level"),
        ("LEVEL", "level"),
        ("证书编号", "certificate_no"),
        ("Certificate No.", "certificate_no"),
        ("CERTIFICATE_NO", "certificate_no"),
        ("发证机构", "issuer"),
        ("评价机构", "issuer"),
        ("发证单位", "issuer"),
        ("Issuing authority", "issuer"),
        ("发证日期", "issued_on"),
        ("发证时间", "issued_on"),
        ("Issue date", "issued_on"),
        ("有效期至", "expires_on"),
        ("有效期", "expires_on"),
        ("截止日期", "expires_on"),
        ("expires_on", "expires_on"),
        ("Expiry Date (YYYY-MM-DD)", "expires_on"),
        ("证件类型", "id_type"),
        ("ID type", "id_type"),
        ("姓名（必填）", "name"),
        ("Full Name", "name"),
    ],
)
def test_header_variants(header, name):
    assert map_headers([header]).positions == {name: 0}


def test_missing_duplicated_and_unknown_columns():
    columns = map_headers(
        ["姓名", "身份证号", "证件号码", "证书", "证书编号", "备注"], header_row=3
    )
    assert not columns.ok
    assert columns.missing == ("issuer", "issued_on")
    assert dict(columns.duplicated) == {"id_number": (1, 2)}
    assert columns.unknown == ("备注",)
    errors = columns.errors()
    assert [(e.row, e.column, e.header) for e in errors] == [
        (3, "issuer", None),
        (3, "issued_on", None),
        (3, "id_number", "证件号码"),
    ]
    assert "缺少“发证机构”列" in errors[0].message
    assert "missing column 'issuer'" in errors[0].message
    assert "“身份证号”、“证件号码”" in errors[2].message and "keep only one" in errors[2].message
    with pytest.raises(ValueError, match="columns"):
        parse_row(columns, 4, ["x"] * 6)


def test_optional_columns_may_be_absent():
    columns = map_headers([ZH[i] for i in (0, 2, 3, 5, 6, 7)])
    assert columns.ok and columns.missing == ()
    result = parse_row(
        columns, 2, ["王芳", ID, "保育员", "B-1", "人社局", "2021-03-05"], today=TODAY
    )
    assert isinstance(result, ParsedRow)
    assert result.level is None and result.expires_on is None


_DECORATIONS = [
    lambda s: s,
    lambda s: f"  {s}\u3000",
    lambda s: s.upper(),
    lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s),  # full width
    lambda s: f"{s}*",
]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_permutation_of_aliases_maps_the_same(data):
    names = data.draw(st.permutations(FIELDS))
    headers = []
    for name in names:
        alias = data.draw(st.sampled_from((name, *ALIASES[name])))
        decorate = data.draw(st.sampled_from(_DECORATIONS))
        headers.append(decorate(alias))
    columns = map_headers(headers)
    assert columns.ok, headers
    assert {name: headers[i] for name, i in columns.positions.items()} == dict(
        zip(names, headers, strict=True)
    )


def test_aliases_name_one_field_each():
    # _build_index refuses a clash at import; this keeps the table honest about REQUIRED.
    assert set(REQUIRED) <= set(FIELDS) and set(ALIASES) == set(FIELDS)


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text",
    [
        "2021-03-05",
        "2021/3/5",
        "2021.3.5",
        "2021年3月5日",
        "2021 年 3 月 5 日",
        "2021年03月05号",
        "20210305",
        "２０２１－０３－０５",
        "２０２１年３月５日",
        "  2021/03/05\u3000",
        "2021-03-05 00:00:00",
        "2021-03-05T08:30",
    ],
)
def test_date_text(text):
    assert parse_date(text) == date(2021, 3, 5)


@pytest.mark.parametrize(
    "value",
    [datetime(2021, 3, 5), datetime(2021, 3, 5, 13, 30), date(2021, 3, 5), 44260, 44260.75],
)
def test_date_cells_and_serials(value):
    assert parse_date(value) == date(2021, 3, 5)


def test_excel_serials_around_the_1900_bug():
    assert parse_date(1) == date(1900, 1, 1)
    assert parse_date(59) == date(1900, 2, 28)
    assert parse_date(61) == date(1900, 3, 1)
    with pytest.raises(CellError, match="1900-02-29"):
        parse_date(60)
    assert parse_date(73415) == date(2100, 12, 31)
    assert parse_date(20210305) == date(2021, 3, 5)  # YYYYMMDD typed in a number cell


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2021-02-30", "the date 2021-02-30 does not exist"),
        ("2021年13月1日", "the date 2021-13-01 does not exist"),
        ("20210230", "the date 2021-02-30 does not exist"),
        ("1899-12-31", "outside 1900-01-01 to 2100-12-31"),
        ("2101-01-01", "outside 1900-01-01 to 2100-12-31"),
        ("2021-3/5", "not recognised"),
        ("3/5/2021", "not recognised"),
        ("21-3-5", "not recognised"),
        ("长期有效", "not recognised"),
        (2021, "only a year"),
        (0, "neither an Excel date"),
        (73416, "neither an Excel date"),
        (20210230, "does not exist"),
        (float("nan"), "not a valid date"),
        (True, "expected a date"),
        (Unreadable("坏", "bad bytes"), "bad bytes"),
    ],
)
def test_bad_dates(value, message):
    with pytest.raises(CellError, match=message) as caught:
        parse_date(value)
    assert caught.value.message.endswith("）") and caught.value.zh


def test_empty_dates_are_none():
    assert parse_date(None) is None
    assert parse_date("  \u3000") is None


_FULL_WIDTH = str.maketrans("0123456789-/.", "０１２３４５６７８９－／．")
_FORMATS = [
    lambda d: d.isoformat(),
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: d.strftime("%Y%m%d"),
    lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",
]


@settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(_FORMATS),
    st.booleans(),
    st.sampled_from(["", " ", "\u3000", "\t"]),
)
def test_every_date_in_every_form_parses_back(day, form, full_width, space):
    text = form(day)
    if full_width:
        text = text.translate(_FULL_WIDTH)
    assert parse_date(f"{space}{text}{space}") == day
    assert parse_date(datetime(day.year, day.month, day.day)) == day
    serial = (day - date(1899, 12, 30)).days
    if day >= date(1900, 3, 1) and not 1900 <= serial <= 2100:
        assert parse_date(serial) == day


# -------------------------------------------------------------------------- id types


@pytest.mark.parametrize(
    ("text", "id_type"),
    [
        ("居民身份证", "resident_id"),
        ("身份证", "resident_id"),
        (" 二代身份证 ", "resident_id"),
        ("resident_id", "resident_id"),
        ("港澳台居民居住证", "hmt_residence"),
        ("外国人永久居留身份证", "foreign_permanent_residence"),
        ("FOREIGN_PERMANENT_RESIDENCE", "foreign_permanent_residence"),
        ("护照", "passport"),
        ("Passport", "passport"),
        ("", None),
        (None, None),
        ("无", None),
    ],
)
def test_id_type_names(text, id_type):
    assert parse_id_type(text) == id_type


def test_unknown_id_type():
    with pytest.raises(CellError, match="unknown id type '回乡证'"):
        parse_id_type("回乡证")


# ----------------------------------------------------------------------- good rows


def test_a_good_row():
    result = parse(
        good(
            name=" 王芳 ",
            id_number=" 110105-1949-1231-002x ",
            certificate="《高级育婴师》",
            level="",
            certificate_no=" ｈｚ 2021 ００１ ",
            issuer=" 杭州市 人力资源和社会保障局 ",
            issued_on="２０２１年３月５日",
            expires_on="2026/3/4",
        )
    )
    assert result == ParsedRow(
        row=7,
        name="王芳",
        identity=parse_identity("11010519491231002X"),
        kind="infant_nurturer",
        level="3",  # implied by the name
        number="HZ2021001",
        issuer="杭州市人力资源和社会保障局",
        issued_on=date(2021, 3, 5),
        expires_on=date(2026, 3, 4),
    )
    assert result.key == ("杭州市人力资源和社会保障局", "HZ2021001")
    assert result.data_key() == (
        "杭州市人力资源和社会保障局",
        "HZ2021001",
        "gb11643:11010519491231002X",
        "王芳",
        "infant_nurturer",
        "3",
        date(2021, 3, 5),
        date(2026, 3, 4),
    )
    assert "11010519491231002X" not in repr(result)


def test_expiry_is_left_empty_for_the_merge():
    result = parse(good(certificate="健康证", level="/", expires_on="长期有效"))
    assert result.kind == "health_certificate"
    assert result.level is None and result.expires_on is None


def test_rows_may_be_short_or_long():
    columns = map_headers(EN)
    values = [good()[name] for name in FIELDS]
    assert isinstance(parse_row(columns, 2, values[:8], today=TODAY), ParsedRow)
    assert isinstance(parse_row(columns, 2, [*values, "extra"], today=TODAY), ParsedRow)


def test_numbers_from_a_workbook():
    result = parse(good(certificate_no=20210001, level=3, issued_on=datetime(2021, 3, 5)))
    assert result.number == "20210001" and result.level == "3"
    legacy = parse(good(id_number=float(110105491231002)))  # 15 digits survive a float
    assert legacy.identity.number == "11010519491231002X"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_number_and_issuer_normalised_as_the_api_does(text):
    stripped = text.strip()
    try:
        api_number = CertificateNumber().deserialize(text)
        api_issuer = OrganisationName().deserialize(text)
    except ValidationError:
        return
    assert normalize_certificate_number(stripped) == api_number
    assert normalize_organisation_name(stripped) == api_issuer


def test_number_and_issuer_examples_as_the_api():
    for text in [
        "ＨＺ　２０２１－００１",
        "abc 12",
        "杭州市 人社局 (西湖)",
        "Hangzhou  HR   Bureau",
    ]:
        assert normalize_certificate_number(text) == CertificateNumber().deserialize(text)
        assert normalize_organisation_name(text) == OrganisationName().deserialize(text)


# ------------------------------------------------------------------------ bad rows


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"name": " "}, "name", "name is empty"),
        ({"name": "王\x07芳"}, "name", "character 2 (U+0007) is not allowed"),
        ({"name": "王" * 101}, "name", "at most 100 characters"),
        ({"id_number": ""}, "id_number", "identity number is empty"),
        ({"id_number": ID[:-1] + "1"}, "id_number", "check character should be 0"),
        ({"id_number": 1.10105194912310e17}, "id_number", "lost digits"),
        ({"id_number": "1.10105E+17"}, "id_number", "scientific notation"),
        ({"id_type": "护照"}, "id_number", "cannot be registered as a passport"),
        ({"id_type": "军官证"}, "id_type", "unknown id type"),
        ({"certificate": ""}, "certificate", "certificate name is empty"),
        ({"certificate": "教师资格证"}, "certificate", "unknown certificate '教师资格证'"),
        ({"level": "六级"}, "level", "not recognised"),
        ({"certificate": "高级育婴师", "level": "五级"}, "level", "implies level 3"),
        ({"certificate": "保安员证", "level": "三级"}, "level", "has no levels"),
        ({"certificate_no": ""}, "certificate_no", "certificate number is empty"),
        ({"certificate_no": "A" * 65}, "certificate_no", "at most 64 characters"),
        ({"certificate_no": 2.1e17}, "certificate_no", "lost digits"),
        ({"certificate_no": "2.1E+17"}, "certificate_no", "scientific notation"),
        ({"issuer": ""}, "issuer", "issuer is empty"),
        ({"issuer": "局" * 201}, "issuer", "at most 200 characters"),
        ({"issued_on": ""}, "issued_on", "issue date is empty; expected a date such as"),
        ({"issued_on": "2021-02-29"}, "issued_on", "2021-02-29 does not exist"),
        ({"issued_on": "2024-06-02"}, "issued_on", "in the future (today is 2024-06-01)"),
        ({"issued_on": "下周"}, "issued_on", "not recognised; expected 2021-03-05"),
        ({"expires_on": "2021-03-04"}, "expires_on", "before the issue date 2021-03-05"),
        ({"expires_on": "2021-04-31"}, "expires_on", "2021-04-31 does not exist"),
        ({"name": Unreadable("无法解码", "not valid gb18030")}, "name", "not valid gb18030"),
    ],
)
def test_each_bad_cell(changes, column, message):
    errors = parse(good(**changes), headers=ZH)
    assert isinstance(errors, list)
    assert len(errors) == 1, errors
    (error,) = errors
    assert (error.row, error.column, error.header) == (7, column, ZH[FIELDS.index(column)])
    assert message in error.message
    zh, _, en = error.message.partition("（")
    assert zh and en.endswith("）")  # Chinese, then the English in brackets


def test_identity_numbers_never_appear_in_messages():
    for bad in (ID[:-1] + "Y", ID[:10] + "99" + ID[12:], ID + "1"):
        for error in parse(good(id_number=bad)):
            assert bad not in error.message
            assert ID[:17] not in error.message


def test_all_errors_of_a_row_are_collected():
    errors = parse(
        good(
            name="",
            id_number="123",
            certificate="不存在的证",
            certificate_no="",
            issuer=" ",
            issued_on="2021-02-30",
            expires_on="1899-01-01",
        )
    )
    assert [e.column for e in errors] == [
        "name",
        "id_number",
        "certificate",
        "certificate_no",
        "issuer",
        "issued_on",
        "expires_on",
    ]


def test_an_unreadable_row():
    columns = map_headers(EN)
    errors = parse_row(columns, 9, Unreadable("引号未闭合", "quote never closed"))
    assert errors == [RowError(9, None, None, "引号未闭合（quote never closed）")]
    assert errors[0].as_dict() == {
        "row": 9,
        "column": None,
        "header": None,
        "message": "引号未闭合（quote never closed）",
    }


# ----------------------------------------------------------- real files, end to end


def check(path, **options):
    """Every row of a roll file: ParsedRows and errors."""
    parsed, errors = [], []
    with open_roll(path, **options) as roll:
        columns = map_headers(roll.headers, header_row=roll.header_row)
        assert columns.ok, columns.errors()
        for number, values in roll:
            result = parse_row(columns, number, values, today=TODAY)
            (errors.extend if isinstance(result, list) else parsed.append)(result)
    return parsed, errors


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_a_csv_roll_with_quirks_of_every_column(tmp_path, encoding):
    headers = [
        " 发证日期 ",
        "证书编号",
        "姓　名",
        "身份证号码",
        "职业（工种）",
        "技能等级",
        "发证机构",
        "有效期至",
        "备注",
    ]
    lines = [
        ",".join(headers),
        # row 2: full-width digits, lower-case x, spaces: fine
        "2021年3月5日,ＨＺ 001,王芳,１１０１０５１９４９１２３１００２ｘ,保育师,四级/中级工,"
        "杭州市 人社局,2026.3.4,",
        # row 3: blank, skipped
        ",,,,,,,,",
        # row 4: the remark holds a comma and a line break: still one row
        f'20210305,HZ 002,李四,{ID2},育婴师,,杭州市人社局,,"换行,\n备注"',
        # row 5: check character wrong, unknown certificate, date that does not exist
        f"2021/2/30,HZ 003,张三,{ID[:-1]}1,保姆证,,杭州市人社局,,",
        # row 6: level contradicts the name; expiry before issue
        f"2021-03-05,HZ 004,赵六,{ID},高级育婴师,五级,杭州市人社局,2020-01-01,",
    ]
    path = tmp_path / "roll.csv"
    path.write_bytes("\r\n".join(lines).encode(encoding))
    parsed, errors = check(path)
    assert [(p.row, p.name, p.kind, p.level, p.number) for p in parsed] == [
        (2, "王芳", "childcare_worker", "4", "HZ001"),
        (4, "李四", "infant_nurturer", "4", "HZ002"),
    ]
    assert parsed[0].identity.number == "11010519491231002X"
    assert parsed[0].issuer == "杭州市人社局"
    assert parsed[0].expires_on == date(2026, 3, 4)
    assert [(e.row, e.column, e.header) for e in errors] == [
        (5, "id_number", "身份证号码"),
        (5, "certificate", "职业（工种）"),
        (5, "issued_on", " 发证日期 "),
        (6, "level", "技能等级"),
        (6, "expires_on", "有效期至"),
    ]
    assert "check character should be" in errors[0].message
    assert "unknown certificate '保姆证'" in errors[1].message
    assert "2021-02-30 does not exist" in errors[2].message


def test_an_xlsx_roll_with_date_cells_text_dates_and_number_cells(tmp_path):
    book = Workbook()
    sheet = book.active
    headers = ["Name", "ID Number", "Certificate", "Level", "Certificate No", "Issuer"]
    sheet.append([*headers, "Issued on", "Expires on"])
    sheet.append(["王芳", ID, "保育师", 4, 20210001, "人社局", datetime(2021, 3, 5), None])
    sheet.append([])
    sheet.append(["李四", ID2, "育婴员", "三级", "B-2", "人社局", "2021年3月5日", "2024/3/4"])
    sheet.append(["张三", 1.10105194912310e17, "保育师", "五级", 20210003, "人社局", 44260, None])
    sheet.append(["赵六", ID, "保育师", "五级", 2.10e17, "人社局", 20210305, datetime(2020, 1, 1)])
    sheet.append(["钱七", ID, "保育师", 5, "C", "局", 1])
    # A workbook stores every number as a double, an int written by a program too.
    sheet.append(["孙八", int(ID), "保育师", 5, "D", "局", 1])
    path = tmp_path / "roll.xlsx"
    book.save(path)
    parsed, errors = check(path)
    assert [(p.row, p.number, p.issued_on, p.expires_on, p.level) for p in parsed] == [
        (2, "20210001", date(2021, 3, 5), None, "4"),
        (4, "B-2", date(2021, 3, 5), date(2024, 3, 4), "3"),
        (7, "C", date(1900, 1, 1), None, "5"),
    ]
    assert [(e.row, e.column, e.header) for e in errors] == [
        (5, "id_number", "ID Number"),
        (6, "certificate_no", "Certificate No"),
        (6, "expires_on", "Expires on"),
        (8, "id_number", "ID Number"),
    ]
    assert "lost digits" in errors[0].message and "format the column as text" in errors[0].message


def test_rows_of_a_roll_in_random_column_order_parse_the_same(tmp_path):
    order = list(range(len(ZH)))
    random.Random(5).shuffle(order)
    row = good(issued_on="2021-03-05", expires_on="2023-01-01")
    path = tmp_path / "roll.csv"
    lines = [",".join(ZH[i] for i in order), ",".join(str(row[FIELDS[i]]) for i in order)]
    path.write_text("\n".join(lines), encoding="gbk")
    (parsed,), errors = check(path)
    assert errors == []
    assert parsed.row == 2
    assert parsed.data_key() == parse(row).data_key()


def test_future_dates_use_today_by_default():
    columns = map_headers(EN)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    values = [good(issued_on=tomorrow)[name] for name in FIELDS]
    (error,) = parse_row(columns, 2, values)
    assert error.column == "issued_on" and "in the future" in error.message
