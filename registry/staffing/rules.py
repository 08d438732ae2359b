"""The institution's staffing rules, one small function each, as pure functions of what
the institution has on a date (``Staffing``) and its ruleset.

Each check is registered under its rule id in ``CHECKS`` and answers with one or more
``Finding``s, each with its severity and the source of its numbers, the way the
eligibility rules answer for a person. ``services.compliance`` gathers the facts.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from registry.eligibility.rulesets import Ruleset
from registry.vocabulary import CLASS_TYPES


@dataclass(frozen=True)
class Staffing:
    """What an institution has on a day: its classes, who is in post, its rate."""

    day: date
    classes: tuple[tuple[str, int], ...]  # (class type, children)
    meals_on_site: bool
    in_post: tuple[tuple[str, bool], ...]  # (role, full_time)
    certification: dict  # rates.services.institution_rate

    @property
    def children(self) -> int:
        return sum(children for _, children in self.classes)

    def count(self, roles, full_time_only: bool = False) -> int:
        return sum(1 for r, ft in self.in_post if r in roles and (ft or not full_time_only))

    def caregivers_required(self, ruleset: Ruleset) -> int:
        """Staff are not assigned to classes: each class needs ``ceil(children / ratio)``
        caregivers, and the institution the sum."""
        return sum(
            math.ceil(children / ruleset.classes[t].children_per_caregiver)
            for t, children in self.classes
        )

    def full_time_health_required(self, ruleset: Ruleset) -> int:
        """150 children or fewer (以下 includes 150): full- or part-time health staff are
        enough; above that one full-time per 150 (151 need two)."""
        per = ruleset.institution["health_staff"]["children_per_full_time"]
        return 0 if self.children <= per else math.ceil(self.children / per)

    def cooks_required(self, ruleset: Ruleset) -> int:
        if not self.meals_on_site:
            return 0
        return math.ceil(self.children / ruleset.institution["cooks"]["children_per_cook"])


@dataclass(frozen=True)
class Finding:
    rule: str
    ok: bool
    zh: str
    en: str
    source: str
    note: str | None = None
    severity: str = "required"
    figures: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return f"{self.zh}（{self.en}）"


CHECKS: dict[str, Callable[[Staffing, Ruleset], list[Finding]]] = {}


def institution_rule(rule: str):
    """Registers a check under its rule id, in the order compliance reports them."""

    def register(check):
        CHECKS[rule] = check
        return check

    return register


@institution_rule("class_size")
def class_size(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    findings = []
    for class_type, name in CLASS_TYPES.items():
        sizes = [children for t, children in staffing.classes if t == class_type]
        if not sizes:
            continue
        rule = ruleset.classes[class_type]
        over = [n for n in sizes if n > rule.max_children]
        if over:
            zh = f"{name}有{'、'.join(map(str, over))}名婴幼儿的班，超过{rule.max_children}人"
            sizes_en = ", ".join(map(str, over))
            en = f"{class_type} classes of {sizes_en} children, over {rule.max_children}"
        else:
            zh = f"{len(sizes)}个{name}均不超过{rule.max_children}人"
            en = f"{len(sizes)} {class_type} classes of at most {rule.max_children}"
        findings.append(Finding("class_size", not over, zh, en, rule.source, rule.note))
    return findings


@institution_rule("caregiver_ratio")
def caregiver_ratio(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    present = [t for t in CLASS_TYPES if any(t == c for c, _ in staffing.classes)]
    if not present:
        return []
    caregivers = staffing.count(ruleset.institution["caregiver_roles"])
    required = staffing.caregivers_required(ruleset)
    rules = [ruleset.classes[t] for t in present]
    return [
        Finding(
            "caregiver_ratio",
            caregivers >= required,
            f"在岗保育人员{caregivers}名，按各班比例应不少于{required}名",
            f"{caregivers} caregivers in post, the classes need {required}",
            "；".join(r.source for r in rules),
            "；".join(r.note for r in rules if r.note) or None,
        )
    ]


@institution_rule("health_staff")
def health_staff(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    rule = ruleset.institution["health_staff"]
    staff = staffing.count(ruleset.institution["health_roles"])
    required = rule["at_least"]
    return [
        Finding(
            "health_staff",
            staff >= required,
            f"在岗卫生保健人员{staff}名（专职或兼职），应不少于{required}名",
            f"{staff} health staff in post (full- or part-time), at least {required} needed",
            rule["source"],
            rule.get("note"),
        )
    ]


@institution_rule("health_staff_full_time")
def health_staff_full_time(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    rule = ruleset.institution["health_staff"]
    per = rule["children_per_full_time"]
    full_time = staffing.count(ruleset.institution["health_roles"], full_time_only=True)
    required = staffing.full_time_health_required(ruleset)
    if required == 0:
        zh = f"收托{staffing.children}名婴幼儿（{per}名及以下），专职或兼职卫生保健人员均可"
        en = f"{staffing.children} children ({per} or fewer): full- or part-time health staff"
    else:
        zh = (
            f"收托{staffing.children}名婴幼儿（超过{per}名），专职卫生保健人员{full_time}名，"
            f"应不少于{required}名"
        )
        en = (
            f"{staffing.children} children (over {per}): {full_time} full-time health staff, "
            f"{required} needed"
        )
    return [
        Finding(
            "health_staff_full_time",
            full_time >= required,
            zh,
            en,
            rule["source"],
            rule.get("note"),
        )
    ]


@institution_rule("cooks")
def cooks(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    if not staffing.meals_on_site:
        return []
    rule = ruleset.institution["cooks"]
    in_post = staffing.count(ruleset.institution["cook_roles"])
    required = staffing.cooks_required(ruleset)
    return [
        Finding(
            "cooks",
            in_post >= required,
            f"在园内制作膳食，{staffing.children}名婴幼儿需炊事人员{required}名，在岗{in_post}名",
            f"meals cooked on site for {staffing.children} children need {required} cooks, "
            f"{in_post} in post",
            rule["source"],
            rule.get("note"),
        )
    ]


@institution_rule("certification_rate")
def certification_rate(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    """Against the district's target: a miss before the target's year has ended is
    shown as advisory (not yet due), not as a shortfall."""
    target = ruleset.certification_target
    figure = staffing.certification
    if target is None or figure["rate"] is None:
        return []
    rate = f"{figure['rate']:.1%}（{figure['certified']}/{figure['staff']}）"
    due = target.is_due(staffing.day)
    when = "" if due else f"，目标于{target.due_on()}到期"
    when_en = "" if due else f"; the target falls due on {target.due_on()}"
    if figure["meets_target"]:
        zh, en = f"持证率{rate}，达到{target.rate:.0%}的目标", f"rate {figure['rate']:.1%} meets"
    else:
        zh = f"持证率{rate}，低于{target.rate:.0%}的目标{when}"
        en = (
            f"{figure['certified']} of {figure['staff']} staff certified "
            f"({figure['rate']:.1%}), below the target of {target.rate:.0%}{when_en}"
        )
    return [
        Finding(
            "certification_rate",
            bool(figure["meets_target"]),
            zh,
            en,
            target.source,
            target.note,
            severity="required" if due else "advisory",
            figures={"due": due, "due_on": target.due_on()},
        )
    ]


def check_all(staffing: Staffing, ruleset: Ruleset) -> list[Finding]:
    """Every institution rule that applies, in the order they were registered."""
    return [finding for check in CHECKS.values() for finding in check(staffing, ruleset)]
