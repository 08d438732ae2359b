"""marshmallow fields shared by the domains' schemas: they check shape, never the database."""

import re
import unicodedata
from datetime import date

from marshmallow import Schema, ValidationError, fields, post_load, validate

from registry import clock
from registry.identity import ID_TYPES, InvalidIdentifier, parse_identity, parse_institution_code
from registry.messages import _


class Text(fields.String):
    """A line of text: surrounding spaces removed, empty refused, and control characters
    and lone surrogates refused (PostgreSQL cannot store NUL, nobody can store a lone
    surrogate, and neither belongs in a name)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if not value:
            raise ValidationError(_("must not be empty"))
        for position, char in enumerate(value, start=1):
            if unicodedata.category(char) in ("Cc", "Cs"):
                raise ValidationError(
                    _(
                        "character {position} (U+{code:04X}) is not allowed",
                        position=position,
                        code=ord(char),
                    )
                )
        return value


class InstitutionCode(fields.String):
    """统一社会信用代码, normalised (full-width, spaces, lower case) and checksum-validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_institution_code(super()._deserialize(value, attr, data, **kwargs))
        except InvalidIdentifier as exc:
            raise ValidationError(exc.message) from exc


class StrictBoolean(fields.Boolean):
    """JSON true or false only: "yes", "on" or 1 are a client's mistake, not a choice."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError(_("Not a valid boolean: use true or false."))
        return value


class IdentitySchema(Schema):
    """The identity number fields of a request body, parsed into ``data["identity"]``.

    The number travels only in bodies (never in URLs) and is never dumped back.
    """

    id_number = fields.String(
        required=True,
        load_only=True,
        metadata={
            "description": "证件号码: full-width digits, spaces, hyphens and a lower-case x "
            "are accepted",
            "example": "11010519491231002X",
            "format": "identity-number",
        },
    )
    id_type = fields.String(
        validate=validate.OneOf(ID_TYPES),
        metadata={
            "description": "detected when omitted; a passport must be named",
            "example": "resident_id",
        },
    )

    @post_load
    def _parse_identity(self, data, **kwargs):
        try:
            data["identity"] = parse_identity(data.pop("id_number"), data.pop("id_type", None))
        except InvalidIdentifier as exc:
            raise ValidationError(exc.message, field_name="id_number") from exc
        return data


_SPACE_BY_CJK = re.compile(r" (?=[^\x00-\x7f])|(?<=[^\x00-\x7f]) ")


def normalize_certificate_number(text: str) -> str:
    """A certificate number as a key: compatibility forms folded (full-width digits and
    letters), spaces removed, letters upper-cased. The API and the roll import share it,
    so the same number typed twice is found again."""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def normalize_organisation_name(text: str) -> str:
    """The name of an issuer or employer as a key: compatibility forms folded, runs of
    spaces made one, and spaces next to Chinese characters dropped (杭州市 人社局 is
    杭州市人社局)."""
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    return text if text.isascii() else _SPACE_BY_CJK.sub("", text)


class CertificateNumber(Text):
    """See ``normalize_certificate_number``."""

    def _deserialize(self, value, attr, data, **kwargs):
        return normalize_certificate_number(super()._deserialize(value, attr, data, **kwargs))


class OrganisationName(Text):
    """See ``normalize_organisation_name``."""

    def _deserialize(self, value, attr, data, **kwargs):
        return normalize_organisation_name(super()._deserialize(value, attr, data, **kwargs))


def end_not_before_start(data: dict, start: str = "start", end: str = "end") -> None:
    """For a schema's ``@validates_schema``: ``end`` on or after ``start`` when both are
    given; the error names ``end``."""
    if data.get(end) is not None and data.get(start) is not None and data[end] < data[start]:
        raise ValidationError(
            _("must be on or after {start} ({day})", start=start, day=data[start]), end
        )


EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2100, 12, 31)


class Day(fields.Date):
    """An ISO date (``YYYY-MM-DD``) between 1900 and 2100: nothing the registry records
    lies outside, and date arithmetic near year 9999 would overflow."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValidationError(
                _(
                    "must be between {earliest} and {latest}",
                    earliest=EARLIEST_DAY,
                    latest=LATEST_DAY,
                )
            )
        return day


def not_in_future(day: date) -> None:
    if day > clock.today():
        raise ValidationError(_("must not be in the future"))
