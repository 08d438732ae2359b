"""The message catalogue: what a person reads, in Simplified Chinese first with the
English beside it, "中文（English）".

Code writes the English as the message id, ``_("no user named {username}", username=u)``,
and gets the text a person reads. The Chinese comes from the gettext catalogue
``translations/zh_CN/LC_MESSAGES/messages.po``, read with Babel when the module is
imported. ``tests/test_messages.py`` extracts every ``_()`` of the package and of the
CLI and fails on one the catalogue lacks. Texts of the libraries we use (marshmallow's
"Missing data for required field.", HTTP errors) are in the catalogue too, and
``translate`` renders them where they reach a person.
"""

import re
from importlib import resources

from babel.messages.pofile import read_po

_CATALOGUE = resources.files("registry") / "translations/zh_CN/LC_MESSAGES/messages.po"


def _load() -> dict[str, str]:
    with _CATALOGUE.open("rb") as po:
        catalog = read_po(po, locale="zh_CN")
    return {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}


ZH = _load()


def _(msgid: str, /, **params) -> str:
    """The message ``msgid`` (English, with ``{name}`` fields) in Chinese and English,
    its fields filled from ``params``. An id missing from the catalogue reads in English
    only (the catalogue test stops that from reaching a release)."""
    english = msgid.format(**params) if params else msgid
    chinese = ZH.get(msgid)
    if chinese is None:
        return english
    return f"{chinese.format(**params) if params else chinese}（{english}）"


# Marshmallow's own messages with values in them, which the catalogue cannot hold as
# fixed texts (the registry's own are in the catalogue).
_PATTERNS = (
    (re.compile(r"^Must be one of: "), "请从列表中选择"),
    (re.compile(r"^Longer than maximum length (\d+)\.$"), "不能超过 {0} 个字"),
)


def translate(text: str) -> str:
    """A library's English text in Chinese and English, when the catalogue or one of
    the patterns above has it; anything else unchanged."""
    chinese = ZH.get(text)
    if chinese:
        return f"{chinese}（{text}）"
    for pattern, template in _PATTERNS:
        match = pattern.match(text)
        if match:
            return f"{template.format(*match.groups())}（{text}）"
    return text
