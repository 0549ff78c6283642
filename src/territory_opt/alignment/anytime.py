"""The heuristic's search after its first plan: every second of the limit spent improving it.

Three neighbourhoods, cheapest first, each returning only better plans:

1. local search — single moves and swaps checked against every rule at once
   (:mod:`territory_opt.alignment.local_search`), run after every improvement;
2. pieces — HiGHS re-solves the items of a few neighbouring territories among themselves
   (:mod:`territory_opt.alignment.neighbourhoods`), which finds the chains of moves across a
   tight band that swaps cannot; pieces grow (2, 3, 4, 6, 10 territories) while a size finds
   nothing and drop back to the smallest when one does;
3. restricted MIPs over the whole model — the plan's pairs plus those of lowest reduced cost —
   (:func:`territory_opt.alignment.construct.improve`) where the model is small enough; small
   complete models instead give the pieces a short share and HiGHS over every pair, from the
   best plan, the rest (its bound then holds for the whole model).

When all three are spent the pieces are drawn at random among each territory's wider
neighbours (seeded), so the search never idles on a plan it might still improve. Everything is
counted in work units too, so a work-limited search gives the same plan on any machine.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.colgen import Relaxation
from territory_opt.alignment.construct import (
    MIP_PAIRS_LIMIT,
    Construction,
    improve,
    restricted_mip,
)
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
FULL_MIP_PAIRS = 60_000
"""Complete models up to this many pairs end with HiGHS over every pair, warm-started from the
best plan (measured: it overtakes the pieces there, and its bound beats the LP's)."""
SMALL_PIECES_SHARE = 0.3
"""On those small models, the pieces take this share of the time, then HiGHS the rest."""
SMALL_PIECES_SECONDS = 5.0
"""... and at most this long (the pieces' gains come in their first seconds; HiGHS needs the
time: small at 10 s 0.61% this way against 1.48% with pieces only)."""
WHOLE_MARGIN = 0.15
"""Share of the time left (at most a second) HiGHS over every pair leaves unused: it can run
past its limit (seen: 0.6 s at a 10 s limit, the command then 0.2 s over), and the local
search after it must end on time too. Pieces use whatever of it is left."""
LOCAL_SEARCH_WORK = 1.0
"""Work units one local search counts (it is deterministic; this keeps work limits finite)."""


@dataclasses.dataclass
class _Search:
    """The best plan so far, the bound, how the plan was reached, and the moves to try."""

    model: AlignmentModel
    relaxation: Relaxation
    options: SolveOptions
    x: np.ndarray
    objective: float
    mip_bound: float
    steps: dict[str, int] = dataclasses.field(default_factory=dict)
    phase: str = ""  # the phase the user was last told of

    @property
    def bound(self) -> float:
        return max(self.relaxation.bound, self.mip_bound)

    def starting(self, phase: str, deadline: Deadline) -> None:
        """Tell the user a new phase starts (a long one would otherwise pass silently)."""
        if self.options.progress is not None and phase != self.phase:
            self.phase = phase
            self.options.progress(Progress(self.objective, self.bound, deadline.elapsed(),
                                           phase=phase))

    def done(self, deadline: Deadline) -> bool:
        return deadline.over(0.1) or relative_gap(self.objective, self.bound) <= self.options.gap

    def polish(self, x: np.ndarray, deadline: Deadline) -> np.ndarray:
        """``x`` after local search (``x`` itself if it finds nothing)."""
        found = local_search(self.model, self.model.assignment(x), deadline)
        deadline.spend(LOCAL_SEARCH_WORK)
        if found.moves + found.swaps == 0:
            return x
        self.steps["local search"] = self.steps.get("local search", 0) + 1
        return self.model.start_vector(found.assignment)

    def take(self, x: np.ndarray, step: str, deadline: Deadline) -> bool:
        """Keep ``x`` if it is better than the incumbent; whether it was."""
        objective = self.model.linear.objective(x)
        if objective >= self.objective - 1e-9 * max(1.0, abs(self.objective)):
            return False
        self.x, self.objective = x, objective
        self.steps[step] = self.steps.get(step, 0) + 1
        if self.options.progress is not None:
            self.phase = "neighbourhood MIPs" if step.startswith("pieces") else step
            self.options.progress(Progress(objective, self.bound, deadline.elapsed(),
                                           phase=self.phase))
        return True

    def pieces(self, size: int, shuffle: int, seed: int, deadline: Deadline) -> bool:
        """One pass of pieces of ``size`` territories; whether it improved the plan."""
        self.starting("neighbourhood MIPs", deadline)
        found = improve_by_neighbourhoods(
            self.model, self.x, self.bound,
            dataclasses.replace(self.options, seed=seed, progress=None), deadline,
            size=size, passes=1, shuffle=shuffle, polish=lambda x: self.polish(x, deadline))
        return self.take(found.x, f"pieces of {size}", deadline)

    def whole(self, deadline: Deadline) -> bool:
        """HiGHS over every pair from the incumbent (small complete models; its bound holds
        for the whole model); whether it improved the plan."""
        self.starting("HiGHS on every pair", deadline)
        result = restricted_mip(self.model, np.ones(len(self.model.pair_item), dtype=bool),
                                dataclasses.replace(self.options, warm_start=self.x,
                                                    progress=None), deadline)
        if np.isfinite(result.bound):
            self.mip_bound = max(self.mip_bound, result.bound)
        return (result.status.has_plan and result.x is not None
                and self.take(self.polish(result.x, deadline), "HiGHS on every pair", deadline))

    def restricted(self, start: Construction, deadline: Deadline) -> bool:
        """Restricted MIPs over the incumbent's pairs and those of lowest reduced cost."""
        self.starting("restricted MIP", deadline)
        found = improve(self.model, self.relaxation,
                        dataclasses.replace(start, x=self.x, objective=self.objective),
                        dataclasses.replace(self.options, progress=None), deadline)
        self.mip_bound = max(self.mip_bound, found.bound)
        return found.x is not None and self.take(self.polish(found.x, deadline),
                                                 "restricted MIP", deadline)


def search(model: AlignmentModel, relaxation: Relaxation, start: Construction,
           options: SolveOptions, deadline: Deadline) -> Construction:
    """Improve ``start`` until the gap to the bound reaches ``options.gap`` or ``deadline``
    ends (module docstring); ``start`` itself if it has no plan."""
    if start.x is None:
        return start
    watch = Stopwatch()
    state = _Search(model, relaxation, options, start.x, start.objective, start.bound)
    state.take(state.polish(start.x, deadline), "local search", deadline)
    small = model.pairs.complete and len(model.pair_item) <= FULL_MIP_PAIRS
    _piece_loop(state, start, deadline.share(SMALL_PIECES_SHARE, at_most=SMALL_PIECES_SECONDS)
                if small else deadline)
    if small and not state.done(deadline):
        left = deadline.remaining()
        state.whole(deadline.share(1.0, at_most=left - min(1.0, WHOLE_MARGIN * left)))
        _piece_loop(state, start, deadline)  # what HiGHS left of the margin
    steps = ", ".join(f"{count} × {step}" for step, count in state.steps.items())
    return Construction(state.x, state.objective, start.seconds + watch.seconds(),
                        f"{start.note}, improved by {steps}" if steps else start.note,
                        state.mip_bound)


def _piece_loop(state: _Search, start: Construction, deadline: Deadline) -> None:
    """Pieces of growing size, dropping back to the smallest after a gain; then restricted
    MIPs over the whole model once; then random pieces, until ``deadline``."""
    rng = np.random.default_rng(state.options.seed)
    m = state.model.scenario.n_territories
    level, restricted_tried, shuffle = 0, False, 0
    while not state.done(deadline):
        size = PIECE_SIZES[level]
        if state.pieces(size, shuffle, int(rng.integers(2**31)), deadline):
            level = 0
            continue
        every_territory = size >= m  # one piece held the whole model
        if level + 1 < len(PIECE_SIZES) and not every_territory:
            level += 1
            continue
        if not restricted_tried and len(state.model.pair_item) <= MIP_PAIRS_LIMIT:
            restricted_tried = True
            share = 1.0 if every_territory else WHOLE_MIP_SHARE
            if state.restricted(start, deadline.share(1.0, at_most=share
                                                      * deadline.remaining())):
                level = 0
                continue
        if every_territory:
            return  # random pieces would repeat the whole model
        # Every neighbourhood is spent around this plan: new, random pieces from here on.
        shuffle, level = SHUFFLE, 1
