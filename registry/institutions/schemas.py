from marshmallow import fields, validate

from registry.eligibility.rulesets import current_rulesets
from registry.fields import InputSchema, InstitutionCode, StrictBoolean, Text
from registry.vocabulary import CLASS_TYPES


class ClassSchema(InputSchema):
    type = fields.String(required=True, validate=validate.OneOf(list(CLASS_TYPES)))
    children = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=500))


class InstitutionSchema(InputSchema):
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
    meals_on_site = StrictBoolean(load_default=False)
    ruleset = fields.Method(
        "_ruleset",
        dump_only=True,
        metadata={"description": "the rules the district is held to (national: no overlay)"},
    )
    created_at = fields.DateTime(dump_only=True)

    def _ruleset(self, institution) -> str:
        return current_rulesets().for_district(institution.district).id


class InstitutionUpdateSchema(InputSchema):
    """Fields to change; `classes`, when given, replaces the list of classes."""

    name = Text(validate=validate.Length(max=200))
    district = Text(validate=validate.Length(max=100))
    classes = fields.List(fields.Nested(ClassSchema))
    meals_on_site = StrictBoolean()


class InstitutionQuerySchema(InputSchema):
    district = Text(
        load_default=None,
        validate=validate.Length(max=100),
        metadata={
            "description": "in any spelling its ruleset knows: 拱墅区 finds 杭州市拱墅区",
            "example": "拱墅区",
            "format": "district",
        },
    )
