"""marshmallow fields shared by the domains' schemas: they check shape, never the database."""

import re
import unicodedata
from collections.abc import Mapping
from datetime import date

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate

from registry import clock
from registry.identity import ID_TYPES, InvalidIdentifier, parse_identity, parse_institution_code
from registry.messages import _

# Caps on a client's input where a field states none of its own: no list the registry
# takes holds more (an institution's classes, a person's experience), and no text it
# keeps is longer.
MAX_ITEMS = 50
MAX_TEXT = 1000


class InputSchema(Schema):
    """The base of every schema a client's input is loaded with (bodies, queries,
    forms), and of the schemas nested in one.

    Each string field has a maximum length (its own ``validate.Length(max=…)``, or
    ``MAX_TEXT``) and each list a maximum count (``MAX_ITEMS`` unless it states one).
    They are checked on the raw input before any field parses or normalises it, so a
    10 MB name or a list of a million items is refused at once, naming the field, and
    they are ``Length`` validators, so the OpenAPI document states them as
    ``maxLength`` and ``maxItems``.
    """

    def on_bind_field(self, field_name, field_obj):
        super().on_bind_field(field_name, field_obj)
        if field_obj.dump_only:
            return
        _cap(field_obj)
        if isinstance(field_obj, fields.List):
            _cap(field_obj.inner)

    @pre_load
    def _refuse_oversized(self, data, **kwargs):
        if not isinstance(data, Mapping):
            return data  # marshmallow answers "Invalid input type."
        errors = {}
        for name, field in self.load_fields.items():
            key = field.data_key or name
            if key in data:
                problem = _oversized(field, data[key])
                if problem:
                    errors[key] = [problem]
        if errors:
            raise ValidationError(errors)
        return data


def _cap(field: fields.Field) -> None:
    if isinstance(field, fields.List) and _maximum(field) is None:
        field.validators.append(
            validate.Length(
                max=MAX_ITEMS, error=_("too many items: at most {count}", count=MAX_ITEMS)
            )
        )
    elif isinstance(field, fields.String) and _maximum(field) is None:
        message = _("too long: at most {length} characters", length=MAX_TEXT)
        field.validators.append(validate.Length(max=MAX_TEXT, error=message))


def _maximum(field: fields.Field) -> int | None:
    limits = [v.max for v in field.validators if isinstance(v, validate.Length) and v.max]
    return min(limits) if limits else None


def _oversized(field: fields.Field, value) -> str | None:
    """What is wrong with a raw ``value`` too large for ``field``, or None."""
    if isinstance(value, str):
        limit = _maximum(field) or MAX_TEXT
        if len(value) > limit:
            return _("too long: at most {length} characters", length=limit)
    elif isinstance(field, fields.List) and isinstance(value, (list, tuple)):
        limit = _maximum(field) or MAX_ITEMS
        if len(value) > limit:
            return _("too many items: at most {count}", count=limit)
        limit = _maximum(field.inner) or MAX_TEXT
        for index, item in enumerate(value):
            if isinstance(item, str) and len(item) > limit:
                return _(
                    "item {index}: too long: at most {length} characters",
                    index=index,
                    length=limit,
                )
    return None


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


class IdentitySchema(InputSchema):
    """The identity number fields of a request body, parsed into ``data["identity"]``.

    The number travels only in bodies (never in URLs) and is never dumped back.
    """

    id_number = fields.String(
        required=True,
        load_only=True,
        # Longer than any document number even with spaces between its digits.
        validate=validate.Length(max=64),
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


# How every masked number is described in the OpenAPI document.
MASKED = {
    "description": "the identity number masked: its first 3 and last 4 characters only",
    "example": "110***********002X",
}


def PersonId(description: str = "the person's public id", **kwargs) -> fields.String:
    """A person as the API names them: 32 hexadecimal characters (128 random bits),
    never the row id."""
    return fields.String(
        validate=validate.Regexp(r"^[0-9a-f]{32}$", error=_("not a person's id")),
        metadata={
            "description": description,
            "pattern": "^[0-9a-f]{32}$",
            "example": "3f9c2a7e5b1d48c6a0e47d2b9f6c1e85",
        },
        **kwargs,
    )
