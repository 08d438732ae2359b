"""The certificate catalogue: names, aliases, skill levels and legal validity of each kind.

The data lives in ``catalogue.toml`` beside this module and is loaded and checked once, at
import; a malformed file raises ``CatalogueError`` then, not on the first roll import.

Roll imports map what a spreadsheet says to the contract: ``resolve_kind('高级育婴师')`` is
``('infant_nurturer', '3')``, ``normalize_level('childcare_worker', '三级（高级工）')`` is
``'3'``. Levels are the five national vocational skill levels, canonical ``'1'`` (一级/高级技师)
to ``'5'`` (五级/初级工). Errors are ``UnknownCertificate`` and ``InvalidLevel`` with a
bilingual ``.message``, Chinese then English, as in ``registry.identity``.

Pure standard library.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from types import MappingProxyType
from typing import NoReturn

from registry.vocabulary import CERTIFICATE_KINDS

__all__ = [
    "LEVELS",
    "CatalogueError",
    "CertificateError",
    "UnknownCertificate",
    "InvalidLevel",
    "Validity",
    "CertificateKind",
    "KINDS",
    "load_catalogue",
    "resolve_kind",
    "normalize_level",
    "level_name",
    "default_expiry",
]

LEVELS = ("1", "2", "3", "4", "5")
_LEVEL_NAMES = {
    "1": "一级/高级技师",
    "2": "二级/技师",
    "3": "三级/高级工",
    "4": "四级/中级工",
    "5": "五级/初级工",
}


class CatalogueError(Exception):
    """catalogue.toml is malformed.

    Not a ValueError: it is a deployment mistake, and callers that turn ValueErrors from
    user input into 422s must not swallow it.
    """


class CertificateError(ValueError):
    """A certificate name or level that cannot be accepted.

    ``.message`` is bilingual, Chinese then English; ``.zh`` and ``.en`` hold the parts.
    """

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        self.message = f"{zh}（{en}）"
        super().__init__(self.message)


class UnknownCertificate(CertificateError):
    """The text names no certificate kind of the catalogue."""


class InvalidLevel(CertificateError):
    """A level that is unreadable, absent from the kind, or contradicts the name."""


@dataclass(frozen=True)
class Validity:
    """How long a certificate is valid from its issue date: ``days`` or calendar ``years``.

    ``expiry`` is the last day it is valid. With ``day_before`` the years end the day
    before the anniversary: a health certificate holds through the day before its
    examination's first anniversary (2025-03-05 → 2026-03-04; 2024-02-29 → 2025-02-28),
    the same day the eligibility rule takes.
    """

    days: int | None = None
    years: int | None = None
    day_before: bool = False

    def expiry(self, issued_on: date) -> date:
        if self.days is not None:
            return issued_on + timedelta(days=self.days)
        year = issued_on.year + (self.years or 0)
        try:
            anniversary = issued_on.replace(year=year)
        except ValueError:  # 29 February, and the target year is not a leap year
            if self.day_before:
                return date(year, 2, 28)  # the anniversary is taken as 1 March
            return issued_on.replace(year=year, day=28)
        return anniversary - timedelta(days=1) if self.day_before else anniversary

    def __str__(self) -> str:
        if self.days is not None:
            return f"{self.days} days"
        if self.day_before:
            return f"{self.years} years, through the day before the anniversary"
        return f"{self.years} years"


@dataclass(frozen=True)
class CertificateKind:
    """One kind of the catalogue. ``aliases`` excludes ``name``; ``levels`` lowest first."""

    kind: str
    name: str
    aliases: tuple[str, ...]
    levels: tuple[str, ...]
    implied_levels: Mapping[str, str] = field(hash=False)  # alias -> level
    validity: Validity | None

    @property
    def has_levels(self) -> bool:
        return bool(self.levels)


# ------------------------------------------------------------------- normalisation

# Brackets and quotes carry no meaning in a certificate name as typed in a roll:
# 《护士执业证书》, 教师资格证（幼儿园）, "保育员". NFKC has already made full-width ones ASCII.
_NAME_NOISE = frozenset("()[]{}<>《》〈〉【】〔〕〖〗「」『』\"'“”‘’")


def _key(text: str) -> str:
    """The form names are compared in: NFKC, no whitespace, format characters, brackets or
    quotes, case-folded, and 证书 written 证 (rolls use both for the same certificate)."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(
        c for c in text if not (c.isspace() or c in _NAME_NOISE or unicodedata.category(c) == "Cf")
    )
    return kept.casefold().replace("证书", "证")


def _shown(text: str, limit: int = 40) -> str:
    """User text for an error message: trimmed, and cut short so a stray cell stays short."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------- loading

_KIND_KEYS = frozenset({"name", "aliases", "levels", "implied_levels", "validity"})
_VALIDITY_KEYS = frozenset({"days", "years"})
# validity.last_day: the anniversary itself (the default), or the day before it.
_LAST_DAYS = {"anniversary": False, "day_before_anniversary": True}


_Fail = Callable[[str], NoReturn]


def _str_list(value: object, fail: _Fail, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(f"{what} must be a list of strings")
    if len(set(value)) != len(value):
        fail(f"{what} lists a value twice")
    return tuple(value)


def _parse_validity(value: object, fail: _Fail) -> Validity:
    if isinstance(value, dict):
        value = dict(value)
        last_day = value.pop("last_day", "anniversary")
    if not isinstance(value, dict) or len(value) != 1:
        fail("validity must be a table with exactly one of days, years")
    ((unit, amount),) = value.items()
    if unit not in _VALIDITY_KEYS:
        fail(f"validity: unknown key {unit!r} (known: days, years, last_day)")
    if type(amount) is not int or amount <= 0:
        fail(f"validity.{unit} must be a positive integer, got {amount!r}")
    if last_day not in _LAST_DAYS:
        fail(f"validity.last_day must be one of {', '.join(_LAST_DAYS)}, got {last_day!r}")
    if _LAST_DAYS[last_day] and unit != "years":
        fail("validity.last_day goes with years")
    return Validity(**{unit: amount}, day_before=_LAST_DAYS[last_day])


def _parse_kind(kind: str, entry: object, origin: str) -> CertificateKind:
    def fail(message: str) -> NoReturn:
        raise CatalogueError(f"{origin}: kinds.{kind}: {message}")

    if not isinstance(entry, dict):
        fail("must be a table")
    unknown = sorted(set(entry) - _KIND_KEYS)
    if unknown:
        fail(f"unknown keys {unknown} (known: {', '.join(sorted(_KIND_KEYS))})")
    if entry.get("name") != CERTIFICATE_KINDS[kind]:
        fail(
            f"name must be {CERTIFICATE_KINDS[kind]!r} as in registry.vocabulary, "
            f"got {entry.get('name')!r}"
        )
    aliases = _str_list(entry.get("aliases", []), fail, "aliases")
    levels = _str_list(entry.get("levels", []), fail, "levels")
    if not set(levels) <= set(LEVELS):
        fail(f"levels must be among {', '.join(LEVELS)}, got {list(levels)}")
    implied = entry.get("implied_levels", {})
    if not isinstance(implied, dict):
        fail("implied_levels must be a table of alias = level")
    for alias, level in implied.items():
        if alias not in aliases:
            fail(f"implied_levels: {alias!r} is not one of the aliases")
        if level not in levels:
            fail(f"implied_levels: {alias!r} = {level!r} is not one of the levels")
    validity = _parse_validity(entry["validity"], fail) if "validity" in entry else None
    return CertificateKind(
        kind=kind,
        name=entry["name"],
        aliases=aliases,
        levels=tuple(sorted(levels, reverse=True)),
        implied_levels=MappingProxyType(dict(implied)),
        validity=validity,
    )


def _index(kinds: Mapping[str, CertificateKind], origin: str) -> dict[str, tuple[str, str | None]]:
    """Normalised name -> (kind, implied level); two names with one key are an error,
    within a kind too (the second would be dead weight)."""
    index: dict[str, tuple[str, str | None]] = {}
    owner: dict[str, str] = {}
    for entry in kinds.values():
        names = (entry.kind, entry.name, *entry.aliases)
        for text in names:
            key = _key(text)
            if not key:
                raise CatalogueError(f"{origin}: kinds.{entry.kind}: empty alias {text!r}")
            if key in index:
                other_kind = index[key][0]
                raise CatalogueError(
                    f"{origin}: {text!r} of kinds.{entry.kind} and {owner[key]!r} of "
                    f"kinds.{other_kind} are the same name once normalised"
                )
            index[key] = (entry.kind, entry.implied_levels.get(text))
            owner[key] = text
    return index


def load_catalogue(text: str, origin: str = "catalogue.toml") -> dict[str, CertificateKind]:
    """Parse and check a catalogue; raise CatalogueError naming what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CatalogueError(f"{origin}: not valid TOML: {e}") from e
    if set(data) != {"kinds"} or not isinstance(data["kinds"], dict):
        raise CatalogueError(f"{origin}: expected only a [kinds] table, got {sorted(data)}")
    tables = data["kinds"]
    unknown = sorted(set(tables) - set(CERTIFICATE_KINDS))
    if unknown:
        raise CatalogueError(f"{origin}: unknown kinds {unknown}")
    missing = [kind for kind in CERTIFICATE_KINDS if kind not in tables]
    if missing:
        raise CatalogueError(f"{origin}: kinds missing: {missing}")
    kinds = {kind: _parse_kind(kind, tables[kind], origin) for kind in CERTIFICATE_KINDS}
    _index(kinds, origin)
    return kinds


_SOURCE = resources.files(__package__).joinpath("catalogue.toml")
KINDS: dict[str, CertificateKind] = load_catalogue(
    _SOURCE.read_text(encoding="utf-8"), origin=str(_SOURCE)
)
_BY_KEY = _index(KINDS, str(_SOURCE))


# ---------------------------------------------------------------------- public API


def _entry(kind: str) -> CertificateKind:
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise UnknownCertificate(
            f"证书类型'{kind}'未知，应为 {'、'.join(KINDS)} 之一",
            f"unknown certificate kind '{kind}'; allowed: {', '.join(KINDS)}",
        ) from None


def resolve_kind(text: str) -> tuple[str, str | None]:
    """The kind named by ``text`` (contract value or Chinese name or alias) and the level
    the name itself implies (高级育婴师 -> '3'), or None."""
    key = _key(text) if isinstance(text, str) else ""
    if not key:
        raise UnknownCertificate("证书名称为空", "certificate name is empty")
    try:
        return _BY_KEY[key]
    except KeyError:
        shown = _shown(text)
        raise UnknownCertificate(
            f"无法识别证书名称'{shown}'", f"unknown certificate '{shown}'"
        ) from None


_LEVEL_WORDS = {
    "高级技师": "1",
    "技师": "2",
    "高级工": "3",
    "中级工": "4",
    "初级工": "5",
    "高级": "3",
    "中级": "4",
    "初级": "5",
    "一级": "1",
    "二级": "2",
    "三级": "3",
    "四级": "4",
    "五级": "5",
}
# What rolls put around a level: 国家职业资格三级, 职业技能等级：三级, 五级/初级工, 三级（高级工）.
_LEVEL_FILLERS = ("国家职业资格", "职业技能等级", "职业资格", "技能等级", "等级")
_LEVEL_SEPARATORS = r"[/\\|()\[\]【】〔〕、,;:·\-—–]"
_LEVEL_TOKEN = re.compile(
    "(?P<word>{})|(?P<digit>[1-5])(?![0-9])级?|(?:{})|{}".format(
        "|".join(sorted(_LEVEL_WORDS, key=len, reverse=True)),
        "|".join(sorted(_LEVEL_FILLERS, key=len, reverse=True)),
        _LEVEL_SEPARATORS,
    )
)


def _parse_level(text: str) -> str:
    s = "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace())
    found: list[str] = []
    pos = 0
    while pos < len(s):
        m = _LEVEL_TOKEN.match(s, pos)
        if m is None:
            found = []
            break
        if m["word"]:
            found.append(_LEVEL_WORDS[m["word"]])
        elif m["digit"]:
            found.append(m["digit"])
        pos = m.end()
    shown = _shown(text)
    if not found:
        raise InvalidLevel(
            f"无法识别等级'{shown}'，应为一级至五级、1-5、初级/中级/高级/技师/高级技师",
            f"level '{shown}' not recognised; use 一级…五级, 1-5, 初级/中级/高级/技师/高级技师",
        )
    if len(set(found)) > 1:
        distinct = list(dict.fromkeys(found))
        raise InvalidLevel(
            f"等级'{shown}'前后不一致：" + "与".join(_LEVEL_NAMES[v] for v in distinct),
            f"level '{shown}' is inconsistent: {' vs '.join(distinct)}",
        )
    return found[0]


def normalize_level(kind: str, text: str | None, implied: str | None = None) -> str | None:
    """The canonical level ('1'..'5') of ``text`` for ``kind``.

    An empty ``text`` gives ``implied`` (the level resolve_kind found in the name), which
    a given level must agree with.
    """
    entry = _entry(kind)
    if implied is not None and implied not in entry.levels:
        raise ValueError(f"implied level {implied!r} is not a level of {kind}")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"level must be a str or None, got {type(text).__name__}")
    if text is None or not text.strip():
        return implied
    if not entry.has_levels:
        shown = _shown(text)
        raise InvalidLevel(
            f"{entry.name}没有等级，不应填写等级'{shown}'",
            f"{kind} has no levels, got level '{shown}'",
        )
    level = _parse_level(text)
    if level not in entry.levels:
        raise InvalidLevel(
            f"{entry.name}没有{_LEVEL_NAMES[level]}，只有"
            + "、".join(_LEVEL_NAMES[v] for v in entry.levels),
            f"{kind} has no level {level}; its levels are {', '.join(entry.levels)}",
        )
    if implied is not None and level != implied:
        raise InvalidLevel(
            f"证书名称表明等级为{_LEVEL_NAMES[implied]}，与填写的{_LEVEL_NAMES[level]}不符",
            f"the certificate name implies level {implied}, but level {level} was given",
        )
    return level


def level_name(level: str) -> str:
    """The Chinese name of a canonical level: '3' -> '三级/高级工'."""
    try:
        return _LEVEL_NAMES[level]
    except (KeyError, TypeError):
        raise InvalidLevel(
            f"等级'{level}'不是1至5之一", f"level '{level}' is not one of 1-5"
        ) from None


def default_expiry(kind: str, issued_on: date) -> date | None:
    """The expiry the law sets for ``kind`` from ``issued_on`` (the last day it is valid),
    or None if it sets none."""
    entry = _entry(kind)
    if entry.validity is None:
        return None
    if isinstance(issued_on, datetime):
        issued_on = issued_on.date()
    return entry.validity.expiry(issued_on)
