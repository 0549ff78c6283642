"""Readers for the public benchmark instances kept outside the repository.

The instances belong to their authors and live read-only in a shared folder (see its
``README.md``); they are read from there by path and never copied into the project. The folder is
``$TERRITORY_OPT_INSTANCES`` when that variable is set, else ``../shared/instances`` next to the
repository (:func:`instances_root`).

Two families are read here:

* ``gap_orlib/``: OR-Library's Generalized Assignment Problem files (gap1..gap12, gapa..gapd)
  with the reference values of ``KNOWN.tsv`` (:func:`read_gap_file`, :func:`read_gap_known`,
  :func:`gap_instances`);
* ``territory_pfizer/``: the 22-brick × 4-rep Pfizer sales-territory case
  (:func:`read_pfizer22`). Reading its ``.xlsx`` files needs ``openpyxl``.

Matrices are oriented the project's way, items × territories (jobs × agents, bricks × reps),
and are read-only so that one loaded instance can be shared by several benchmark runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

INSTANCES_ENV = "TERRITORY_OPT_INSTANCES"
"""Environment variable naming the instances folder (overrides :data:`DEFAULT_ROOT`)."""

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "instances"
"""``<repo>/../shared/instances``: where the shared folder sits next to the repository."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_T = TypeVar("_T", bound=np.generic)


def instances_root() -> Path:
    """The instances folder: ``$TERRITORY_OPT_INSTANCES`` if set, else :data:`DEFAULT_ROOT`."""
    env = os.environ.get(INSTANCES_ENV)
    return Path(env) if env else DEFAULT_ROOT


def _frozen(a: npt.ArrayLike, dtype: type[_T]) -> npt.NDArray[_T]:
    """A read-only copy of ``a``: the dataclasses are frozen, their arrays should be too."""
    out = np.array(a, dtype=dtype)
    out.setflags(write=False)
    return out


# --- Generalized Assignment Problem (OR-Library) ----------------------------------------------


# eq=False: the generated __eq__ would compare numpy arrays, whose truth value is ambiguous.
@dataclass(frozen=True, eq=False)
class GapInstance:
    """One GAP problem, transposed to jobs × agents.

    Attributes
    ----------
    name : str
        Literature name from ``KNOWN.tsv`` (e.g. ``"c515-1"``, ``"d20200"``), or
        ``"<file stem>-<index>"`` when the file has no ``KNOWN.tsv`` row.
    file : str
        File name, e.g. ``"gap1.txt"``.
    index : int
        1-based position of the problem in its file.
    cost : numpy.ndarray
        ``(n_jobs, m_agents)``: ``cost[j, i]`` is the file's ``c[i][j]``.
    resource : numpy.ndarray
        ``(n_jobs, m_agents)``: resource job ``j`` uses when given to agent ``i``.
    capacity : numpy.ndarray
        ``(m_agents,)``: each agent's resource capacity.
    """

    name: str
    file: str
    index: int
    cost: IntArray
    resource: IntArray
    capacity: IntArray

    @property
    def n_jobs(self) -> int:
        """Number of jobs (rows)."""
        return int(self.cost.shape[0])

    @property
    def m_agents(self) -> int:
        """Number of agents (columns)."""
        return int(self.cost.shape[1])

    def objective(self, assignment: npt.ArrayLike) -> int:
        """Total cost of ``assignment`` (agent index per job)."""
        a = np.asarray(assignment, dtype=np.int64)
        return int(self.cost[np.arange(self.n_jobs), a].sum())

    def loads(self, assignment: npt.ArrayLike) -> IntArray:
        """Resource used per agent by ``assignment`` (agent index per job)."""
        a = np.asarray(assignment, dtype=np.int64)
        used = self.resource[np.arange(self.n_jobs), a]
        return np.bincount(a, weights=used, minlength=self.m_agents).astype(np.int64)

    def is_feasible(self, assignment: npt.ArrayLike) -> bool:
        """Whether ``assignment`` respects every agent's capacity."""
        return bool(np.all(self.loads(assignment) <= self.capacity))


def _known_gap_names(folder: Path) -> dict[tuple[str, int], str]:
    """``(file, index_in_file) -> instance`` from ``folder/KNOWN.tsv``; empty if there is none."""
    known = folder / "KNOWN.tsv"
    if not known.is_file():
        return {}
    table = read_gap_known(known)
    return {(str(f), int(i)): str(n)
            for f, i, n in zip(table["file"], table["index_in_file"], table["instance"],
                               strict=True)}


def read_gap_file(path: str | Path) -> list[GapInstance]:
    """Read an OR-Library GAP file (``P``, then per problem ``m n``, ``c``, ``a``, ``b``).

    Parameters
    ----------
    path : str or pathlib.Path
        A gap*.txt file. Names come from the ``KNOWN.tsv`` in the same folder, if any.

    Returns
    -------
    list of GapInstance
        The file's problems in order, matrices transposed to jobs × agents.

    Raises
    ------
    ValueError
        If the file is not whole integers, ends early or has tokens left over.
    """
    path = Path(path)
    try:
        tokens = np.array(path.read_text().split(), dtype=np.int64)
    except ValueError as exc:  # a float or a word: not this format
        raise ValueError(f"{path}: not a GAP file of whitespace-separated integers") from exc
    names = _known_gap_names(path.parent)
    pos = 0

    def take(count: int, what: str) -> IntArray:
        nonlocal pos
        if count < 0 or pos + count > tokens.size:
            raise ValueError(f"{path}: file ends while reading {what} "
                             f"(needs {count} numbers at token {pos}, has {tokens.size - pos})")
        out = tokens[pos:pos + count]
        pos += count
        return out

    n_problems = int(take(1, "the problem count")[0])
    problems: list[GapInstance] = []
    for index in range(1, n_problems + 1):
        m, n = (int(v) for v in take(2, f"the size of problem {index}"))
        if m <= 0 or n <= 0:
            raise ValueError(f"{path}: problem {index} has size m={m}, n={n}")
        cost = take(m * n, f"the costs of problem {index}").reshape(m, n)
        resource = take(m * n, f"the resources of problem {index}").reshape(m, n)
        capacity = take(m, f"the capacities of problem {index}")
        problems.append(GapInstance(
            name=names.get((path.name, index), f"{path.stem}-{index}"),
            file=path.name,
            index=index,
            # The file is agents × jobs; the project works items × territories.
            cost=_frozen(cost.T, np.int64),
            resource=_frozen(resource.T, np.int64),
            capacity=_frozen(capacity, np.int64),
        ))
    if pos != tokens.size:
        raise ValueError(f"{path}: {tokens.size - pos} numbers left after {n_problems} problems")
    return problems


def read_gap_known(path: str | Path | None = None) -> pd.DataFrame:
    """Read ``gap_orlib/KNOWN.tsv``: the reference value of each GAP problem, per sense.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Defaults to ``instances_root() / "gap_orlib" / "KNOWN.tsv"``.

    Returns
    -------
    pandas.DataFrame
        The file's columns (``instance, file, index_in_file, m_agents, n_jobs, sense, value,
        proven_optimal, agreeing_sources, notes``; empty cells are ``""``) plus ``proven``:
        True where ``proven_optimal`` is ``"yes"`` (d20200's is ``"no (BKS)"``).
    """
    path = Path(path) if path is not None else instances_root() / "gap_orlib" / "KNOWN.tsv"
    # keep_default_na=False: empty notes stay "" rather than NaN; numbers are still parsed.
    table = pd.read_csv(path, sep="\t", keep_default_na=False)
    table["proven"] = table["proven_optimal"].astype(str).str.strip().eq("yes")
    return table


def gap_instances(sense: str = "min",
                  root: str | Path | None = None) -> list[tuple[GapInstance, float, bool]]:
    """Every GAP problem with a ``KNOWN.tsv`` value for ``sense``, in the table's order.

    Parameters
    ----------
    sense : {"min", "max"}
        ``"min"``: gap1..gap12 (60 problems) and gapa..gapd (24); ``"max"``: gap1..gap12 only
        (OR-Library's original maximisation optima).
    root : str or pathlib.Path, optional
        The instances folder; defaults to :func:`instances_root`.

    Returns
    -------
    list of (GapInstance, float, bool)
        Problem, known value (optimum or best known) and whether that value is proven optimal.

    Raises
    ------
    ValueError
        For another ``sense``, or when a file's problem sizes disagree with ``KNOWN.tsv``.
    """
    if sense not in ("min", "max"):
        raise ValueError(f"sense must be 'min' or 'max', not {sense!r}")
    folder = (Path(root) if root is not None else instances_root()) / "gap_orlib"
    table = read_gap_known(folder / "KNOWN.tsv")
    rows = table[table["sense"] == sense]
    files: dict[str, list[GapInstance]] = {}
    out: list[tuple[GapInstance, float, bool]] = []
    for row in rows.itertuples(index=False):
        file = str(row.file)
        if file not in files:  # each file once, however many rows point into it
            files[file] = read_gap_file(folder / file)
        problem = files[file][int(str(row.index_in_file)) - 1]
        if (problem.m_agents, problem.n_jobs) != (int(str(row.m_agents)), int(str(row.n_jobs))):
            raise ValueError(f"{file} problem {problem.index} is {problem.m_agents} × "
                             f"{problem.n_jobs}, KNOWN.tsv says {row.m_agents} × {row.n_jobs}")
        out.append((problem, float(str(row.value)), bool(row.proven)))
    return out


# --- Pfizer sales-territory case (22 bricks × 4 reps) ------------------------------------------

PFIZER22_OFFICES = (4, 14, 16, 22)
"""Office brick of SR1..SR4 (``KNOWN.tsv``; the brick-bureau sheet has distance 0 there)."""

PFIZER22_CURRENT: dict[str, tuple[int, ...]] = {
    "SR1": (4, 5, 6, 7, 8, 15),
    "SR2": (10, 11, 12, 13, 14),
    "SR3": (9, 16, 17, 18),
    "SR4": (1, 2, 3, 19, 20, 21, 22),
}
"""The current assignment published with the case (bricks per rep; ``KNOWN.tsv``).

It is in none of the spreadsheets, hence written out here."""


@dataclass(frozen=True, eq=False)
class Pfizer22:
    """The Pfizer case: 22 bricks (items) × 4 sales reps (territories).

    Attributes
    ----------
    bricks : numpy.ndarray
        ``(22,)`` brick ids 1..22; row ``b`` of every array is brick ``bricks[b]``.
    reps : tuple of str
        ``("SR1", "SR2", "SR3", "SR4")``; column ``k`` of every array is ``reps[k]``.
    workload : numpy.ndarray
        ``(22,)`` workload index per brick (``indexValues.xlsx``; sums to 4.0).
    distance : numpy.ndarray
        ``(22, 4)`` distance from each brick to each rep's office brick, as given (2 decimals)
        in the ``brick-bureau`` sheet of ``distances.xlsx``. This is the matrix that reproduces
        the published figures (current total 187.41).
    brick_distance : numpy.ndarray
        ``(22, 22)`` brick-to-brick distances (``brick-brick`` sheet, full precision). Its
        office columns differ from ``distance`` by up to 0.07: the two sheets were not computed
        the same way (current total 187.34 with this one).
    offices : numpy.ndarray
        ``(4,)`` office brick id of each rep: 4, 14, 16, 22.
    current : numpy.ndarray
        ``(22,)`` rep index (0..3) of each brick in the current assignment.
    """

    bricks: IntArray
    reps: tuple[str, ...]
    workload: FloatArray
    distance: FloatArray
    brick_distance: FloatArray
    offices: IntArray
    current: IntArray

    def total_distance(self, assignment: npt.ArrayLike | None = None) -> float:
        """Sum of brick-to-office distances (``distance``) of ``assignment`` (default: current)."""
        a = self.current if assignment is None else np.asarray(assignment, dtype=np.int64)
        return float(self.distance[np.arange(self.bricks.size), a].sum())

    def workloads(self, assignment: npt.ArrayLike | None = None) -> FloatArray:
        """Workload per rep of ``assignment`` (rep index per brick; default: current)."""
        a = self.current if assignment is None else np.asarray(assignment, dtype=np.int64)
        return np.bincount(a, weights=self.workload, minlength=len(self.reps)).astype(np.float64)


def _check_ids(values: npt.ArrayLike, expected: range, what: str) -> None:
    """Fail loudly if a sheet's row or column labels are not where this reader expects them."""
    got = [int(v) for v in np.asarray(values, dtype=np.float64)]
    if got != list(expected):
        raise ValueError(f"{what}: expected labels {expected.start}..{expected.stop - 1}, "
                         f"got {got}")


def read_pfizer22(folder: str | Path | None = None) -> Pfizer22:
    """Read the 22-brick × 4-rep Pfizer case from its spreadsheets.

    Parameters
    ----------
    folder : str or pathlib.Path, optional
        The ``territory_pfizer`` folder; defaults to ``instances_root() / "territory_pfizer"``.

    Returns
    -------
    Pfizer22

    Raises
    ------
    ValueError
        If a sheet's layout is not the expected one, or the office bricks (distance 0 in the
        brick-bureau sheet) are not 4, 14, 16, 22.
    ImportError
        Without ``openpyxl`` (pandas needs it for ``.xlsx``).
    """
    folder = Path(folder) if folder is not None else instances_root() / "territory_pfizer"
    n_bricks, n_reps = 22, 4

    # indexValues.xlsx: one sheet, no header; column A brick id, column B workload index.
    index = pd.read_excel(folder / "indexValues.xlsx", header=None).dropna(how="all")
    _check_ids(index.iloc[:, 0], range(1, n_bricks + 1), "indexValues.xlsx column A")
    workload = index.iloc[:, 1].to_numpy(dtype=np.float64)

    # brick-bureau: row 2 holds the rep numbers 1..4 (C2:F2), column B the brick ids (B3:B24);
    # the body C3:F24 is the distance from the brick to the rep's office brick.
    bureau = pd.read_excel(folder / "distances.xlsx", sheet_name="brick-bureau", header=None)
    _check_ids(bureau.iloc[1, 2:2 + n_reps], range(1, n_reps + 1), "brick-bureau C2:F2")
    _check_ids(bureau.iloc[2:2 + n_bricks, 1], range(1, n_bricks + 1), "brick-bureau B3:B24")
    distance = bureau.iloc[2:2 + n_bricks, 2:2 + n_reps].to_numpy(dtype=np.float64)

    # brick-brick: the same layout, 22 × 22 (C3:X24).
    pairs = pd.read_excel(folder / "distances.xlsx", sheet_name="brick-brick", header=None)
    _check_ids(pairs.iloc[1, 2:2 + n_bricks], range(1, n_bricks + 1), "brick-brick C2:X2")
    _check_ids(pairs.iloc[2:2 + n_bricks, 1], range(1, n_bricks + 1), "brick-brick B3:B24")
    brick_distance = pairs.iloc[2:2 + n_bricks, 2:2 + n_bricks].to_numpy(dtype=np.float64)

    # The sheets do not name the offices; a zero distance does. Check it against KNOWN.tsv.
    zeros = [tuple(int(b) + 1 for b in np.flatnonzero(distance[:, k] == 0)) for k in range(n_reps)]
    if zeros != [(o,) for o in PFIZER22_OFFICES]:
        raise ValueError(f"brick-bureau: zero-distance bricks per rep are {zeros}, "
                         f"expected the offices {PFIZER22_OFFICES}")

    reps = tuple(PFIZER22_CURRENT)
    current = np.full(n_bricks, -1, dtype=np.int64)
    for k, rep in enumerate(reps):
        current[[b - 1 for b in PFIZER22_CURRENT[rep]]] = k

    return Pfizer22(
        bricks=_frozen(np.arange(1, n_bricks + 1), np.int64),
        reps=reps,
        workload=_frozen(workload, np.float64),
        distance=_frozen(distance, np.float64),
        brick_distance=_frozen(brick_distance, np.float64),
        offices=_frozen(PFIZER22_OFFICES, np.int64),
        current=_frozen(current, np.int64),
    )


def parse_pfizer_assignment(text: str) -> dict[str, tuple[int, ...]]:
    """Bricks per rep from ``KNOWN.tsv``'s notation, e.g. ``"SR1@4:{4,5} SR2@14:{10..14}"``.

    Used by the tests to check :data:`PFIZER22_CURRENT` against the table it was copied from.
    """
    out: dict[str, tuple[int, ...]] = {}
    for rep, body in re.findall(r"(SR\d+)@\d+:\{([^}]*)\}", text):
        bricks: list[int] = []
        for part in body.split(","):
            lo, _, hi = part.strip().partition("..")
            bricks.extend(range(int(lo), int(hi or lo) + 1))
        out[rep] = tuple(bricks)
    return out
