"""Names as the registry compares them, and the keyed index that finds a person by name.

A name is compared after NFKC (full-width letters folded), with every space removed,
case folded (for names in Latin letters) and every variant of the middle dot of minority
and foreign names (·, •, ・, ．, ‧ …) made one: 阿依古丽·买买提 and 阿依古丽 • 买买提 are
one name. The roll import compares names the same way.

The index is the HMAC-SHA256 of the normalised name under the blind-index key, over a
message that starts with a label of its own: a name's index never equals, and cannot be
compared with, an identity number's (those are computed over ``gb11643:…`` and the like).
"""

import unicodedata

from registry.crypto import Keyring

LABEL = "person.name:"

# After NFKC: U+30FB (from U+FF65 too), U+2022, U+2027, U+2219, U+22C5, U+2E31, U+00B7
# (from U+0387 too), U+FF0E (NFKC makes it ".", which stays a dot here), U+1427, U+318D.
_DOTS = str.maketrans(
    {
        "•": "·",
        "‧": "·",
        "・": "·",
        "．": "·",
        ".": "·",
        "∙": "·",
        "⋅": "·",
        "⸱": "·",
        "ᐧ": "·",
        "ㆍ": "·",
        "･": "·",
    }
)


def name_key(name: str) -> str:
    """A name as compared: NFKC, no spaces, case-folded, one kind of middle dot."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(text.split()).casefold()
    return text.translate(_DOTS)


def name_index(keyring: Keyring, name: str, kid: str | None = None) -> bytes:
    """The keyed index of ``name`` under the blind-index key ``kid`` (default: active)."""
    return keyring.blind_index(LABEL + name_key(name), kid)


def name_indexes(keyring: Keyring, name: str) -> list[bytes]:
    """The index under every loaded key, for searches while a rotation is under way."""
    return [name_index(keyring, name, kid) for kid in keyring.blind_keys]
