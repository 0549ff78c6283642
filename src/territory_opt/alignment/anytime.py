"""The heuristic's search after its first plan: every second of the limit spent improving it.

Three neighbourhoods, cheapest first, each returning only better plans:

1. local search — single moves and swaps checked against every rule at once
   (:mod:`territory_opt.alignment.local_search`), run after every improvement;
2. pieces — HiGHS re-solves the items of a few neighbouring territories among themselves
   (:mod:`territory_opt.alignment.neighbourhoods`), which finds the chains of moves across a
   tight band that swaps cannot; pieces grow (2, 3, 4, 6, 10 territories) while a size finds
   nothing and drop back to the smallest when one does;
3. restricted MIPs over the whole model — the plan's pairs plus those of lowest reduced cost —
   (:func:`territory_opt.alignment.construct.improve`) where the model is small enough.

When all three are spent the pieces are drawn at random among each territory's wider
neighbours (seeded), so the search never idles on a plan it might still improve. Everything is
counted in work units too, so a work-limited search gives the same plan on any machine.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.colgen import Relaxation
from territory_opt.alignment.construct import MIP_PAIRS_LIMIT, Construction, improve
from territory_opt.alignment.formulation import AlignmentModel
from territory_opt.alignment.local_search import local_search
from territory_opt.alignment.neighbourhoods import improve_by_neighbourhoods
from territory_opt.backends.contract import Progress, SolveOptions, relative_gap
from territory_opt.deadline import Deadline, Stopwatch

PIECE_SIZES = (2, 3, 4, 6, 10)
"""Territories per piece, tried in this order while the smaller ones find nothing."""
SHUFFLE = 6
"""Random pieces: drawn among each seed territory's ``size - 1 +`` this many nearest."""
WHOLE_MIP_SHARE = 0.25
"""Share of the time left a restricted MIP over the whole model may take (all of it when a
piece already holds every territory: then nothing else is left to try)."""
LOCAL_SEARCH_WORK = 1.0
"""Work units one local search counts (it is deterministic; this keeps work limits finite)."""


@dataclasses.dataclass
class _Incumbent:
    """The best plan so far and how it was reached."""

    x: np.ndarray
    objective: float
    steps: dict[str, int]


def search(model: AlignmentModel, relaxation: Relaxation, start: Construction,
           options: SolveOptions, deadline: Deadline) -> Construction:
    """Improve ``start`` until the gap to the bound reaches ``options.gap`` or ``deadline``
    ends (module docstring); ``start`` itself if it has no plan."""
    if start.x is None:
        return start
    watch = Stopwatch()
    mip_bound = start.bound
    bound = max(relaxation.bound, mip_bound)
    best = _Incumbent(start.x, start.objective, {})
    rng = np.random.default_rng(options.seed)

    def report() -> None:
        if options.progress is not None:
            options.progress(Progress(best.objective, bound, deadline.elapsed()))

    def polish(x: np.ndarray) -> np.ndarray:
        found = local_search(model, model.assignment(x), deadline)
        deadline.spend(LOCAL_SEARCH_WORK)
        if found.moves + found.swaps == 0:
            return x
        best.steps["local search"] = best.steps.get("local search", 0) + 1
        return model.start_vector(found.assignment)

    def take(x: np.ndarray, step: str) -> bool:
        objective = model.linear.objective(x)
        if objective >= best.objective - 1e-9 * max(1.0, abs(best.objective)):
            return False
        best.x, best.objective = x, objective
        best.steps[step] = best.steps.get(step, 0) + 1
        report()
        return True

    def done() -> bool:
        return deadline.over(0.1) or relative_gap(best.objective, bound) <= options.gap

    take(polish(best.x), "local search")
    level, whole_tried, shuffle = 0, False, 0
    while not done():
        size = PIECE_SIZES[level]
        seed = int(rng.integers(2**31))
        found = improve_by_neighbourhoods(
            model, best.x, bound, dataclasses.replace(options, seed=seed, progress=None),
            deadline, size=size, passes=1, shuffle=shuffle, polish=polish)
        if take(found.x, f"pieces of {size}"):
            level = 0
            continue
        whole_model = size >= model.scenario.n_territories  # every piece is the whole
        if level + 1 < len(PIECE_SIZES) and not whole_model:
            level += 1
            continue
        if not whole_tried and len(model.pair_item) <= MIP_PAIRS_LIMIT:
            whole_tried = True
            whole = improve(model, relaxation,
                            dataclasses.replace(start, x=best.x, objective=best.objective),
                            dataclasses.replace(options, progress=None),
                            deadline.share(1.0, at_most=(1.0 if whole_model else WHOLE_MIP_SHARE)
                                           * deadline.remaining()))
            mip_bound = max(mip_bound, whole.bound)
            bound = max(bound, mip_bound)
            if take(polish(whole.x) if whole.x is not None else best.x, "restricted MIP"):
                level = 0
                continue
        if whole_model:
            break  # the pieces held every territory: random ones would repeat them
        # Every neighbourhood is spent around this plan: new, random pieces from here on.
        shuffle, level = SHUFFLE, 1
    steps = ", ".join(f"{count} × {step}" for step, count in best.steps.items())
    return Construction(best.x, best.objective, start.seconds + watch.seconds(),
                        f"{start.note}, improved by {steps}" if steps else start.note,
                        mip_bound)
