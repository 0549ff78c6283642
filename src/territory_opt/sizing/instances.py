"""Readers for the p-median benchmark instances of the literature (OR-Library).

The instances belong to their authors and live read-only outside the repository (see the shared
folder's ``README.md``); they are read from there by path, never copied in. The folder is
``$TERRITORY_OPT_INSTANCES`` when set, else ``../shared/instances`` beside the repository
(:func:`instances_root`), as for ``benchmarks/instances.py``.

* ``pmed/pmedN.txt`` (Beasley 1985): a graph ``n m p`` then ``i j cost`` edges; the distance
  matrix is all-pairs shortest paths (:func:`read_pmed`).
* ``cpmp_osman_christofides/pmedcap1_XX.txt`` (Osman & Christofides 1994): points with
  demands, capacity ``Q`` per median (:func:`read_cpmp`); distances are computed by the caller
  under a stated convention (:func:`euclidean`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

INSTANCES_ENV = "TERRITORY_OPT_INSTANCES"
"""Environment variable naming the instances folder (overrides :data:`DEFAULT_ROOT`)."""

# src/territory_opt/sizing/instances.py -> parents[3] is the repository.
DEFAULT_ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "instances"
"""``<repo>/../shared/instances``: where the shared folder sits next to the repository."""

FloatArray = npt.NDArray[np.float64]
Convention = Literal["exact", "floor", "round"]
"""How a Euclidean distance is turned into a cost: kept real, floored, or rounded half up."""


def instances_root() -> Path:
    """The instances folder: ``$TERRITORY_OPT_INSTANCES`` if set, else :data:`DEFAULT_ROOT`."""
    env = os.environ.get(INSTANCES_ENV)
    return Path(env) if env else DEFAULT_ROOT


def _frozen(a: npt.ArrayLike) -> FloatArray:
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class PMedianInstance:
    """An uncapacitated p-median instance: every vertex is a client and a candidate site.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"pmed1"``.
    p : int
        Number of medians to open.
    distance : numpy.ndarray
        ``(n, n)`` shortest-path distances (read-only).
    """

    name: str
    p: int
    distance: FloatArray

    @property
    def n(self) -> int:
        """Number of vertices."""
        return int(self.distance.shape[0])


@dataclass(frozen=True, eq=False)
class CpmpInstance:
    """A capacitated p-median instance (Osman–Christofides): every point is a candidate median.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"pmedcap1_01"``.
    p : int
        Number of medians.
    capacity : float
        Capacity ``Q`` of every median.
    xy : numpy.ndarray
        ``(n, 2)`` coordinates.
    demand : numpy.ndarray
        ``(n,)`` demands.
    header_value : float
        The value written in the file's first line (its best known objective).
    """

    name: str
    p: int
    capacity: float
    xy: FloatArray
    demand: FloatArray
    header_value: float

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.xy.shape[0])

    def distance(self, convention: Convention = "exact") -> FloatArray:
        """The ``(n, n)`` distance matrix under ``convention`` (see :func:`euclidean`)."""
        return euclidean(self.xy, convention)


def euclidean(xy: npt.ArrayLike, convention: Convention = "exact") -> FloatArray:
    """Pairwise Euclidean distances of points ``xy``, kept real, floored or rounded half up.

    Raises
    ------
    ValueError
        For another ``convention``.
    """
    pts = np.asarray(xy, dtype=np.float64)
    d: FloatArray = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2))
    if convention == "exact":
        return d
    if convention == "floor":
        return np.asarray(np.floor(d), dtype=np.float64)
    if convention == "round":
        # Half up, as TSPLIB's nint (np.round would round halves to even).
        return np.asarray(np.floor(d + 0.5), dtype=np.float64)
    raise ValueError(f"convention must be 'exact', 'floor' or 'round', not {convention!r}")


def _numbers(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_pmed(path: str | Path) -> PMedianInstance:
    """Read an OR-Library ``pmedN.txt``: edges, then all-pairs shortest paths.

    The cost of a pair listed twice is its last line's (the OR-Library convention; every file has
    such repeats with differing costs).

    Raises
    ------
    ValueError
        If the file is malformed (short, a vertex out of range) or the graph is disconnected.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import shortest_path

    path = Path(path)
    rows = _numbers(path)
    try:
        n, m, p = (int(v) for v in rows[0][:3])
        edges = [(int(r[0]), int(r[1]), float(r[2])) for r in rows[1:1 + m]]
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{path}: expected 'n m p' then m lines 'i j cost'") from exc
    if len(edges) != m:
        raise ValueError(f"{path}: header says {m} edges, file has {len(edges)}")
    last: dict[tuple[int, int], float] = {}
    for i, j, length in edges:  # file order: a repeated pair keeps its last cost
        if not (1 <= i <= n and 1 <= j <= n):
            raise ValueError(f"{path}: edge ({i}, {j}) outside vertices 1..{n}")
        last[(min(i, j), max(i, j))] = length
    ij = np.array(list(last), dtype=np.int64).reshape(-1, 2) - 1
    cost = np.array(list(last.values()), dtype=np.float64)
    # Sparse input: an explicit zero would still be an edge, unlike a dense matrix's zeros.
    graph = csr_array((cost, (ij[:, 0], ij[:, 1])), shape=(n, n))
    dist = np.asarray(shortest_path(graph, method="D", directed=False), dtype=np.float64)
    if not np.isfinite(dist).all():
        raise ValueError(f"{path}: the graph is not connected")
    return PMedianInstance(name=path.stem, p=p, distance=_frozen(dist))


def read_cpmp(path: str | Path) -> CpmpInstance:
    """Read an Osman–Christofides ``pmedcap1_XX.txt`` (``no best``, ``n p Q``, ``id x y q``).

    Raises
    ------
    ValueError
        If the file is malformed.
    """
    path = Path(path)
    rows = _numbers(path)
    try:
        best = float(rows[0][1])
        n, p, q = int(rows[1][0]), int(rows[1][1]), float(rows[1][2])
        body = np.array([[float(v) for v in r[:4]] for r in rows[2:2 + n]], dtype=np.float64)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{path}: expected 'no best', 'n p Q', then n lines 'id x y q'") from exc
    if body.shape != (n, 4):
        raise ValueError(f"{path}: header says {n} points, file has {len(body)}")
    return CpmpInstance(name=path.stem, p=p, capacity=q, xy=_frozen(body[:, 1:3]),
                        demand=_frozen(body[:, 3]), header_value=best)


def read_known(path: str | Path) -> pd.DataFrame:
    """A ``KNOWN.tsv`` as a table (empty cells ``""``), with ``proven``: starts with "yes"."""
    table = pd.read_csv(path, sep="\t", keep_default_na=False)
    table["proven"] = table["proven_optimal"].astype(str).str.strip().str.startswith("yes")
    return table


def pmed_instances(root: str | Path | None = None,
                   names: list[str] | None = None) -> list[tuple[PMedianInstance, float, bool]]:
    """pmed instances of ``KNOWN.tsv`` (all, or ``names``) with known optimum and proof flag.

    Raises
    ------
    ValueError
        When a file's ``n`` or ``p`` disagrees with ``KNOWN.tsv``.
    """
    folder = (Path(root) if root is not None else instances_root()) / "pmed"
    out = []
    for row in read_known(folder / "KNOWN.tsv").itertuples(index=False):
        name = str(row.instance)
        if names and name not in names:
            continue
        inst = read_pmed(folder / f"{name}.txt")
        if (inst.n, inst.p) != (int(str(row.n_vertices)), int(str(row.p))):
            raise ValueError(f"{name}: n={inst.n}, p={inst.p}; KNOWN.tsv says "
                             f"n={row.n_vertices}, p={row.p}")
        out.append((inst, float(str(row.optimal_value)), bool(row.proven)))
    return out


def cpmp_instances(root: str | Path | None = None,
                   names: list[str] | None = None) -> list[tuple[CpmpInstance, float, bool]]:
    """Osman–Christofides instances of ``KNOWN.tsv`` (all, or those whose file stem or
    instance name is in ``names``) with known value and proof flag.

    Raises
    ------
    ValueError
        When a file disagrees with ``KNOWN.tsv`` (size, p, capacity or header value).
    """
    folder = (Path(root) if root is not None else instances_root()) / "cpmp_osman_christofides"
    out = []
    for row in read_known(folder / "KNOWN.tsv").itertuples(index=False):
        file = str(row.file)
        if names and Path(file).stem not in names and str(row.instance) not in names:
            continue
        inst = read_cpmp(folder / file)
        known = float(str(row.best_known))
        expected = (int(str(row.n)), int(str(row.p)), float(str(row.Q_per_median)), known)
        found = (inst.n, inst.p, inst.capacity, inst.header_value)
        if found != expected:
            raise ValueError(f"{file}: (n, p, Q, header) = {found}, KNOWN.tsv says {expected}")
        if not math.isfinite(known):
            raise ValueError(f"{file}: no known value")
        out.append((inst, known, bool(row.proven)))
    return out
