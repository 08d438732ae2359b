"""marshmallow fields shared by the domains' schemas: they check shape, never the database."""

import unicodedata

from marshmallow import ValidationError, fields

from registry.identity import InvalidIdentifier, parse_institution_code


class Text(fields.String):
    """A line of text: surrounding spaces removed, empty refused, and control characters
    and lone surrogates refused (PostgreSQL cannot store NUL, nobody can store a lone
    surrogate, and neither belongs in a name)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if not value:
            raise ValidationError("must not be empty")
        for position, char in enumerate(value, start=1):
            if unicodedata.category(char) in ("Cc", "Cs"):
                raise ValidationError(f"character {position} (U+{ord(char):04X}) is not allowed")
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
            raise ValidationError("Not a valid boolean: use true or false.")
        return value
