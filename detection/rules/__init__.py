"""Detection rules kept as data: `detection/rules/*.yml`, one file per rule, one kind each.

`load_rules()` parses every file into a `Rule` (kind parameters validated by the registry in
`kinds/`) and reports every broken file and field in one `RuleLoadError`; `evaluate_rule`
runs one by its kind.
"""

from detection.rules.kinds import KINDS, evaluate_rule, uncalibrated_rules
from detection.rules.loader import RULES_DIR, load_rule_file, load_rules, parse_rule
from detection.rules.schema import Rule, RuleContext, RuleError, RuleHit, RuleLoadError

__all__ = [
    "KINDS",
    "RULES_DIR",
    "Rule",
    "RuleContext",
    "RuleError",
    "RuleHit",
    "RuleLoadError",
    "evaluate_rule",
    "load_rule_file",
    "load_rules",
    "parse_rule",
    "uncalibrated_rules",
]
