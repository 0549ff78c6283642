"""Large-neighbourhood search: HiGHS re-solves the items of a few neighbouring territories.

Each piece frees the pairs that keep an item of a small group of neighbouring territories within
that group; everything else stays fixed (:func:`territory_opt.backends.linear.sub_model`). A piece
is a MIP of a few hundred to a few thousand items that HiGHS solves in a second or two, so the
work scales with the number of territories, not with the model. HiGHS finds the swaps and
chains of moves that single-item local search cannot (two bands at once need them).

Tried and dropped (2026-11-26): the same pieces on the elastic model to mend a plan that still
breaks hard rows. At 100,000 × 500, from 355 broken territories, 60 pieces of 10 territories
(2 s each) mended too little to finish in any useful time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from territory_opt.alignment.formulation import AlignmentModel
from territory_opt.backends.contract import Progress, SolveOptions, relative_gap
from territory_opt.backends.linear import LinearModel, sub_model
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline
from territory_opt.geo import unit_vectors

NEIGHBOURHOOD_TERRITORIES = 6
"""Territories whose items one improving piece re-assigns among themselves."""
PIECE_SECONDS = 2.0
"""Time limit of one piece."""
PIECE_WORK = 500
"""At most this much work (HiGHS nodes) per piece under a work limit."""


@dataclasses.dataclass(frozen=True, eq=False)
class Improvement:
    """A plan (model columns) after a neighbourhood search, and what the search did."""

    x: np.ndarray
    objective: float
    pieces: int
    improved: int


def improve_by_neighbourhoods(model: AlignmentModel, x: np.ndarray, bound: float,
                              options: SolveOptions, deadline: Deadline,
                              seeds: np.ndarray | None = None, *,
                              size: int = NEIGHBOURHOOD_TERRITORIES, passes: int | None = None,
                              shuffle: int = 0,
                              polish: Callable[[np.ndarray], np.ndarray] | None = None,
                              ) -> Improvement:
    """Re-solve the pieces of ``size`` territories around each territory in turn (random
    order, seeded) until a whole pass gains nothing (or ``passes`` passes), the gap to
    ``bound`` reaches ``options.gap`` or ``deadline`` ends.

    ``seeds``: only the pieces around these territories (e.g. those on a region border).
    ``shuffle``: each piece takes ``size - 1`` territories at random among the seed's
    ``size - 1 + shuffle`` nearest, not the nearest (new pieces once the nearest are spent).
    ``polish``: applied to every improved plan (a local search), returning one no worse.
    """
    linear = model.linear
    search = _Pieces(linear, x)
    m = model.scenario.n_territories
    rng = np.random.default_rng(options.seed)
    size = min(size, m)
    neighbours = territory_neighbours(model, model.assignment(x), min(size + shuffle, m))

    def done() -> bool:
        return deadline.over(0.1) or relative_gap(search.objective, bound) <= options.gap

    done_passes = 0
    while not done() and (passes is None or done_passes < passes):
        done_passes += 1
        gained = False
        order = rng.permutation(m) if seeds is None else rng.permutation(np.asarray(seeds))
        for seed_territory in order:
            if done():
                break
            group = neighbours[seed_territory]
            if len(group) > size:
                group = np.r_[group[:1], rng.choice(group[1:], size - 1, replace=False)]
            free = _piece_columns(model, search.x, group)
            if search.solve(free, options, deadline):
                gained = True
                if polish is not None:
                    search.replace(polish(search.x))
                if options.progress is not None:
                    options.progress(Progress(search.objective, bound, deadline.elapsed(),
                                              phase="neighbourhood MIPs"))
        if not gained:
            break  # a whole pass without gain: a local optimum for these neighbourhoods
    return Improvement(search.x, search.objective, search.pieces, search.improved)


class _Pieces:
    """An incumbent of ``linear`` and the pieces solved around it."""

    def __init__(self, linear: LinearModel, x: np.ndarray) -> None:
        self.linear = linear
        self.columns = sp.csc_array(linear.a)  # once: slicing columns per piece
        self.x = x.copy()
        self.objective = linear.objective(x)
        self.pieces = self.improved = 0

    def solve(self, free: np.ndarray, options: SolveOptions, deadline: Deadline) -> bool:
        """Re-solve the columns ``free`` with HiGHS; True (and a new incumbent) if better."""
        piece = sub_model(self.linear, free, self.x, columns=self.columns)
        within = deadline.share(1.0, at_most=PIECE_SECONDS, at_most_work=PIECE_WORK)
        result = get_backend("highs").solve(piece, dataclasses.replace(
            options.within(within), gap=1e-4, warm_start=self.x[free], progress=None,
            solution_limit=None))
        within.spend(max(result.work, 1.0))  # at least one unit: every piece is work done
        self.pieces += 1
        better = (result.status.has_plan and result.x is not None
                  and result.objective < self.objective - 1e-9 * max(1.0, abs(self.objective)))
        if better and result.x is not None:
            self.x[free] = result.x
            self.objective = self.linear.objective(self.x)
            self.improved += 1
        return bool(better)

    def replace(self, x: np.ndarray) -> None:
        """Take ``x`` (no worse than the incumbent) as the incumbent."""
        objective = self.linear.objective(x)
        if objective <= self.objective:
            self.x, self.objective = x, objective


def _piece_columns(model: AlignmentModel, x: np.ndarray, territories: np.ndarray) -> np.ndarray:
    """Columns of one piece: the pairs keeping an item of ``territories`` within them, and
    every slack column (they follow the rows)."""
    m = model.scenario.n_territories
    n_pairs = len(model.pair_item)
    group = np.zeros(m, dtype=bool)
    group[territories] = True
    assignment = model.assignment(x)
    free = np.ones(model.linear.n_cols, dtype=bool)
    free[:n_pairs] = group[assignment[model.pair_item]] & group[model.pair_territory]
    return free


def territory_neighbours(model: AlignmentModel, assignment: np.ndarray, size: int
                         ) -> np.ndarray:
    """Per territory, itself and its ``size - 1`` nearest territories by the centre of the
    items ``assignment`` gives it (homes may be missing; plans always have items)."""
    scenario = model.scenario
    m = scenario.n_territories
    xyz = unit_vectors(scenario.lat, scenario.lon)
    centre = np.column_stack([np.bincount(assignment, weights=xyz[:, d], minlength=m)
                              for d in range(3)]).astype(float)
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    size = min(size, m)
    _, index = cKDTree(centre).query(centre, k=size)
    return np.asarray(index).reshape(m, size)
