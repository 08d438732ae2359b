"""Rulesets: the national baseline and the districts' overlays, read from the TOML
files in ``rulesets/``. Adding a district is adding a file.

Every file is checked when the registry starts: an unknown role, kind, check,
parameter, severity or major group, or a major listed twice, stops the start instead of
silently weakening a rule. ``majors.toml`` beside the rulesets is the majors
vocabulary; an overlay may add majors for its district.
"""

import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType

from flask import current_app
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from registry.config import ConfigError
from registry.messages import _
from registry.vocabulary import (
    CERTIFICATE_KINDS,
    CLASS_TYPES,
    EDUCATION_LEVELS,
    EXPERIENCE_FIELDS,
    STAFF_ROLES,
)

RULESETS_DIR = Path(__file__).parent / "rulesets"
MAJORS_FILE = Path(__file__).parent / "majors.toml"
BASELINE = "national"

# The parameters each kind of check takes (registry/eligibility/rules.py decides them).
CHECK_PARAMETERS = {
    "not_barred": set(),
    "health_certificate": {"kinds"},
    "education": {"at_least"},
    "experience": {"fields", "management", "years"},
    "experience_or_major": {"fields", "major_groups"},
    "major": {"major_groups"},
    "certificate": {"kinds"},
    "dispatch": set(),
}

# A required rule decides eligibility; an advisory one is shown, failed or not, and
# never refuses anybody.
SEVERITIES = {"required": "必需", "advisory": "建议"}


class RulesetError(ConfigError):
    """A ruleset file that cannot be used; the message names the file and the problem."""


def _one_of(values) -> validate.OneOf:
    return validate.OneOf(list(values), error="{input!r} is not one of {choices}")


def _text(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1), **kwargs)


class _RuleSchema(Schema):
    class Meta:
        unknown = INCLUDE  # the check's parameters, checked below

    id = _text(required=True)
    roles = fields.List(
        fields.String(validate=_one_of(["all", *STAFF_ROLES])),
        required=True,
        validate=validate.Length(min=1),
    )
    check = fields.String(required=True, validate=_one_of(CHECK_PARAMETERS))
    severity = fields.String(load_default="required", validate=_one_of(SEVERITIES))
    requirement = _text(required=True)
    requirement_en = _text(required=True)
    source = _text(required=True)
    note = _text()

    @validates_schema(pass_original=True)
    def _parameters(self, data, original, **kwargs):
        given = set(original) - set(self.fields)
        wanted = CHECK_PARAMETERS.get(data.get("check"), set())
        if given != wanted:
            raise ValidationError(
                f"check {data.get('check')!r} takes {sorted(wanted)}, got {sorted(given)}"
            )
        _ParametersSchema().load({k: original[k] for k in wanted})


class _ParametersSchema(Schema):
    kinds = fields.List(
        fields.String(validate=_one_of(CERTIFICATE_KINDS)), validate=validate.Length(min=1)
    )
    at_least = fields.String(validate=_one_of(EDUCATION_LEVELS))
    fields_ = fields.List(
        fields.String(validate=_one_of(EXPERIENCE_FIELDS)),
        data_key="fields",
        validate=validate.Length(min=1),
    )
    management = fields.Boolean(truthy={True}, falsy={False})
    years = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    major_groups = fields.List(_text(), validate=validate.Length(min=1))


class _ClassSchema(Schema):
    max_children = fields.Integer(strict=True, validate=validate.Range(min=1))
    children_per_caregiver = fields.Integer(strict=True, validate=validate.Range(min=1))
    source = _text()
    note = _text()


class _HealthStaffSchema(Schema):
    at_least = fields.Integer(strict=True, validate=validate.Range(min=0))
    # Up to this many children enrolled (以下 includes the number), full- or part-time
    # staff are enough; above it, one full-time per this many.
    children_per_full_time = fields.Integer(strict=True, validate=validate.Range(min=1))
    source = _text()
    note = _text()


class _CooksSchema(Schema):
    children_per_cook = fields.Integer(strict=True, validate=validate.Range(min=1))
    source = _text()
    note = _text()


_roles = fields.List(fields.String(validate=_one_of(STAFF_ROLES)), validate=validate.Length(min=1))


class _InstitutionSchema(Schema):
    caregiver_roles = _roles
    health_roles = _roles
    cook_roles = _roles
    classes = fields.Dict(
        keys=fields.String(validate=_one_of(CLASS_TYPES)), values=fields.Nested(_ClassSchema)
    )
    health_staff = fields.Nested(_HealthStaffSchema)
    cooks = fields.Nested(_CooksSchema)


class _TargetSchema(Schema):
    rate = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    by = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))
    source = _text(required=True)
    note = _text()


class _MajorSchema(Schema):
    name = _text(required=True)
    group = _text(required=True)
    aliases = fields.List(_text(), load_default=list)
    source = _text(required=True)


class _RulesetSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]*$"))
    name = _text(required=True)
    version = _text(required=True)
    extends = fields.String(validate=validate.Equal(BASELINE))
    districts = fields.List(_text(), validate=validate.Length(min=1))
    certification_target = fields.Nested(_TargetSchema)
    rules = fields.List(fields.Dict(), load_default=list)
    institution = fields.Nested(_InstitutionSchema, load_default=dict)
    majors = fields.List(fields.Dict(), load_default=list)

    @validates_schema
    def _baseline_or_overlay(self, data, **kwargs):
        overlay = "extends" in data
        if overlay != ("districts" in data):
            raise ValidationError(
                "an overlay has both `extends` and `districts`; the baseline neither"
            )
        if not overlay and data["id"] != BASELINE:
            raise ValidationError(f"only the baseline ({BASELINE}) may stand without `extends`")


@dataclass(frozen=True)
class Rule:
    """One requirement for one role."""

    id: str
    role: str  # a staff role, or "all"
    check: str
    parameters: MappingProxyType
    requirement: str
    requirement_en: str
    source: str
    severity: str = "required"
    note: str | None = None


@dataclass(frozen=True)
class ClassRule:
    max_children: int
    children_per_caregiver: int
    source: str
    note: str | None = None


@dataclass(frozen=True)
class CertificationTarget:
    rate: float
    by: int
    source: str
    note: str | None = None

    def due_on(self) -> date:
        """The day the target falls due: 31 December of its year (到2025年 = by the end
        of 2025)."""
        return date(self.by, 12, 31)

    def is_due(self, day: date) -> bool:
        return day >= self.due_on()


@dataclass(frozen=True)
class Major:
    name: str
    group: str
    aliases: tuple[str, ...]
    source: str
    file: str


def major_key(text: str) -> str:
    """A major as majors are compared: NFKC (full-width forms), no spaces or format
    characters, case-folded, without a trailing 专业 (学前教育专业 is 学前教育). Nothing else
    is taken away, not even a bracketed note: 护理（宠物方向） is not 护理, and 宠物护理 stays
    宠物护理. A spelling the vocabulary should know is added as an alias."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if not (c.isspace() or unicodedata.category(c) == "Cf"))
    return text.casefold().removesuffix("专业")


@dataclass(frozen=True)
class Majors:
    """The majors vocabulary in force in a district: the registry's, and the overlay's."""

    groups: MappingProxyType  # group id -> Chinese name
    majors: tuple[Major, ...]
    by_key: MappingProxyType  # major_key(name or alias) -> Major

    def find(self, text: str | None) -> Major | None:
        """The major ``text`` names (by its name or an alias), or None."""
        return None if not text else self.by_key.get(major_key(text))

    def names_in(self, groups) -> list[str]:
        """The names of the majors of ``groups``, in the vocabulary's order."""
        return [m.name for m in self.majors if m.group in groups]


@dataclass(frozen=True)
class Ruleset:
    """The rules in force in a district: the baseline with the district's overlay on top."""

    id: str
    name: str
    version: str
    districts: tuple[str, ...]
    rules: tuple[Rule, ...]
    institution: MappingProxyType
    classes: MappingProxyType  # class type → ClassRule
    certification_target: CertificationTarget | None = None
    files: tuple[str, ...] = field(default=())
    majors: Majors | None = None

    def rules_for(self, role: str) -> list[Rule]:
        """The role's rules, the ones for every role first."""
        return [r for r in self.rules if r.role == "all"] + [
            r for r in self.rules if r.role == role
        ]


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise RulesetError(
            _("{file}: not valid TOML: {reason}", file=path.name, reason=exc)
        ) from exc


def _majors(entries: list, file: str, groups, known: dict) -> dict:
    """``known`` with the majors of ``entries`` (from ``file``) added; a major or alias
    listed twice, here or before, stops the start."""
    known = dict(known)
    for number, raw in enumerate(entries, start=1):
        named = raw.get("name", "no name") if isinstance(raw, dict) else repr(raw)
        label = f"{file}: major {number} ({named})"
        try:
            data = _MajorSchema().load(raw)
        except ValidationError as exc:
            raise RulesetError(f"{label}: {exc.messages}") from exc
        if data["group"] not in groups:
            raise RulesetError(
                _(
                    "{label}: unknown major group {group!r} (known: {known})",
                    label=label,
                    group=data["group"],
                    known=", ".join(groups),
                )
            )
        major = Major(data["name"], data["group"], tuple(data["aliases"]), data["source"], file)
        for spelling in (major.name, *major.aliases):
            key = major_key(spelling)
            if key in known:
                raise RulesetError(
                    _(
                        "{label}: {spelling!r} is listed twice (also under {major!r} in {file})",
                        label=label,
                        spelling=spelling,
                        major=known[key].name,
                        file=known[key].file,
                    )
                )
            known[key] = major
    return known


def load_majors(path: Path = MAJORS_FILE) -> tuple[dict, dict]:
    """The registry's majors vocabulary: its groups and its majors by key."""
    raw = _read_toml(path)
    groups = raw.get("groups")
    if not isinstance(groups, dict) or not groups or set(raw) - {"groups", "majors"}:
        raise RulesetError(
            _("{file}: needs a [groups] table and [[majors]] entries only", file=path.name)
        )
    return groups, _majors(raw.get("majors", []), path.name, groups, {})


def _read(path: Path, groups) -> dict:
    raw = _read_toml(path)
    try:
        data = _RulesetSchema().load(raw)
    except ValidationError as exc:
        raise RulesetError(f"{path.name}: {exc.messages}") from exc
    rules = []
    for number, rule in enumerate(data["rules"], start=1):
        label = f"{path.name}: rule {number} ({rule.get('id', 'no id')})"
        try:
            loaded = _RuleSchema().load(rule)
        except ValidationError as exc:
            raise RulesetError(f"{label}: {exc.messages}") from exc
        unknown = [g for g in rule.get("major_groups", ()) if g not in groups]
        if unknown:
            raise RulesetError(
                _(
                    "{label}: unknown major group {group!r} (known: {known})",
                    label=label,
                    group=unknown[0],
                    known=", ".join(groups),
                )
            )
        rules.append({**loaded, "_raw": rule})
    data["rules"] = rules
    data["_file"] = path.name
    return data


def _expand(data: dict) -> dict[tuple[str, str], Rule]:
    rules = {}
    for rule in data["rules"]:
        parameters = {k: rule["_raw"][k] for k in CHECK_PARAMETERS[rule["check"]]}
        for role in rule["roles"]:
            key = (rule["id"], role)
            if key in rules:
                raise RulesetError(
                    _(
                        "{file}: rule {rule!r} given twice for {role}",
                        file=data["_file"],
                        rule=rule["id"],
                        role=role,
                    )
                )
            rules[key] = Rule(
                id=rule["id"],
                role=role,
                check=rule["check"],
                parameters=MappingProxyType(parameters),
                requirement=rule["requirement"],
                requirement_en=rule["requirement_en"],
                source=rule["source"],
                severity=rule["severity"],
                note=rule.get("note"),
            )
    return rules


def _combine(
    baseline: dict, overlay: dict | None, files: tuple[str, ...], majors: Majors
) -> Ruleset:
    rules = _expand(baseline)
    institution = {**baseline["institution"]}
    classes = {**baseline["institution"].get("classes", {})}
    target = baseline.get("certification_target")
    top = baseline
    if overlay is not None:
        # An overlay's rule replaces the baseline's rule of the same id and role, in
        # its place; a new rule comes after the baseline's.
        rules.update(_expand(overlay))
        for key, value in overlay["institution"].items():
            if key == "classes":
                classes.update({t: {**classes.get(t, {}), **c} for t, c in value.items()})
            elif isinstance(value, dict):
                institution[key] = {**institution.get(key, {}), **value}
            else:
                institution[key] = value
        target = overlay.get("certification_target", target)
        top = overlay
    wanted = {"max_children", "children_per_caregiver", "source"}
    missing = [t for t in CLASS_TYPES if not wanted <= set(classes.get(t, {}))]
    if missing:
        raise RulesetError(
            _("{file}: class rules incomplete for {missing}", file=top["_file"], missing=missing)
        )
    for key in ("caregiver_roles", "health_roles", "cook_roles", "health_staff", "cooks"):
        if key not in institution:
            raise RulesetError(
                _("{file}: institution rules lack {key!r}", file=top["_file"], key=key)
            )
    institution.pop("classes", None)
    return Ruleset(
        id=top["id"],
        name=top["name"],
        version=top["version"],
        districts=tuple(top.get("districts", ())),
        rules=tuple(rules.values()),
        institution=MappingProxyType(institution),
        classes=MappingProxyType({t: ClassRule(**c) for t, c in classes.items()}),
        certification_target=CertificationTarget(**target) if target else None,
        files=files,
        majors=majors,
    )


@dataclass(frozen=True)
class Rulesets:
    """Every ruleset in force, found by district."""

    baseline: Ruleset
    by_id: MappingProxyType
    by_district: MappingProxyType

    def for_district(self, district: str) -> Ruleset:
        """The district's ruleset, or the national baseline where it has no overlay."""
        return self.by_district.get(district_key(district), self.baseline)


def district_key(district: str) -> str:
    """A district as districts are compared: NFKC, without spaces (杭州市 西湖区 = 杭州市西湖区)."""
    return "".join(unicodedata.normalize("NFKC", district).split())


def load_rulesets(directory: Path = RULESETS_DIR, majors_file: Path = MAJORS_FILE) -> Rulesets:
    """Read and check every ``*.toml`` in ``directory``, with the majors vocabulary."""
    groups, base_majors = load_majors(majors_file)
    files = {path.name: _read(path, groups) for path in sorted(directory.glob("*.toml"))}
    baseline = next((d for d in files.values() if d["id"] == BASELINE), None)
    if baseline is None:
        raise RulesetError(
            _("no {baseline} ruleset in {folder}", baseline=BASELINE, folder=directory)
        )
    if baseline["majors"]:
        raise RulesetError(
            _(
                "{file}: the baseline's majors belong in {majors}",
                file=baseline["_file"],
                majors=majors_file.name,
            )
        )
    # Each id and district with the file that claimed it first: a clash names both files,
    # the one just edited being either.
    ids, by_district, id_files, district_files = {}, {}, {}, {}
    for name, data in files.items():
        if data["id"] in ids:
            raise RulesetError(
                _(
                    "{file}: ruleset id {id!r} is also used by {other}",
                    file=name,
                    id=data["id"],
                    other=id_files[data["id"]],
                )
            )
        id_files[data["id"]] = name
        known = _majors(data["majors"], name, groups, base_majors)
        majors = Majors(
            groups=MappingProxyType(dict(groups)),
            majors=tuple(dict.fromkeys(known.values())),
            by_key=MappingProxyType(known),
        )
        if data is baseline:
            ruleset = _combine(baseline, None, (name,), majors)
        else:
            ruleset = _combine(baseline, data, (f"{BASELINE}.toml", name), majors)
        ids[data["id"]] = ruleset
        for district in ruleset.districts:
            key = district_key(district)
            if key in by_district:
                raise RulesetError(
                    _(
                        "{file}: district {district} already has a ruleset in {other}",
                        file=name,
                        district=district,
                        other=district_files[key],
                    )
                )
            by_district[key] = ruleset
            district_files[key] = name
    return Rulesets(
        baseline=ids[BASELINE],
        by_id=MappingProxyType(ids),
        by_district=MappingProxyType(by_district),
    )


def current_rulesets() -> Rulesets:
    """The rulesets of the running app (loaded and checked by ``create_app``)."""
    return current_app.extensions["registry.rulesets"]
