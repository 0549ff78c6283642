"""A solver-neutral mixed-integer linear model: what every backend translates.

``minimise c·x + offset  s.t.  row_lo <= A x <= row_hi,  lb <= x <= ub,  x_j integer where
integer[j]``. Rows come in named groups so a diagnosis can say which rule a row belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class RowGroup:
    """Consecutive rows ``start:stop`` that implement one rule (e.g. 'balance workload_h')."""

    name: str
    start: int
    stop: int


@dataclass(frozen=True, eq=False)
class LinearModel:
    """Frozen MILP data; see the module docstring for the meaning of each array."""

    c: np.ndarray
    offset: float
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    a: sp.csr_array
    row_lo: np.ndarray
    row_hi: np.ndarray
    row_groups: tuple[RowGroup, ...] = ()

    @property
    def n_cols(self) -> int:
        """Number of variables."""
        return len(self.c)

    @property
    def n_rows(self) -> int:
        """Number of constraints."""
        return len(self.row_lo)

    def objective(self, x: np.ndarray) -> float:
        """Objective value of the point ``x``."""
        return float(self.c @ x + self.offset)


class RowBuilder:
    """Accumulates constraint rows as COO triplets, grouped by rule."""

    def __init__(self, n_cols: int) -> None:
        self.n_cols = n_cols
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._groups: list[RowGroup] = []
        self.n_rows = 0

    def add(
        self,
        name: str,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> None:
        """Add ``len(lo)`` rows; ``rows`` are 0-based within this group."""
        count = len(lo)
        if count == 0:
            return
        self._rows.append(np.asarray(rows, dtype=np.int64) + self.n_rows)
        self._cols.append(np.asarray(cols, dtype=np.int64))
        self._vals.append(np.asarray(vals, dtype=float))
        self._lo.append(np.asarray(lo, dtype=float))
        self._hi.append(np.asarray(hi, dtype=float))
        self._groups.append(RowGroup(name, self.n_rows, self.n_rows + count))
        self.n_rows += count

    def matrix(self) -> tuple[sp.csr_array, np.ndarray, np.ndarray, tuple[RowGroup, ...]]:
        """The CSR matrix, row bounds and groups built so far."""
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        a = sp.csr_array(
            (cat(self._vals, float), (cat(self._rows, np.int64), cat(self._cols, np.int64))),
            shape=(self.n_rows, self.n_cols),
        )
        return a, cat(self._lo, float), cat(self._hi, float), tuple(self._groups)


def sub_model(model: LinearModel, free: np.ndarray, x: np.ndarray,
              columns: sp.csc_array | None = None) -> LinearModel:
    """The model over the columns ``free`` (a boolean mask), every other column fixed at its
    value in ``x``: their row activity moves into the row bounds and their cost into the
    offset. Rows no free column touches are dropped (``x`` already decides them).

    Large-neighbourhood search re-solves such pieces of a big model around an incumbent;
    ``columns`` is ``model.a`` in CSC form, converted once by a caller that cuts many pieces.
    """
    a = columns if columns is not None else model.a.tocsc()
    fixed_activity = a[:, ~free] @ x[~free]
    sub = a[:, free]
    rows = np.flatnonzero(np.diff(sub.tocsr().indptr) > 0)
    return LinearModel(
        c=model.c[free],
        offset=model.offset + float(model.c[~free] @ x[~free]),
        lb=model.lb[free],
        ub=model.ub[free],
        integer=model.integer[free],
        a=sp.csr_array(sub[rows, :]),
        row_lo=model.row_lo[rows] - fixed_activity[rows],
        row_hi=model.row_hi[rows] - fixed_activity[rows],
    )
