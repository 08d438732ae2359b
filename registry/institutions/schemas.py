from marshmallow import Schema, ValidationError, fields, validate

from registry.identity import InvalidIdentifier, parse_institution_code
from registry.vocabulary import CLASS_TYPES


class Text(fields.String):
    """A string with surrounding spaces removed; empty is invalid."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if not value:
            raise ValidationError("must not be empty")
        return value


class InstitutionCode(fields.String):
    """统一社会信用代码, normalised (full-width, spaces, lower case) and checksum-validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_institution_code(super()._deserialize(value, attr, data, **kwargs))
        except InvalidIdentifier as exc:
            raise ValidationError(exc.message) from exc


class ClassSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(list(CLASS_TYPES)))
    children = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=500))


class InstitutionSchema(Schema):
    code = InstitutionCode(
        required=True,
        metadata={
            "description": "统一社会信用代码 (GB 32100-2015)",
            "example": "91350100M000100Y43",
        },
    )
    name = Text(
        required=True, validate=validate.Length(max=200), metadata={"example": "西湖区阳光托育园"}
    )
    district = Text(
        required=True, validate=validate.Length(max=100), metadata={"example": "西湖区"}
    )
    classes = fields.List(fields.Nested(ClassSchema), load_default=list)
    meals_on_site = fields.Boolean(load_default=False)
    created_at = fields.DateTime(dump_only=True)
