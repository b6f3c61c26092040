"""Rule kinds: each a parameter model (validated when the rule file is loaded) and an
evaluation over a `RuleContext`.

- `features`: threshold, ratio_to_baseline, first_seen (user-day rollups only);
- `events`: off_hours, pattern (one narrow slice of events);
- `sequences`: sequence, absence (a slice per side, linked by a field);
- `search`: an Explore query and a condition over its matches (saved searches' alerts);
- `matching` and `hits`: what the kinds share; `registry`: kind name -> kind.
"""

from detection.rules.kinds.registry import (
    KINDS,
    Kind,
    KindRegistry,
    evaluate_rule,
    uncalibrated_rules,
)

__all__ = ["KINDS", "Kind", "KindRegistry", "evaluate_rule", "uncalibrated_rules"]
