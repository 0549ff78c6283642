"""Brute-force optima of the tiny scenarios in :data:`cases.VARIANTS`, stored.

Each takes 2,187 evaluations (every assignment of 7 accounts to 3 reps, about 20 s) to
recompute, so they are constants here; ``test_stored_optima_match_brute_force`` (slow, in
``test_end_to_end.py``) recomputes them with :func:`cases.variant_optimum`. Regenerate from
``tests/`` with ``python -c "from cases import VARIANTS, variant_optimum as o;
print({n: o(n) for n in VARIANTS})"`` when a variant or the objective changes.
"""

from __future__ import annotations

VARIANT_OPTIMA: dict[str, float] = {
    "balance only": 804.6796190165253,
    "soft potential band + disruption penalty": 1149.6796190165253,
    "lock + eligibility + capacity + max distance": 1053.6925233275265,
    "disruption cap on workload": 774.2871579574554,
    "territory without home + soft bands only": 699.3036638915075,
}
"""Objective total of the best feasible plan per variant (the KPI evaluator's)."""
