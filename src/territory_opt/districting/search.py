"""The districting local search: simulated annealing over boundary moves that never
disconnect a district, with recombination between cycles.

First the search gets inside the bands (annealing the violation, measured in band widths, and
recombining the most violating district toward the nearest one with room), then it anneals the
objective with moves that keep every band, recombining between cycles and going back to the
best plan after a cycle that found nothing better. Only plans inside every band are kept.
"""

from __future__ import annotations

import math

from territory_opt.districting.contiguity import removal_keeps_connected
from territory_opt.districting.recombine import recombine_random, recombine_worst
from territory_opt.districting.state import FEASIBLE, Clock, SearchState


class Search(SearchState):
    """Simulated annealing over boundary moves, with recombination (module docstring)."""

    def run(self, clock: Clock, lower: float) -> None:
        """First into the bands (moves that shrink the violation, and recombinations of the
        most violating district with a neighbour), then anneal the objective inside the bands
        in cycles (hot to cold) with recombinations between them, restarting from the best plan
        after a cycle that found nothing better. Ends at the deadline, the stop flag,
        ``iterations`` move attempts, the patience or the bound."""
        self.clock = clock
        self.record()
        if not self.blist:
            return  # one district, or nothing can move: the plan is the only one
        while self.best is None and not self.clock.over():
            self._anneal(max(2_000, 5 * self.p.n_units), hard=False)
            if self.viol > FEASIBLE:
                for _ in range(self.k):
                    recombine_worst(self)
                    if self.viol <= FEASIBLE or self.clock.over():
                        break
            self.recount()
            self.record()
        cycle = max(2_000, 10 * self.p.n_units)
        recombination = 8 * self.p.n_units  # its cost in move attempts, as the clock charges
        # Work annealing and recombining is kept about even, counted in attempts rather than
        # seconds, so that a seed gives the same plan however busy the machine is.
        spent = [0, 0]
        while self.best is not None and not self.clock.over():
            if self.best_value <= lower + 1e-9:
                return
            before = self.best_value
            self._anneal(cycle, hard=True)
            spent[0] += cycle
            while spent[1] < spent[0] and not self.clock.over(recombination):
                recombine_random(self)
                spent[1] += recombination
            self.stats.cycles += 1
            self.recount()
            if not self.cut:
                self.recentre()
            if self.best_value >= before:
                self.restore()

    def _anneal(self, steps: int, hard: bool) -> None:
        """Boundary moves for ``steps`` tries, temperature falling geometrically. ``hard``:
        only moves that keep every band (the plan is inside them), annealing the objective;
        else annealing the violation (in band widths) with the objective as a small tie-break.
        """
        rng, lab, nbrs = self.rng, self.labels, self.nbrs
        if hard:
            t_hot, t_cold = 1.5 * self.scale, 0.03 * self.scale
        else:  # in band widths, from about one typical unit's weight down
            t_hot, t_cold = 0.5 * self.unit_move, 0.01 * self.unit_move
        ratio = (t_cold / t_hot) ** (1.0 / max(steps, 1))
        temp = t_hot
        contig = self.p.contiguity
        per_width = 1.0 / self.width
        tie = 1e-3 * self.unit_move / self.scale  # far below what one unit's weight moves
        for step in range(steps):
            if step & 255 == 0 and self.clock.over(256):
                return
            temp *= ratio
            if not self.blist:
                return
            u = self.blist[rng.randrange(len(self.blist))]
            self.stats.tried += 1
            if self.pinned[u]:
                continue
            a = lab[u]
            options = [lab[w] for w in nbrs[u] if lab[w] != a]
            b = options[rng.randrange(len(options))]
            do, dv = self.deltas(u, a, b)
            if hard:
                if dv > 1e-12:
                    continue
                delta = do
            else:
                delta = dv * per_width + tie * do
            if delta > 0 and rng.random() >= math.exp(-delta / temp):
                continue
            if contig and not removal_keeps_connected(nbrs, lab, u):
                self.stats.split += 1
                continue
            self.apply(u, a, b, do, dv)
            if self.viol <= FEASIBLE and self.value < self.best_value - 1e-9:
                self.record()
                if not hard:
                    return  # inside the bands: the objective's turn
