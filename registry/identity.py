"""Identity numbers of staff and credit codes of institutions: normalisation and validation.

The lifetime-ban blacklist is matched on a keyed blind index of ``IdentityNumber.canonical``,
so everything here serves one goal: the same document typed in any way (full-width digits
from a Chinese input method, lower-case ``x``, spaces, hyphens, a 15-digit legacy number)
gives the same canonical string, and a mistyped number is *rejected*, never accepted as a
different person. Every 18-character GB 11643 number carries an ISO 7064 MOD 11-2 check
character, which catches every single-character substitution; a number whose check
character does not match is always an error.

Supported documents (``ID_TYPES``):

* ``resident_id`` 居民身份证, GB 11643-1999: 6-digit area, YYYYMMDD birth date, 3-digit
  sequence, check character. Legacy 15-digit numbers (YYMMDD, no check) are upgraded to
  18 characters. They were only ever issued for mainland resident IDs, so a 15-digit
  number with an HMT area is refused, whatever type is named.
* ``hmt_residence`` 港澳台居民居住证: the same format, area 810000 / 820000 / 830000.
* ``foreign_permanent_residence`` 外国人永久居留身份证: 2023 format, 18 characters starting
  with ``9`` with the same birth date positions and check; 2017 format, 3 letters and
  12 digits, checked for shape only.
* ``passport``: 5 to 20 letters and digits; never guessed, it must be named. A number with
  the form of one of the documents above (17 digits and a digit or X; 15 digits; 3 letters
  and 12 digits) is refused as a passport, so a barred number cannot be re-registered
  under another canonical form by declaring it a passport.

Institutions are identified by the 统一社会信用代码 (GB 32100-2015), see
``parse_institution_code``.

Errors are ``InvalidIdentifier`` with a bilingual message, Chinese then English. Messages
name positions and expected characters but never repeat the whole number, so they can be
logged.

Pure standard library.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from operator import mul

from registry import clock

__all__ = [
    "ID_TYPES",
    "InvalidIdentifier",
    "IdentityNumber",
    "normalize",
    "gb11643_check_char",
    "upgrade_legacy",
    "parse_identity",
    "uscc_check_char",
    "parse_institution_code",
]

ID_TYPES = ("resident_id", "hmt_residence", "foreign_permanent_residence", "passport")

_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts e.g. '٣'
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = "10X98765432"  # indexed by (weighted sum mod 11)
_GB11643_ZERO = ord("0") * sum(_GB11643_WEIGHTS)  # the weighted sum of the bytes of "0" * 17

_HMT_AREAS = ("810000", "820000", "830000")
_EARLIEST_BIRTH = date(1900, 1, 1)

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# Dashes removed by normalize() besides the whole Unicode "Pd" category (which holds
# '-', U+2010..U+2015, U+FE63, U+FF0D, ...): the minus sign, which NFKC also produces
# from the super- and subscript minus.
_EXTRA_DASHES = frozenset("\u2212")


class InvalidIdentifier(ValueError):
    """An identity number or institution code that cannot be accepted.

    ``.message`` is bilingual, Chinese then English, e.g.
    ``'第18位校验码应为 X（check character should be X）'``; ``.zh`` and ``.en`` hold the
    two parts.
    """

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        self.message = f"{zh}（{en}）"
        super().__init__(self.message)


@dataclass(frozen=True)
class IdentityNumber:
    """A validated identity number. Build it with ``parse_identity``."""

    id_type: str  # one of ID_TYPES
    number: str  # normalised; the 18-character form for 15-digit legacy input

    def __post_init__(self):
        if self.id_type not in ID_TYPES:
            raise ValueError(f"id_type must be one of {ID_TYPES}, got {self.id_type!r}")
        if not isinstance(self.number, str) or not self.number:
            raise ValueError("number must be a non-empty str")

    @property
    def family(self) -> str:
        """'gb11643' for every 18-character MOD 11-2 number, else 'fpr2017' or 'passport'.

        A resident ID and an HMT residence permit share the number space (the area code
        tells them apart), so a number matches the blacklist whichever of the two types it
        was registered under.
        """
        if self.id_type == "passport":
            return "passport"
        if self.id_type == "foreign_permanent_residence" and len(self.number) != 18:
            return "fpr2017"
        return "gb11643"

    @property
    def canonical(self) -> str:
        """What the keyed blind index is computed over."""
        return f"{self.family}:{self.number}"

    @property
    def masked(self) -> str:
        """First 3 and last 4 characters, the rest '*' (330***********4356).

        Not the first 6: with the area code and the check character shown, the 8 hidden
        digits are a birth date, about 2,300 candidates, which a lookup oracle recovers
        in seconds. Numbers shorter than 15 characters (passports) keep the first 2 and
        last 2; numbers of 4 characters or fewer (never produced by parse_identity) are
        masked entirely.
        """
        n = self.number
        if len(n) >= 15:
            head, tail = 3, 4
        elif len(n) > 4:
            head, tail = 2, 2
        else:
            return "*" * len(n)
        return n[:head] + "*" * (len(n) - head - tail) + n[len(n) - tail :]

    def __repr__(self) -> str:  # keep full numbers out of logs and tracebacks
        return f"IdentityNumber(id_type={self.id_type!r}, number={self.masked!r})"


# --------------------------------------------------------------------------- helpers


def _show(c: str) -> str:
    """A character for an error message: itself if printable, else its code point."""
    return c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"


def normalize(raw: str) -> str:
    """NFKC, drop whitespace, invisible format characters and dashes, upper-case.

    Full-width digits and letters (typed with Chinese input methods) become ASCII; all
    whitespace (including U+3000 and NBSP), zero-width and other format characters (Unicode
    category Cf, e.g. U+200B, U+FEFF, the soft hyphen) and dashes (Unicode category Pd,
    which covers '-', U+2010..U+2015, U+FE63, U+FF0D, plus the minus sign U+2212) are
    removed; 'x' becomes 'X'. Nothing is validated here.
    """
    if raw.__class__ is str and raw.isascii() and raw.isalnum():
        # The common case, and a fast one for rolls of millions: plain ASCII letters and
        # digits, which NFKC keeps and nothing removes.
        return raw.upper()
    if not isinstance(raw, str):
        raise TypeError(f"normalize() needs a str, got {type(raw).__name__}")
    text = unicodedata.normalize("NFKC", raw)
    kept = [
        c
        for c in text
        if not (c.isspace() or c in _EXTRA_DASHES or unicodedata.category(c) in ("Pd", "Cf"))
    ]
    return "".join(kept).upper()


class _FormError(InvalidIdentifier):
    """Wrong form (length, kinds of character) rather than wrong area, date or check.

    When the type was detected rather than named, the number may be a passport, which is
    never detected; parse_identity then says so.
    """


def _require_digits(s: str, start: int, stop: int) -> None:
    """Every character of s[start:stop] must be an ASCII digit (positions are 1-based in
    the message)."""
    for i in range(start, stop):
        if s[i] not in _DIGITS:
            raise _FormError(f"第{i + 1}位应为数字", f"character {i + 1} should be a digit")


def _require_17(first17, unit_zh: str, unit_en: str) -> None:
    if not isinstance(first17, str) or len(first17) != 17:
        got = len(first17) if isinstance(first17, str) else type(first17).__name__
        raise InvalidIdentifier(
            f"校验码计算需要17{unit_zh}，实际为{got}",
            f"the check character needs exactly 17 {unit_en}, got {got}",
        )


def gb11643_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') of 17 ASCII digits."""
    if (
        first17.__class__ is not str
        or len(first17) != 17
        or not (first17.isascii() and first17.isdigit())
    ):
        _require_17(first17, "位数字", "digits")
        _require_digits(first17, 0, 17)
    # The bytes of ASCII digits are 48 + the digit: one C-level pass, no int() per digit.
    total = sum(map(mul, first17.encode("ascii"), _GB11643_WEIGHTS)) - _GB11643_ZERO
    return _GB11643_CHECK[total % 11]


def upgrade_legacy(number15: str) -> str:
    """15-digit legacy resident ID -> 18 characters: insert '19' after the area, add check.

    Only the shape (15 ASCII digits) is checked; parse_identity also checks the area code
    and the birth date. The input is not normalised.
    """
    if not isinstance(number15, str) or len(number15) != 15:
        got = len(number15) if isinstance(number15, str) else type(number15).__name__
        raise InvalidIdentifier(
            f"旧版居民身份证号码应为15位，实际为{got}位",
            f"legacy resident ID should have 15 characters, got {got}",
        )
    _require_digits(number15, 0, 15)
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + gb11643_check_char(first17)


def _check_birth_date(yyyymmdd: str, today: date) -> None:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise InvalidIdentifier(
            f"出生日期{yyyymmdd}不存在", f"birth date {yyyymmdd} does not exist"
        ) from None
    if born < _EARLIEST_BIRTH:
        raise InvalidIdentifier(
            f"出生日期{yyyymmdd}早于19000101", f"birth date {yyyymmdd} is before 19000101"
        )
    if born > today:
        raise InvalidIdentifier(
            f"出生日期{yyyymmdd}在未来", f"birth date {yyyymmdd} is in the future"
        )


def _length_error(n: int, suffix_zh: str = "", suffix_en: str = "") -> _FormError:
    return _FormError(
        f"证件号码应为18位，实际为{n}位{suffix_zh}",
        f"identity number should have 18 characters, got {n}{suffix_en}",
    )


def _check_gb11643_shape(s: str) -> None:
    """Length and kinds of character of an 18-character GB 11643 style number."""
    if len(s) == 18 and s.isascii() and (s.isdigit() or (s[:17].isdigit() and s[17] == "X")):
        return  # the common case, in one pass
    if len(s) != 18:
        raise _length_error(len(s))
    _require_digits(s, 0, 17)
    if s[17] not in _DIGITS and s[17] != "X":
        raise _FormError("第18位应为数字或X", "character 18 should be a digit or X")


def _check_gb11643_tail(s: str, today: date) -> None:
    """Birth date and check character (after the caller's area / prefix rules)."""
    _check_birth_date(s[6:14], today)
    expected = gb11643_check_char(s[:17])
    if s[17] != expected:
        raise InvalidIdentifier(
            f"第18位校验码应为 {expected}", f"check character should be {expected}"
        )


def _reject_legacy_for(s: str, doc_zh: str, doc_en: str) -> None:
    if len(s) == 15 and all(c in _DIGITS for c in s):
        raise _length_error(
            15,
            f"；15位旧号码仅适用于居民身份证，不适用于{doc_zh}",
            f"; 15-digit legacy numbers exist only for resident IDs, not for {doc_en}",
        )


def _parse_resident(s: str, today: date) -> IdentityNumber:
    if len(s) == 15:
        s = upgrade_legacy(s)
        # Legacy numbers predate the HMT residence permits (2018): an HMT area here is a
        # mistake, and accepting it would invent a permit number nobody was issued.
        if s.startswith(_HMT_AREAS):
            raise InvalidIdentifier(
                f"地区码{s[:6]}属于港澳台：15位号码仅适用于内地居民身份证，"
                "港澳台居民居住证号码为18位",
                f"area code {s[:6]} is Hong Kong, Macao or Taiwan: 15-digit numbers exist only "
                "for mainland resident IDs; HMT residence permit numbers have 18 characters",
            )
    _check_gb11643_shape(s)
    if s[0] in "09":
        hint_zh = "，以9开头的可能是外国人永久居留身份证" if s[0] == "9" else ""
        hint_en = " (numbers starting with 9 may be foreign permanent residence IDs)"
        raise InvalidIdentifier(
            f"地区码{s[:6]}无效：居民身份证地区码不能以{s[0]}开头{hint_zh}",
            f"area code {s[:6]} is invalid: resident ID area codes cannot start with {s[0]}"
            + (hint_en if s[0] == "9" else ""),
        )
    _check_gb11643_tail(s, today)
    # Resident IDs and HMT permits share one number space; the area tells them apart.
    return IdentityNumber("hmt_residence" if s.startswith(_HMT_AREAS) else "resident_id", s)


def _parse_hmt(s: str, today: date) -> IdentityNumber:
    _reject_legacy_for(s, "港澳台居民居住证", "HMT residence permits")
    _check_gb11643_shape(s)
    if not s.startswith(_HMT_AREAS):
        raise InvalidIdentifier(
            f"港澳台居民居住证号码应以810000、820000或830000开头，实际为{s[:6]}",
            f"HMT residence permit numbers start with 810000, 820000 or 830000, got {s[:6]}",
        )
    _check_gb11643_tail(s, today)
    return IdentityNumber("hmt_residence", s)


def _parse_fpr(s: str, today: date) -> IdentityNumber:
    if len(s) == 15:
        _reject_legacy_for(s, "外国人永久居留身份证", "foreign permanent residence IDs")
        for i in range(3):
            if s[i] not in _LETTERS:
                raise _FormError(
                    f"第{i + 1}位应为字母，2017版外国人永久居留身份证为3个字母加12位数字",
                    f"character {i + 1} should be a letter A-Z "
                    "(2017 foreign permanent residence IDs are 3 letters and 12 digits)",
                )
        _require_digits(s, 3, 15)
        return IdentityNumber("foreign_permanent_residence", s)
    if len(s) != 18:
        raise _FormError(
            f"外国人永久居留身份证号码应为18位，2017版为15位，实际为{len(s)}位",
            "foreign permanent residence ID should have 18 characters (15 for the 2017 "
            f"format), got {len(s)}",
        )
    _check_gb11643_shape(s)
    if s[0] != "9":
        raise InvalidIdentifier(
            f"2023版外国人永久居留身份证号码应以9开头，实际为{s[0]}",
            f"foreign permanent residence ID (2023 format) should start with 9, got {s[0]}",
        )
    _check_gb11643_tail(s, today)
    return IdentityNumber("foreign_permanent_residence", s)


# Registering a barred resident ID "as a passport" would give it another canonical form
# (passport:... instead of gb11643:...) and so slip past the blacklist. The form alone
# decides, so a mistyped check character cannot open that door either.
_CHINESE_ID_FORM = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}|[A-Z]{3}[0-9]{12}")


def _parse_passport(s: str, today: date) -> IdentityNumber:
    if not 5 <= len(s) <= 20:
        raise InvalidIdentifier(
            f"护照号码应为5至20位，实际为{len(s)}位",
            f"passport number should have 5 to 20 characters, got {len(s)}",
        )
    for i, c in enumerate(s):
        if c not in _DIGITS and c not in _LETTERS:
            raise InvalidIdentifier(
                f"第{i + 1}位字符'{_show(c)}'不允许，护照号码只能包含字母和数字",
                f"character {i + 1} '{_show(c)}' is not allowed; "
                "passport numbers contain only letters A-Z and digits 0-9",
            )
    if _CHINESE_ID_FORM.fullmatch(s):
        raise InvalidIdentifier(
            "该号码是居民身份证、港澳台居民居住证或外国人永久居留身份证的号码格式，"
            "不能作为护照号码登记，请选择对应的证件类型",
            "this number has the form of a resident ID, HMT residence permit or foreign "
            "permanent residence ID and cannot be registered as a passport; use that id_type",
        )
    return IdentityNumber("passport", s)


_PARSERS = {
    "resident_id": _parse_resident,
    "hmt_residence": _parse_hmt,
    "foreign_permanent_residence": _parse_fpr,
    "passport": _parse_passport,
}


def _not_recognised(zh_detail: str, en_detail: str) -> InvalidIdentifier:
    return InvalidIdentifier(
        f"无法识别证件号码格式：{zh_detail}；护照号码须指明证件类型",
        f"identity number form not recognised: {en_detail}; "
        "passport numbers must be given with id_type='passport'",
    )


def _detect(s: str) -> str:
    """The type of an undeclared number, from its length and first character only.

    The type's parser checks everything else, so that each rule and message lives in one
    place. A resident_id parse still yields hmt_residence for an HMT area.
    """
    if len(s) == 18:
        return "foreign_permanent_residence" if s[0] == "9" else "resident_id"
    if len(s) == 15:
        return "foreign_permanent_residence" if s[0] in _LETTERS else "resident_id"
    raise _not_recognised(
        f"实际为{len(s)}位，应为18位，旧版居民身份证和2017版外国人永久居留身份证为15位",
        f"got {len(s)} characters, expected 18 (or 15: legacy resident ID, "
        "2017 foreign permanent residence ID)",
    )


def parse_identity(
    raw: str, id_type: str | None = None, *, today: date | None = None
) -> IdentityNumber:
    """Normalise and validate an identity number; raise InvalidIdentifier if it is wrong.

    ``id_type`` None detects the type (a passport is never guessed). A resident ID whose
    area is 810000 / 820000 / 830000 comes back as ``hmt_residence``; a 15-digit legacy
    resident ID comes back in its 18-character form. ``today`` (default clock.today())
    bounds the birth date.
    """
    if id_type is not None and id_type not in ID_TYPES:
        raise InvalidIdentifier(
            f"证件类型{id_type!r}未知，应为 {'、'.join(ID_TYPES)} 之一",
            f"unknown id_type {id_type!r}; allowed: {', '.join(ID_TYPES)}",
        )
    if not isinstance(raw, str):
        raise InvalidIdentifier("证件号码为空", "identity number is empty")
    s = normalize(raw)
    if not s:
        raise InvalidIdentifier("证件号码为空", "identity number is empty")
    if today is None:
        today = clock.today()
    elif isinstance(today, datetime):
        today = today.date()
    if id_type is not None:
        return _PARSERS[id_type](s, today)
    try:
        return _PARSERS[_detect(s)](s, today)
    except _FormError as e:
        raise _not_recognised(f"{len(s)}位号码的{e.zh}", e.en) from None


# ------------------------------------------------------------- institution codes


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a 统一社会信用代码."""
    _require_17(first17, "个字符", "characters")
    total = 0
    for i, (c, w) in enumerate(zip(first17, _USCC_WEIGHTS, strict=True)):
        if c not in _USCC_VALUES:
            raise _uscc_char_error(i, c)
        total += _USCC_VALUES[c] * w
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def _uscc_char_error(i: int, c: str) -> InvalidIdentifier:
    return InvalidIdentifier(
        f"第{i + 1}位字符'{_show(c)}'不允许",
        f"character {i + 1} '{_show(c)}' is not allowed "
        f"(allowed: {_USCC_ALPHABET}; no I, O, S, V, Z)",
    )


def parse_institution_code(raw: str) -> str:
    """Normalise and validate a 统一社会信用代码; return the 18-character code."""
    if not isinstance(raw, str):
        raise InvalidIdentifier("统一社会信用代码为空", "unified social credit code is empty")
    s = normalize(raw)
    if not s:
        raise InvalidIdentifier("统一社会信用代码为空", "unified social credit code is empty")
    if len(s) != 18:
        raise InvalidIdentifier(
            f"统一社会信用代码应为18位，实际为{len(s)}位",
            f"unified social credit code should have 18 characters, got {len(s)}",
        )
    for i, c in enumerate(s):
        if c not in _USCC_VALUES:
            raise _uscc_char_error(i, c)
        if 2 <= i <= 7 and c not in _DIGITS:
            raise InvalidIdentifier(
                f"第{i + 1}位应为数字，第3至8位为登记管理机关行政区划码",
                f"character {i + 1} should be a digit (characters 3-8 are the area code)",
            )
    expected = uscc_check_char(s[:17])
    if s[17] != expected:
        raise InvalidIdentifier(
            f"第18位校验码应为 {expected}", f"check character should be {expected}"
        )
    return s
