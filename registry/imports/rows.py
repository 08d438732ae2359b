"""From a roll's header and rows to validated certificates, or errors naming row and column.

``map_headers(roll.headers)`` finds the contract's columns (SPEC §3 "Roll columns") among
the file's headers, whatever their order, language, width or decoration: ``身份证号码``,
``证件号``, ``ID number`` and ``id_number`` are all ``id_number``. ``parse_row`` turns one
row's values into a ``ParsedRow``, or into the list of *all* its ``RowError``s, each
naming the row (as the spreadsheet shows it), the contract column, the file's header and
what is wrong and expected, in Chinese then English like every message of the registry.

No database here: checks that need other rows or the records (the same certificate twice
with different data, a number registered under another name) belong to the merge, which
gets what it needs from ``ParsedRow.key`` and ``ParsedRow.data_key()``.

``parse_row`` runs once per row of rolls of millions of rows, so everything that depends
only on the header is computed once by ``map_headers``, and the per-cell work takes the
fast path for the plain case (ASCII, printable, a ``str``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from types import MappingProxyType

from marshmallow import validate

from registry import clock
from registry.credentials import catalogue
from registry.credentials.schemas import CertificateSchema
from registry.fields import (
    EARLIEST_DAY,
    LATEST_DAY,
    normalize_certificate_number,
    normalize_organisation_name,
)
from registry.identity import ID_TYPES, IdentityNumber, InvalidIdentifier, parse_identity
from registry.people.schemas import PersonSchema

from .readers import Unreadable

__all__ = [
    "FIELDS",
    "REQUIRED",
    "ALIASES",
    "ID_TYPE_NAMES",
    "CellError",
    "RowError",
    "Columns",
    "ParsedRow",
    "header_key",
    "map_headers",
    "parse_row",
    "readable_keys",
    "is_header",
    "not_data",
    "parse_date",
    "parse_id_type",
    "normalize_certificate_number",
    "normalize_organisation_name",
]

FIELDS = (
    "name",
    "id_type",
    "id_number",
    "certificate",
    "level",
    "certificate_no",
    "issuer",
    "issued_on",
    "expires_on",
)
REQUIRED = ("name", "id_number", "certificate", "certificate_no", "issuer", "issued_on")

# Column names as in SPEC §3 plus what HR rolls really use. Compared by header_key(), so
# width, case, spaces, brackets, '*' and ':' do not matter, nor a bracketed note after the
# name (发证日期（yyyy-mm-dd）, 姓名(必填)).
ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        name: tuple(texts.split("|"))
        for name, texts in {
            "name": "姓名|名字|人员姓名|学员姓名|考生姓名|持证人|持证人姓名|full name|person name",
            "id_type": "证件类型|证件类别|证件种类|身份证件类型|id type|document type",
            "id_number": "证件号码|证件号|证件编号|身份证号|身份证号码|身份证|身份证件号码|"
            "身份证件号|身份证编号|居民身份证号|居民身份证号码|公民身份号码|公民身份证号码|"
            "身份号码|id number|id no|id|identity number|id card number|id card no",
            "certificate": "证书名称|证书|证书类型|证书种类|证书类别|职业(工种)|职业|工种|"
            "职业名称|工种名称|职业(工种)名称|资格名称|certificate|certificate name|"
            "certificate type|certificate kind|kind|occupation",
            "level": "等级|技能等级|职业技能等级|级别|证书等级|资格等级|职业资格等级|鉴定等级|"
            "认定等级|评价等级|等级(级别)|skill level|grade",
            "certificate_no": "证书编号|证书号|证书号码|证号|证书编码|证书编号(全国统一)|"
            "职业资格证书编号|职业技能等级证书编号|证书序号|certificate no|"
            "certificate number|cert no",
            "issuer": "发证机构|评价机构|发证单位|发证机关|发证部门|颁证机构|颁证单位|颁发机构|"
            "签发机构|认定机构|评价组织|评价机构名称|发证机构名称|核发机构|核发机关|"
            "issued by|issuing authority|issuing body|issuing organisation|"
            "issuing organization",
            "issued_on": "发证日期|发证时间|颁证日期|签发日期|取证日期|取证时间|获证日期|获证时间|"
            "核发日期|issue date|date of issue|issued",
            "expires_on": "有效期至|有效期|截止日期|有效期截止|有效期截止日期|有效截止日期|"
            "证书有效期至|有效日期至|到期日期|到期时间|失效日期|"
            "expiry date|expiration date|valid until|expires",
        }.items()
    }
)

_LABELS = {  # for messages: Chinese, English
    "name": ("姓名", "name"),
    "id_type": ("证件类型", "id type"),
    "id_number": ("证件号码", "identity number"),
    "certificate": ("证书名称", "certificate name"),
    "level": ("等级", "level"),
    "certificate_no": ("证书编号", "certificate number"),
    "issuer": ("发证机构", "issuer"),
    "issued_on": ("发证日期", "issue date"),
    "expires_on": ("有效期至", "expiry date"),
}


def _max_length(schema, name: str) -> int:
    """The longest text the API's schema lets ``name`` hold (its ``Length(max=…)``)."""
    for validator in schema._declared_fields[name].validators:
        if isinstance(validator, validate.Length) and validator.max is not None:
            return validator.max
    raise RuntimeError(f"{schema.__name__}.{name} has no maximum length")


# The API's own limits, read from its schemas, so that a roll stores what the API would.
NAME_MAX = _max_length(PersonSchema, "name")
NUMBER_MAX = _max_length(CertificateSchema, "number")
ISSUER_MAX = _max_length(CertificateSchema, "issuer")


class CellError(ValueError):
    """One cell that cannot be accepted; ``.message`` is bilingual, Chinese then English."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        self.message = f"{zh}（{en}）"
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class RowError:
    """What is wrong in a roll: ``row`` as the spreadsheet shows it (header = 1),
    ``column`` the contract field (``id_number``) and ``header`` the file's own header
    text, both None for the row as a whole; ``message`` bilingual."""

    row: int
    column: str | None
    header: str | None
    message: str

    def as_dict(self) -> dict:
        """The shape of SPEC §3's ``errors`` items."""
        return {
            "row": self.row,
            "column": self.column,
            "header": self.header,
            "message": self.message,
        }


# ------------------------------------------------------------------------- headers

# Characters that decorate a header without changing it: separators of English names,
# the required-field star, a trailing colon, quotes.
_HEADER_NOISE = str.maketrans("", "", " _-.*:'\"“”‘’")
_HEADER_BRACKETS = str.maketrans("", "", "()[]{}<>【】〔〕《》")
_BRACKETED = re.compile(r"[(\[{<【〔《][^)\]}>】〕》]*[)\]}>】〕》]")


def header_key(text: str) -> str:
    """The form headers are compared in: NFKC (full-width to ASCII, （ to ( ), no
    whitespace, case-folded, without separators, stars, colons, quotes or brackets."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(text.split()).casefold()
    return text.translate(_HEADER_NOISE).translate(_HEADER_BRACKETS)


def _build_index(aliases: Mapping[str, Iterable[str]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, texts in aliases.items():
        for text in (name, *texts):
            key = header_key(text)
            if index.get(key, name) != name:
                raise RuntimeError(f"header alias {text!r} names both {index[key]} and {name}")
            index[key] = name
    return index


_HEADER_INDEX = _build_index(ALIASES)


def _field_of(header: str) -> str | None:
    text = unicodedata.normalize("NFKC", header)
    found = _HEADER_INDEX.get(header_key(text))
    if found is None and _BRACKETED.search(text):
        # A bracketed note after the name: 发证日期（yyyy-mm-dd）, 姓名(必填).
        found = _HEADER_INDEX.get(header_key(_BRACKETED.sub("", text)))
    return found


@dataclass(frozen=True)
class Columns:
    """Where the contract's columns are in a roll, from ``map_headers``.

    ``positions`` maps each field found to its 0-based index in the row; ``missing``
    lists required fields without a column, ``duplicated`` the fields that two or more
    columns claim (with their indexes), ``unknown`` the headers that name no field
    (ignored). ``ok`` is true when nothing is missing or duplicated; ``errors()`` gives
    what is wrong as ``RowError``s of the header row.
    """

    headers: tuple[str, ...]
    positions: Mapping[str, int]
    missing: tuple[str, ...]
    duplicated: Mapping[str, tuple[int, ...]]
    unknown: tuple[str, ...]
    header_row: int = 1
    # parse_row's view: the header of each field in FIELDS order, and one C call that picks
    # the cells of all fields from a row fitted to len(headers) + 1 cells, the last one
    # None for the fields without a column.
    _field_headers: tuple[str | None, ...] = field(default=(), repr=False, compare=False)
    _pick: Callable = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicated

    def header(self, name: str) -> str | None:
        """The file's header text of field ``name``, or None if the file has no such column."""
        position = self.positions.get(name)
        return None if position is None else self.headers[position]

    def errors(self) -> list[RowError]:
        errors = []
        for name in self.missing:
            zh, en = _LABELS[name]
            chinese = [a for a in ALIASES[name] if not a.isascii()][:4]
            errors.append(
                RowError(
                    self.header_row,
                    name,
                    None,
                    f"缺少“{zh}”列，表头应为 {'、'.join(chinese)} 之一"
                    f"（missing column '{name}' ({en}); header expected: "
                    f"{', '.join(chinese)} or {name}）",
                )
            )
        for name, positions in self.duplicated.items():
            shown = "、".join(f"“{self.headers[i]}”" for i in positions)
            zh, en = _LABELS[name]
            errors.append(
                RowError(
                    self.header_row,
                    name,
                    self.headers[positions[1]],
                    f"{shown}都是“{zh}”列，只能保留一列"
                    f"（columns {', '.join(repr(self.headers[i]) for i in positions)} all are "
                    f"'{name}' ({en}); keep only one）",
                )
            )
        return errors


def map_headers(headers: Sequence[str], *, header_row: int = 1) -> Columns:
    """Find the contract's fields among a roll's headers (any order, Chinese or English
    aliases, width, case and decoration ignored). Empty headers are neither fields nor
    unknown. ``header_row`` is the row the headers came from (``Roll.header_row``)."""
    headers = tuple("" if h is None else str(h) for h in headers)
    found: dict[str, list[int]] = {}
    unknown = []
    for i, header in enumerate(headers):
        if not header.strip():
            continue
        name = _field_of(header)
        if name is None:
            unknown.append(header)
        else:
            found.setdefault(name, []).append(i)
    positions = {name: found[name][0] for name in FIELDS if name in found}
    absent = len(headers)
    return Columns(
        headers=headers,
        positions=MappingProxyType(positions),
        missing=tuple(name for name in REQUIRED if name not in found),
        duplicated=MappingProxyType(
            {name: tuple(found[name]) for name in FIELDS if len(found.get(name, ())) > 1}
        ),
        unknown=tuple(unknown),
        header_row=header_row,
        _field_headers=tuple(
            headers[positions[name]] if name in positions else None for name in FIELDS
        ),
        _pick=itemgetter(*(positions.get(name, absent) for name in FIELDS)),
    )


# ---------------------------------------------------------------------------- cells


def _lost_digits() -> CellError:
    return CellError(
        "该单元格在 Excel 中以数字保存，超过15位的数字已丢失；请把该列设置为“文本”格式，"
        "重新输入号码后保存",
        "stored as a number in Excel and lost digits beyond the 15th; format the column as "
        "text, type the numbers again and save",
    )


def _scientific() -> CellError:
    return CellError(
        "号码显示为科学计数法（如 1.1E+17），数字已丢失；请在 Excel 中把该列设置为“文本”格式，"
        "重新输入号码后保存",
        "the number is in scientific notation (like 1.1E+17) and its digits are lost; format "
        "the column as text in Excel, type the numbers again and save",
    )


def _text(value) -> str:
    """A cell as text, stripped; '' when empty. Numbers from a workbook become their
    digits (20210001, not 20210001.0); a number of 16 digits or more was rounded by Excel
    (it keeps 15 significant digits) and is refused rather than read as another number."""
    cls = value.__class__
    if cls is str:
        return value.strip()
    if value is None:
        return ""
    if cls is int:
        return str(value)
    if cls is float:
        if not math.isfinite(value):
            raise CellError("不是有效的数字", "not a valid number")
        if abs(value) >= 1e15:
            raise _lost_digits()
        return str(int(value)) if value.is_integer() else repr(value)
    if cls is Unreadable:
        raise CellError(value.zh, value.en)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    return str(value).strip()


def _shown(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_line(value: str, name: str) -> str:
    """The rules of registry.fields.Text: non-empty, no control characters or lone
    surrogates (``value`` is already stripped)."""
    if not value:
        zh, en = _LABELS[name]
        raise CellError(f"{zh}为空", f"{en} is empty")
    if not value.isprintable():  # rare: spaces other than ' ', controls, surrogates
        for position, char in enumerate(value, start=1):
            if unicodedata.category(char) in ("Cc", "Cs"):
                raise CellError(
                    f"第{position}个字符（U+{ord(char):04X}）不允许",
                    f"character {position} (U+{ord(char):04X}) is not allowed",
                )
    return value


def _check_length(value: str, name: str, limit: int) -> str:
    """The schema's ``validate.Length(max=...)``, on the value as it will be stored."""
    if len(value) > limit:
        zh, en = _LABELS[name]
        raise CellError(
            f"{zh}不能超过{limit}个字符，实际为{len(value)}个",
            f"{en} must have at most {limit} characters, got {len(value)}",
        )
    return value


# What clerks put in an optional cell that does not apply.
_NOT_APPLICABLE = frozenset({"无", "/", "-", "--", "—", "——", "不适用", "n/a", "na", "none"})
# What an expiry cell says of a certificate that does not expire.
_NO_EXPIRY = frozenset({"长期", "长期有效", "永久", "永久有效", "无期限", "无限期"})


def _no_expiry(text: str) -> bool:
    """An expiry cell that says there is none: 长期有效, 无, /."""
    if len(text) > 8 or text[0] in "0123456789":
        return False
    text = unicodedata.normalize("NFKC", text).strip().casefold()
    return text in _NO_EXPIRY or text in _NOT_APPLICABLE or not text


def _optional(text: str) -> str:
    """'' for a placeholder such as 无 or /, else the text."""
    if len(text) <= 4 and unicodedata.normalize("NFKC", text).casefold() in _NOT_APPLICABLE:
        return ""
    return text


# ---------------------------------------------------------------------------- dates

_CACHE = 4096  # distinct texts remembered, of dates and below of certificates, issuers …

# Excel's 1900 date system: serial 1 is 1900-01-01, and serial 60 is 1900-02-29, a day
# that never was (Lotus 1-2-3's bug, kept for compatibility); from 61 on, serial n is
# 1899-12-30 + n days.
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_MAX = (LATEST_DAY - _EXCEL_EPOCH).days
_DATE = re.compile(
    r"(?P<y>[0-9]{4})"
    r"(?:(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"
    r"|\s*年\s*(?P<cm>[0-9]{1,2})\s*月\s*(?P<cd>[0-9]{1,2})\s*[日号]?"
    r"|(?P<pm>[0-9]{2})(?P<pd>[0-9]{2}))"
    # A time after the date, as some exports write it: ignored.
    r"(?:(?:\s+|T)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
)
_DATE_FORMS_ZH = "2021-03-05、2021/3/5、2021.3.5、2021年3月5日 或 20210305"
_DATE_FORMS_EN = "2021-03-05, 2021/3/5, 2021.3.5, 2021年3月5日 or 20210305"


def _day(y: int, m: int, d: int) -> date:
    try:
        day = date(y, m, d)
    except ValueError:
        shown = f"{y:04d}-{m:02d}-{d:02d}"
        raise CellError(f"日期{shown}不存在", f"the date {shown} does not exist") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise CellError(
            f"日期{day}不在{EARLIEST_DAY}至{LATEST_DAY}之间",
            f"the date {day} is outside {EARLIEST_DAY} to {LATEST_DAY}",
        )
    return day


def _serial(value: int | float) -> date:
    if value.__class__ is float and not math.isfinite(value):
        raise CellError("不是有效的日期", "not a valid date")
    whole = math.floor(value)
    if 19000101 <= whole <= 21001231 and whole == value:
        # 20210305 typed into a number cell.
        return _day(whole // 10000, whole // 100 % 100, whole % 100)
    if 1900 <= whole <= 2100:
        raise CellError(
            f"{whole}只是年份，应为完整日期，如 {_DATE_FORMS_ZH}",
            f"{whole} is only a year; expected a full date: {_DATE_FORMS_EN}",
        )
    if whole == 60:
        raise CellError(
            "Excel 日期序号60是1900-02-29，该日期不存在",
            "Excel serial 60 is 1900-02-29, a date that does not exist",
        )
    if 1 <= whole <= _SERIAL_MAX:
        return _EXCEL_EPOCH + timedelta(days=whole if whole > 60 else whole + 1)
    shown = repr(value)
    raise CellError(
        f"数字{shown}既不是 Excel 日期也不是 YYYYMMDD 形式的日期，应为 {_DATE_FORMS_ZH}",
        f"the number {shown} is neither an Excel date nor a YYYYMMDD date; "
        f"expected {_DATE_FORMS_EN}",
    )


def parse_date(value) -> date | None:
    """A date from a roll cell, or None when the cell is empty.

    Accepts date cells (datetime or date), Excel serial numbers of the 1900 date system and
    8-digit numbers YYYYMMDD, and text in the forms of SPEC §3 (2021-03-05, 2021/3/5,
    2021.3.5, 2021年3月5日, 20210305) in any width, with spaces around and an ignored
    time after. Raises CellError for a date that does not exist or lies outside 1900-2100.
    """
    cls = value.__class__
    if cls is str:
        return _date_text(value)
    if value is None:
        return None
    if cls is datetime:
        return _day(value.year, value.month, value.day)
    if cls is int or cls is float:
        return _serial(value)
    if cls is Unreadable:
        raise CellError(value.zh, value.en)
    if isinstance(value, date):  # date, or a datetime subclass
        return _day(value.year, value.month, value.day)
    raise CellError(f"应为日期，如 {_DATE_FORMS_ZH}", f"expected a date such as {_DATE_FORMS_EN}")


@lru_cache(maxsize=8 * _CACHE)
def _date_text(value: str) -> date | None:
    # A roll's dates repeat (a few years of issue and expiry days, in a form or two:
    # thousands of texts, hence the larger cache): each text is parsed once. Errors are
    # not remembered, and are raised again.
    text = value if value.isascii() else unicodedata.normalize("NFKC", value)
    text = text.strip()
    if not text:
        return None
    m = _DATE.fullmatch(text)
    if m is None:
        shown = _shown(value)
        raise CellError(
            f"无法识别日期'{shown}'，应为 {_DATE_FORMS_ZH}",
            f"date '{shown}' not recognised; expected {_DATE_FORMS_EN}",
        )
    y, _, m1, d1, m2, d2, m3, d3 = m.groups()
    return _day(int(y), int(m1 or m2 or m3), int(d1 or d2 or d3))


# ------------------------------------------------------------------------- id types

ID_TYPE_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        id_type: tuple(texts.split("|"))
        for id_type, texts in {
            "resident_id": "居民身份证|身份证|中华人民共和国居民身份证|二代身份证|第二代居民身份证|"
            "内地居民身份证|大陆居民身份证|resident id card|id card",
            "hmt_residence": "港澳台居民居住证|港澳居民居住证|台湾居民居住证|港澳台居住证|"
            "hmt residence permit",
            "foreign_permanent_residence": "外国人永久居留身份证|外国人永久居留证|"
            "外国人永久居留身份证件|永久居留身份证|永居证|foreign permanent residence id",
            "passport": "护照|外国护照|中国护照|普通护照",
        }.items()
    }
)


def _id_type_key(text: str) -> str:
    return header_key(text)


_ID_TYPE_INDEX = {
    _id_type_key(text): id_type
    for id_type, names in ID_TYPE_NAMES.items()
    for text in (id_type, *names)
}
_ID_TYPES_SHOWN = "居民身份证、港澳台居民居住证、外国人永久居留身份证、护照"


def parse_id_type(value) -> str | None:
    """The contract id_type named by a cell (居民身份证, 护照, resident_id …), or None
    when empty: parse_identity then detects it."""
    text = _optional(_text(value))
    if not text:
        return None
    found = _ID_TYPE_INDEX.get(_id_type_key(text))
    if found is None:
        shown = _shown(text)
        raise CellError(
            f"无法识别证件类型'{shown}'，应为 {_ID_TYPES_SHOWN} 之一，或留空",
            f"unknown id type '{shown}'; expected one of {', '.join(ID_TYPES)} "
            f"({_ID_TYPES_SHOWN}) or empty",
        )
    return found


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One valid row of a roll.

    ``expires_on`` is None when the roll leaves it empty: the merge applies the legal
    validity then (``catalogue.default_expiry(kind, issued_on)``), as the API does, so
    that a roll that states no expiry and one that states the legal one are told apart
    in the history.
    """

    row: int
    name: str
    identity: IdentityNumber
    kind: str
    level: str | None
    number: str
    issuer: str
    issued_on: date
    expires_on: date | None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the certificate across rolls and imports: issuer and number."""
        return (self.issuer, self.number)

    def data_key(self) -> tuple:
        """Everything the row says, in a fixed order: two rows with the same ``key`` and
        different ``data_key()`` contradict each other."""
        return (
            self.issuer,
            self.number,
            self.identity.canonical,
            self.name,
            self.kind,
            self.level,
            self.issued_on,
            self.expires_on,
        )


# A roll names few certificates, levels, issuers and id types, each on many rows: what
# they resolve to is remembered (errors are not, and are raised again).


@lru_cache(maxsize=_CACHE)
def _kind(text: str) -> tuple[str, str | None]:
    """The kind and the level the certificate's name gives: 高级育婴师, and as rolls write
    it, with the level after the name: 保育师（四级）, 育婴员四级, 保育师四级/中级工."""
    try:
        return catalogue.resolve_kind(text)
    except catalogue.CertificateError:
        text = unicodedata.normalize("NFKC", text).strip()
        for split in range(len(text) - 1, 0, -1):
            try:
                kind, implied = catalogue.resolve_kind(text[:split])
                return kind, catalogue.normalize_level(kind, text[split:], implied)
            except catalogue.CertificateError:
                continue
        raise


# The middle dot of minority and foreign names (阿依古丽·买买提) as input methods and fonts
# give it: one form is kept, so the same name is the same text whichever was typed.
_NAME_DOTS = str.maketrans(dict.fromkeys("•・．‧∙⋅･ꞏ", "·"))
_AROUND_DOT = re.compile(r"\s*·\s*")


def _name(value) -> str:
    name = _text(value).translate(_NAME_DOTS)
    if "·" in name:
        name = _AROUND_DOT.sub("·", name)
    return _check_length(_check_line(name, "name"), "name", NAME_MAX)


@lru_cache(maxsize=_CACHE)
def _level(kind: str, implied: str | None, text: str) -> str | None:
    return catalogue.normalize_level(kind, _optional(text) or None, implied)


@lru_cache(maxsize=_CACHE)
def _issuer(text: str) -> str:
    return _check_length(normalize_organisation_name(text), "issuer", ISSUER_MAX)


def _id_type(value) -> str | None:
    if value is None or value == "":
        return None
    return _id_type_text(value) if value.__class__ is str else parse_id_type(value)


@lru_cache(maxsize=_CACHE)
def _id_type_text(text: str) -> str | None:
    return parse_id_type(text)


# ------------------------------------------------------------------- the columns
#
# One parser per contract column, in FIELDS order: ``parse(cell, row, today)`` gives the
# field's value from its cell, reading in ``row`` the fields parsed before it; it raises
# one of _CELL_ERRORS for a cell that cannot be accepted. A parser whose ``needs`` did
# not parse is not run (a level cannot be checked without its certificate).


def _certificate_no(value) -> str:
    raw = _check_line(_text(value), "certificate_no")
    if "E+" in raw or "e+" in raw:
        raise _scientific()
    return _check_length(normalize_certificate_number(raw), "certificate_no", NUMBER_MAX)


def _identity(value, id_type: str | None, today: date) -> IdentityNumber:
    raw = _text(value)
    if "E+" in raw or "e+" in raw:
        raise _scientific()
    return parse_identity(raw, id_type, today=today)


def _issued_on(value, row: dict, today: date) -> date:
    issued_on = parse_date(value)
    if issued_on is None:
        raise CellError(
            f"发证日期为空，应为日期，如 {_DATE_FORMS_ZH}",
            f"issue date is empty; expected a date such as {_DATE_FORMS_EN}",
        )
    if issued_on > today:
        raise CellError(
            f"发证日期{issued_on}在未来，今天是{today}",
            f"issue date {issued_on} is in the future (today is {today})",
        )
    return issued_on


def _expires_on(value, row: dict, today: date) -> date | None:
    if value.__class__ is str and value and _no_expiry(value):
        return None
    expires_on = parse_date(value)
    issued_on = row.get("issued_on")
    if expires_on is not None and issued_on is not None and expires_on < issued_on:
        raise CellError(
            f"有效期至{expires_on}早于发证日期{issued_on}",
            f"expiry date {expires_on} is before the issue date {issued_on}",
        )
    return expires_on


@dataclass(frozen=True, slots=True)
class _Column:
    field: str
    parse: Callable  # (cell, row, today) -> value
    needs: str | None = None


_COLUMNS = (
    _Column("name", lambda cell, row, today: _name(cell)),
    _Column("id_type", lambda cell, row, today: _id_type(cell)),
    _Column(
        "id_number", lambda cell, row, today: _identity(cell, row["id_type"], today), "id_type"
    ),
    # (kind, the level its name gives)
    _Column("certificate", lambda cell, row, today: _kind(_text(cell))),
    _Column(
        "level", lambda cell, row, today: _level(*row["certificate"], _text(cell)), "certificate"
    ),
    _Column("certificate_no", lambda cell, row, today: _certificate_no(cell)),
    _Column("issuer", lambda cell, row, today: _issuer(_check_line(_text(cell), "issuer"))),
    _Column("issued_on", _issued_on),
    _Column("expires_on", _expires_on),
)
assert tuple(c.field for c in _COLUMNS) == FIELDS
_CELL_ERRORS = (CellError, InvalidIdentifier, catalogue.CertificateError)


def _cells(columns: Columns, values) -> tuple:
    """The cells of the contract's fields in FIELDS order, None where a column is missing
    (the row may be shorter or longer than the header)."""
    width = len(columns.headers)
    if len(values) == width:
        values = [*values, None]  # what the fields without a column read
    else:
        values = [*values[:width], *([None] * (width + 1 - min(len(values), width)))]
    return columns._pick(values)


def parse_row(
    columns: Columns, row_number: int, values, *, today: date | None = None
) -> ParsedRow | list[RowError]:
    """Validate one row of a roll: a ``ParsedRow``, or every error of the row.

    ``values`` is what a ``Roll`` yields: a list of cells (shorter or longer than the
    header is fine) or an ``Unreadable`` for the row as a whole. ``today`` (default
    clock.today()) bounds the issue date. ``columns`` must be ``ok``.
    """
    if not columns.ok:
        raise ValueError("the roll's columns are wrong; report columns.errors() instead")
    if values.__class__ is Unreadable:
        return [RowError(row_number, None, None, values.message)]
    if today is None:
        today = clock.today()
    row: dict = {}
    errors: list[RowError] = []
    cells = _cells(columns, values)
    for column, cell, header in zip(_COLUMNS, cells, columns._field_headers, strict=True):
        if column.needs is not None and column.needs not in row:
            continue
        try:
            row[column.field] = column.parse(cell, row, today)
        except _CELL_ERRORS as exc:
            errors.append(RowError(row_number, column.field, header, exc.message))
    if errors:
        return errors
    kind, _ = row["certificate"]
    return ParsedRow(
        row=row_number,
        name=row["name"],
        identity=row["id_number"],
        kind=kind,
        level=row["level"],
        number=row["certificate_no"],
        issuer=row["issuer"],
        issued_on=row["issued_on"],
        expires_on=row["expires_on"],
    )


def readable_keys(columns: Columns, values, *, today: date) -> tuple:
    """Of a row ``parse_row`` refused: what can still be read of whom and of which
    certificate it speaks, ``(identity, name, issuer, number)``, each None when its cell
    cannot be read. The checks across rows compare these too, so that a row failing for
    one reason cannot hide that it gives a number another row gives under another name."""
    if values.__class__ is Unreadable:
        return None, None, None, None
    cells = dict(zip(FIELDS, _cells(columns, values), strict=True))
    row: dict = {}
    for column in _COLUMNS:
        if column.field in ("name", "id_type", "id_number", "certificate_no", "issuer"):
            if column.needs is not None and column.needs not in row:
                continue
            try:
                row[column.field] = column.parse(cells[column.field], row, today)
            except _CELL_ERRORS:
                pass
    return tuple(row.get(f) for f in ("id_number", "name", "issuer", "certificate_no"))


# ---------------------------------------------------------------- around the table

HEADER_FIELDS = 3  # columns a row must name to be the header


def is_header(texts: Sequence[str]) -> bool:
    """Whether a row is a roll's header: it names at least ``HEADER_FIELDS`` of the
    contract's columns (a title, a 填报单位 line or a note names one at most)."""
    found = set()
    for text in texts:
        if text and text.strip():
            name = _field_of(text)
            if name is not None:
                found.add(name)
    return len(found) >= HEADER_FIELDS


# What the lines under a published roll say: totals, signatures, stamps, dates, notes.
_FOOTER = re.compile(
    r"合计|总计|小计|共计|制表|审核|审批|填表|填报|负责人|联系人|经办人|签字|签名|盖章|"
    r"[(（]章[)）]|日期|以下空白|以下无|^\s*(?:注|备注|说明)\s*[:：]"
)
# What a total line puts in the other columns: 25, 共25人, 25名.
_COUNT = re.compile(r"共?\s*[0-9]+\s*[人名条项个张本]?")


def _footer_cell(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text)
    return bool(_FOOTER.search(text) or _COUNT.fullmatch(text))


def not_data(columns: Columns, values) -> bool:
    """Whether a row that ``parse_row`` refused is no data at all, to be skipped rather
    than reported: a total (合计), a signature line (制表人、审核人), a date alone, or a row
    whose only cells are in columns the registry does not use (序号 of an empty line).
    A row with any of a person's or a certificate's fields is data, and its errors are
    reported."""
    if values.__class__ is Unreadable:
        return False
    width = len(columns.headers)
    values = [*values[:width], *([None] * (width + 1 - min(len(values), width)))]
    used = [t for t in map(_text_or_none, columns._pick(values)) if t]
    if not used:
        return True  # only the 序号, 备注 … of a line nobody filled in
    cells = [v for v in values if _text_or_none(v)]
    texts = [_text_or_none(v) for v in cells]
    if any(_FOOTER.search(unicodedata.normalize("NFKC", t)) for t in texts):
        return all(_footer_cell(t) for t in used)
    if len(cells) == 1:  # a date alone, under the signatures
        try:
            return parse_date(cells[0]) is not None
        except CellError:
            return False
    return False


def _text_or_none(value) -> str:
    """A cell's text for telling data from footer lines: '' when empty, '?' when it
    cannot be read (something is there)."""
    if value is None:
        return ""
    try:
        return _text(value)
    except CellError:
        return "?"
