"""Random tiny alignment scenarios for ``test_fuzz.py``, and a brute-force oracle for them.

:func:`cases` is a hypothesis strategy of :class:`FuzzCase`: 1-8 accounts, 1-3 reps, attributes
``potential`` and ``workload`` with zeros, tiny (1e-7), huge (1e9) and ordinary values, homes and
accounts in a US-sized box, FTE 0.5-2, balance rules (hard or soft) on 0-2 attributes, and
optionally locks (column and/or ``rules.locks``), current territories with a disruption cap,
eligibility, a workload capacity, a maximum distance and reps without a home.

:class:`Oracle` scores *every* assignment (``reps ** accounts``, at most 3^8 = 6,561) straight from
the case's raw data and docs/scenario-format.md, independently of the loader, the model and the
KPI evaluator: hard rules with a chosen slack, and the objective.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conftest import TinyScenario

ATTRIBUTES = ("potential", "workload")
EARTH_RADIUS_KM = 6371.0088
EVALUATOR_SLACK = 1e-6
"""The evaluator's rule slack (``kpi.evaluate.RULE_TOLERANCE``, docs: 10^-6 × max(target, 1))."""
STRICT_SLACK = 1e-9
"""Slack of "really feasible": only floating-point noise is forgiven."""

BASE_SPEC: dict[str, Any] = {
    "version": 1,
    "name": "fuzz",
    "model": "alignment",
    "items": {
        "path": "accounts.csv",
        "id": "id",
        "latitude": "lat",
        "longitude": "lon",
        "attributes": list(ATTRIBUTES),
    },
    "territories": {
        "path": "reps.csv",
        "id": "rep_id",
        "home_latitude": "home_lat",
        "home_longitude": "home_lon",
        "fte": "fte",
    },
}


@dataclass
class FuzzCase:
    """A scenario as plain data: the rows of ``accounts.csv`` and ``reps.csv`` and the YAML."""

    accounts: list[dict[str, Any]]
    reps: list[dict[str, Any]]
    spec: dict[str, Any] = field(default_factory=dict)

    def write(self, root: Path) -> Path:
        """Write the scenario under ``root/in`` (see :class:`conftest.TinyScenario`); returns
        the YAML path."""
        tiny = TinyScenario(root, accounts=copy.deepcopy(self.accounts),
                            reps=copy.deepcopy(self.reps), spec=copy.deepcopy(self.spec))
        return tiny.write()

    @property
    def rules(self) -> dict[str, Any]:
        return dict(self.spec.get("rules", {}))

    def soft_rules(self) -> list[dict[str, Any]]:
        """The balance rules with ``hard: false``."""
        return [r for r in self.rules.get("balance", []) if not r.get("hard", True)]

    def hard_rules(self) -> list[dict[str, Any]]:
        """The balance rules that are hard (``hard`` left out means hard)."""
        return [r for r in self.rules.get("balance", []) if r.get("hard", True)]


# --- strategy ---------------------------------------------------------------------------------

MAGNITUDE = st.one_of(
    st.sampled_from([0.0, 1e-7, 1e9, 1.0]),
    st.integers(1, 100).map(float),
    st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False),
)
"""Attribute values (and capacities): zeros, tiny, huge and ordinary."""
REGIMES = {
    "mixed": MAGNITUDE,
    "tiny": st.integers(0, 10).map(lambda k: k * 1e-7),
    "huge": st.integers(0, 10).map(lambda k: k * 1e9),
}
"""Per attribute and scenario: values of every magnitude, or all tiny, or all huge (a
scenario's rows then live entirely at one extreme of the solvers' tolerances)."""

TOLERANCE = st.one_of(st.sampled_from([0.2, 0.5, 0.1, 0.05, 0.0]),
                      st.floats(0.0, 0.5, allow_nan=False))
"""Band tolerances; the wide ones first, so fewer examples are infeasible (0 is still drawn)."""
LATITUDE = st.floats(25.0, 49.0, allow_nan=False)
LONGITUDE = st.floats(-125.0, -67.0, allow_nan=False)
SEGMENTS = ("", "a", "b")
SKILL_SETS = ("a;b", "a;b", "a;b", "a", "b", "")
"""Rep skills, mostly both (an account whose segment no rep has is infeasible, and dull)."""


@st.composite
def cases(draw: st.DrawFn) -> FuzzCase:
    """A small valid alignment scenario (see the module docstring)."""
    n = draw(st.integers(1, 8), label="accounts")
    m = draw(st.integers(1, 3), label="reps")
    rep_ids = [f"R{k + 1}" for k in range(m)]
    use_eligibility = draw(st.booleans(), label="eligibility")
    use_capacity = draw(st.integers(0, 2), label="capacity") == 2
    use_current = draw(st.booleans(), label="current")
    use_lock_column = draw(st.booleans(), label="lock column")

    reps = []
    for rep in rep_ids:
        homeless = draw(st.integers(0, 5), label=f"{rep} homeless") == 5  # rare
        row: dict[str, Any] = {
            "rep_id": rep,
            "home_lat": "" if homeless else draw(LATITUDE),
            "home_lon": "" if homeless else draw(LONGITUDE),
            "fte": draw(st.one_of(st.sampled_from([1.0, 0.5, 2.0]), st.floats(0.5, 2.0))),
        }
        if use_eligibility:
            row["skills"] = draw(st.sampled_from(SKILL_SETS))
        if use_capacity:
            tight = draw(st.integers(0, 3), label=f"{rep} tight capacity") == 3
            row["max_workload"] = draw(MAGNITUDE if tight else st.sampled_from(["", 1e9, 300.0]))
        reps.append(row)

    values = {a: REGIMES[draw(st.sampled_from(list(REGIMES)), label=f"{a} regime")]
              for a in ATTRIBUTES}
    accounts = []
    locks: dict[str, str] = {}
    for i in range(n):
        item = f"A{i + 1}"
        row = {"id": item, "lat": draw(LATITUDE), "lon": draw(LONGITUDE),
               "potential": draw(values["potential"]), "workload": draw(values["workload"])}
        if use_eligibility:
            row["segment"] = draw(st.sampled_from(SEGMENTS))
        if use_current:
            row["current_rep"] = draw(st.sampled_from(["", *rep_ids]))
        if draw(st.integers(0, 4), label=f"{item} locked") == 4:
            locks[item] = draw(st.sampled_from(rep_ids))
        accounts.append(row)

    # Locks: in the column, in rules.locks, or both (they then agree).
    column_locks: dict[str, str] = {}
    yaml_locks: dict[str, str] = {}
    for item, rep in locks.items():
        where = draw(st.sampled_from(["yaml", "column", "both"])) if use_lock_column else "yaml"
        if where in ("column", "both"):
            column_locks[item] = rep
        if where in ("yaml", "both"):
            yaml_locks[item] = rep
    if use_lock_column:
        for row in accounts:
            row["lock"] = column_locks.get(row["id"], "")

    spec = copy.deepcopy(BASE_SPEC)
    if use_current:
        spec["items"]["current"] = "current_rep"
    if use_lock_column:
        spec["items"]["lock"] = "lock"
    if use_eligibility:
        spec["items"]["tags"] = ["segment"]
        spec["territories"]["skills"] = "skills"
    if use_capacity:
        spec["territories"]["capacity"] = {"workload": "max_workload"}

    rules: dict[str, Any] = {}
    balanced = draw(st.sampled_from([(), ("workload",), ("potential",), ("workload", "potential"),
                                     ("potential", "workload")]), label="balanced attributes")
    balance = []
    for attribute in balanced:
        rule: dict[str, Any] = {"attribute": attribute, "tolerance": draw(TOLERANCE)}
        hard = draw(st.booleans(), label=f"{attribute} soft") is False
        if draw(st.booleans(), label=f"{attribute} explicit hard") or not hard:
            rule["hard"] = hard
        if not hard:
            rule["penalty"] = draw(st.sampled_from([1.0, 0.0, 1e-3, 100.0]))
        balance.append(rule)
    if balance:
        rules["balance"] = balance
    if yaml_locks:
        rules["locks"] = yaml_locks
    if use_eligibility:
        rules["eligibility"] = ["segment"]
    if draw(st.booleans(), label="max distance"):
        rules["max_distance_km"] = draw(st.one_of(st.sampled_from([5000.0, 2500.0, 1000.0]),
                                                  st.floats(1.0, 5000.0)))
    if use_current and draw(st.booleans(), label="disruption cap"):
        rules["disruption"] = {
            "attribute": draw(st.sampled_from(["items", *ATTRIBUTES])),
            "max_share": draw(st.one_of(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
                                        st.floats(0.0, 1.0))),
        }
    if rules:
        spec["rules"] = rules

    travel: dict[str, Any] = {"weight": draw(st.sampled_from([1.0, 0.0, 1e-3]))}
    travel_attribute = draw(st.sampled_from([None, *ATTRIBUTES]), label="travel attribute")
    if travel_attribute is not None:
        travel["attribute"] = travel_attribute
    spec["objective"] = {
        "travel": travel,
        "disruption": {"weight": draw(st.sampled_from([0.0, 1.0, 50.0])),
                       "per": draw(st.sampled_from(["items", *ATTRIBUTES]))},
    }
    return FuzzCase(accounts, reps, spec)


# --- brute force ------------------------------------------------------------------------------


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
                 ) -> np.ndarray:
    """Great-circle km on the sphere of docs/scenario-format.md (R = 6371.0088 km)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin((np.radians(lon2) - np.radians(lon1)) / 2) ** 2)
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def _number(cell: Any) -> float:
    return float("nan") if cell == "" else float(cell)


class Oracle:
    """Every assignment of a :class:`FuzzCase`, scored from its raw data.

    ``assignments`` is (N, n_items): territory index per item, N = reps ** accounts.
    """

    def __init__(self, case: FuzzCase) -> None:
        self.case = case
        accounts, reps, rules = case.accounts, case.reps, case.rules
        self.n, self.m = len(accounts), len(reps)
        self.rep_ids = [r["rep_id"] for r in reps]
        index = {rep: k for k, rep in enumerate(self.rep_ids)}
        self.attr = {a: np.array([float(row[a]) for row in accounts]) for a in ATTRIBUTES}
        self.fte = np.array([float(r["fte"]) for r in reps])
        lat = np.array([float(row["lat"]) for row in accounts])
        lon = np.array([float(row["lon"]) for row in accounts])
        home_lat = np.array([_number(r["home_lat"]) for r in reps])
        home_lon = np.array([_number(r["home_lon"]) for r in reps])
        self.km = haversine_km(lat[:, None], lon[:, None], home_lat[None, :], home_lon[None, :])

        spec = case.spec
        self.current = np.array([index.get(row.get("current_rep", ""), -1) for row in accounts]
                                if "current" in spec["items"] else [-1] * self.n)
        lock = {**{row["id"]: row["lock"] for row in accounts if row.get("lock")},
                **rules.get("locks", {})}
        self.lock = np.array([index[lock[row["id"]]] if row["id"] in lock else -1
                              for row in accounts])

        # Pairs allowed by eligibility and distance (per slack); locks override both.
        eligible = np.ones((self.n, self.m), dtype=bool)
        if rules.get("eligibility"):
            skills = [set(filter(None, re.split(r"[;,|]", r["skills"]))) for r in reps]
            for i, row in enumerate(accounts):
                if row["segment"]:
                    eligible[i] = [row["segment"] in s for s in skills]
        self.eligible = eligible
        self.max_km = rules.get("max_distance_km")

        self.capacity = None
        if "capacity" in spec["territories"]:
            self.capacity = np.array([_number(r["max_workload"]) for r in reps])
        self.balance = rules.get("balance", [])
        self.cap_rule = rules.get("disruption")

        objective = spec.get("objective", {})
        travel = objective.get("travel", {})
        multiplier = (self.attr[travel["attribute"]] if travel.get("attribute")
                      else np.ones(self.n))
        disruption = objective.get("disruption", {})
        per = disruption.get("per", "items")
        moved_weight = np.ones(self.n) if per == "items" else self.attr[per]
        k = np.arange(self.m)[None, :]
        moved = (self.current[:, None] >= 0) & (self.current[:, None] != k)
        self.pair_cost = (travel.get("weight", 1.0) * np.nan_to_num(self.km) * multiplier[:, None]
                          + disruption.get("weight", 0.0) * moved_weight[:, None] * moved)

        grid = np.indices((self.m,) * self.n).reshape(self.n, -1).T
        self.assignments = np.ascontiguousarray(grid, dtype=np.int64)
        self.objective = self.objectives(self.assignments)

    def objective_slack(self) -> float:
        """How much an objective may be off when a solver keeps the soft bands only to the
        evaluator's documented precision (10^-6 × max(target, 1) per territory): a solver's
        slack columns can under-count each territory's excess by that much."""
        return float(sum(
            rule.get("penalty", 1.0) * EVALUATOR_SLACK
            * np.maximum(self.targets(rule["attribute"]), 1.0).sum()
            for rule in self.balance if not rule.get("hard", True)))

    def cost_scale(self) -> float:
        """The largest objective any assignment can have, roughly: every item at its dearest
        territory, plus every soft band missed by its whole target. A solver's bound and
        objective are only good to about 1e-9 of this (floating point, tolerances)."""
        worst = float(np.abs(self.pair_cost).max(axis=1).sum())
        return worst + float(sum(
            rule.get("penalty", 1.0) * 2 * self.targets(rule["attribute"]).sum()
            for rule in self.balance if not rule.get("hard", True)))

    def targets(self, attribute: str) -> np.ndarray:
        return np.asarray(self.attr[attribute].sum() * self.fte / self.fte.sum())

    def loads(self, assignments: np.ndarray, attribute: str) -> np.ndarray:
        """(N, m) load of ``attribute`` per territory."""
        onehot = assignments[:, :, None] == np.arange(self.m)[None, None, :]
        return np.asarray(np.einsum("nik,i->nk", onehot, self.attr[attribute]))

    def objectives(self, assignments: np.ndarray) -> np.ndarray:
        """Objective of each assignment (travel, disruption, soft-band penalties)."""
        total = self.pair_cost[np.arange(self.n)[None, :], assignments].sum(axis=1)
        for rule in self.balance:
            if rule.get("hard", True):
                continue
            load, target, tol = (self.loads(assignments, rule["attribute"]),
                                 self.targets(rule["attribute"]), rule["tolerance"])
            excess = (np.maximum((1 - tol) * target - load, 0)
                      + np.maximum(load - (1 + tol) * target, 0))
            total = total + rule.get("penalty", 1.0) * excess.sum(axis=1)
        return np.asarray(total)

    def feasible(self, assignments: np.ndarray, slack: float) -> np.ndarray:
        """Whether each assignment meets every hard rule, with the evaluator's kind of slack:
        bands ``slack × max(target, 1)``, capacity ``slack × (capacity + 1)``, disruption
        share ``slack``, distance ``slack`` relative (any slack > 0 forgives rounding)."""
        ok = np.ones(len(assignments), dtype=bool)
        items = np.arange(self.n)[None, :]
        allowed = self.eligible.copy()
        if self.max_km is not None:
            with np.errstate(invalid="ignore"):
                allowed &= ~(self.km > self.max_km * (1 + slack))  # no home: no limit
        locked = self.lock >= 0
        allowed[locked] = False
        allowed[np.flatnonzero(locked), self.lock[locked]] = True
        ok &= allowed[items, assignments].all(axis=1)
        for rule in self.balance:
            if not rule.get("hard", True):
                continue
            load, target, tol = (self.loads(assignments, rule["attribute"]),
                                 self.targets(rule["attribute"]), rule["tolerance"])
            give = slack * np.maximum(target, 1.0)
            ok &= ((load >= (1 - tol) * target - give) & (load <= (1 + tol) * target + give)
                   ).all(axis=1)
        if self.capacity is not None:
            load = self.loads(assignments, "workload")
            cap = self.capacity
            with np.errstate(invalid="ignore"):
                ok &= ~(load > cap * (1 + slack) + slack).any(axis=1)  # NaN: no limit
        if self.cap_rule is not None and (self.current >= 0).any():
            attribute = self.cap_rule.get("attribute", "items")
            weight = np.ones(self.n) if attribute == "items" else self.attr[attribute]
            moved = (self.current[None, :] >= 0) & (assignments != self.current[None, :])
            share = (moved * weight[None, :]).sum(axis=1) / max(weight.sum(), 1e-12)
            ok &= share <= self.cap_rule["max_share"] + slack
        return ok

    def best(self, slack: float = STRICT_SLACK) -> tuple[float, np.ndarray | None]:
        """Least objective over the assignments feasible with ``slack``, and one that has it
        (``inf, None`` when none is)."""
        feasible = self.feasible(self.assignments, slack)
        if not feasible.any():
            return float("inf"), None
        objective = np.where(feasible, self.objective, np.inf)
        j = int(np.argmin(objective))
        return float(objective[j]), self.assignments[j]


# --- conflict names ---------------------------------------------------------------------------

_BALANCE_ONE = re.compile(r"balance (\w+)(?: ±([0-9.e+-]+)%)?")
_BALANCE_LIST = re.compile(r"balance \(([^)]*)\)")
_LIST_ENTRY = re.compile(r"(\w+) ±([0-9.e+-]+)%")


def balance_rules_named(text: str) -> list[tuple[str, str | None]]:
    """(attribute, tolerance in % as written or None) of every balance rule a conflict's
    ``rules`` text names: ``balance workload ±20%``, ``balance workload`` (an elastic group)
    and ``balance (workload ±20%, potential ±10%)`` (the disruption-cap diagnosis)."""
    named: list[tuple[str, str | None]] = []
    for inner in _BALANCE_LIST.findall(text):
        named += [(a, t) for a, t in _LIST_ENTRY.findall(inner)]
    named += [(a, t or None) for a, t in _BALANCE_ONE.findall(_BALANCE_LIST.sub("", text))]
    return named


def names_a_soft_rule(case: FuzzCase, text: str) -> tuple[str, str | None] | None:
    """The first balance rule named in ``text`` that matches no hard rule of ``case`` (it can
    then only be a soft one), or None."""
    hard = case.hard_rules()
    for attribute, tolerance in balance_rules_named(text):
        matches = [r for r in hard if r["attribute"] == attribute and (
            tolerance is None or f"{r['tolerance'] * 100:g}" == tolerance)]
        if not matches:
            return attribute, tolerance
    return None


# --- minimal failures found by the fuzz ------------------------------------------------------


def scenario(accounts: list[dict[str, Any]], reps: list[dict[str, Any]],
             rules: dict[str, Any] | None = None, *, items: dict[str, Any] | None = None,
             territories: dict[str, Any] | None = None,
             objective: dict[str, Any] | None = None) -> FuzzCase:
    """A :class:`FuzzCase` from rows, on :data:`BASE_SPEC` with extra keys."""
    spec = copy.deepcopy(BASE_SPEC)
    spec["items"].update(items or {})
    spec["territories"].update(territories or {})
    if rules:
        spec["rules"] = rules
    if objective:
        spec["objective"] = objective
    return FuzzCase(accounts, reps, spec)


def _account(item: str, potential: float, workload: float, **more: Any) -> dict[str, Any]:
    return {"id": item, "lat": 25.0, "lon": -67.0, "potential": potential, "workload": workload,
            **more}


def _rep(rep: str, lon: float = -67.0, **more: Any) -> dict[str, Any]:
    return {"rep_id": rep, "home_lat": 25.0, "home_lon": lon, "fte": 1.0, **more}


MINIMAL_FAILURES: dict[str, FuzzCase] = {
    # cpsat: a row whose coefficients are all 0 (workload 0 everywhere) makes
    # integer_scaling._row_digits divide 2**53 by 1e-300: "RuntimeWarning: overflow".
    "all-zero band row (cpsat overflow warning)": scenario(
        [_account("A1", 0.0, 0.0)], [_rep("R1")],
        {"balance": [{"attribute": "workload", "tolerance": 0.1}]}),
    # Every backend: the infeasibility diagnosis names the soft potential band as a conflict.
    "soft band named as a conflict": scenario(
        [_account("A1", 10.0, 10.0)], [_rep("R1"), _rep("R2")],
        {"balance": [{"attribute": "workload", "tolerance": 0.0},
                     {"attribute": "potential", "tolerance": 0.0, "hard": False,
                      "penalty": 1.0}]}),
    # Every backend: status optimal, objective 0, bound 40.3 (the LP of the exact band, which
    # must send 0.4 of A1 to R2), above the plan's own objective; the plan meets the band only
    # within the evaluator's slack of 1e-6 units.
    "bound above the optimal plan's objective (tiny band)": scenario(
        [_account("A1", 0.0, 1e-7)], [_rep("R1"), _rep("R2", lon=-68.0)],
        {"balance": [{"attribute": "workload", "tolerance": 0.2}]}),
    # Every backend: the same band with A1 locked to R1 is "infeasible" (locks + balance, "over
    # by 0.00"), yet the evaluator accepts the only plan.
    "infeasible by a lock the evaluator accepts (tiny band)": scenario(
        [_account("A1", 0.0, 1e-7)], [_rep("R1"), _rep("R2")],
        {"balance": [{"attribute": "workload", "tolerance": 0.2}], "locks": {"A1": "R1"}}),
    # Total workload 1e9 + 6 against one capacity of 1e9: within the evaluator's relative
    # slack (1e-6), so the one plan is accepted; highs says "no plan within 5 s" at once, the
    # other backends "infeasible" with no conflict.
    "capacity exceeded within the evaluator's slack": scenario(
        [_account("A1", 0.0, 1e9), _account("A2", 0.0, 6.0)], [_rep("R1", max_workload=1e9)],
        territories={"capacity": {"workload": "max_workload"}}),
    # highs: the LP relaxation ends "Unknown" (badly scaled: capacity 1e-7 beside workload
    # 1e9), solve() raises NoPlanFoundError at once; the optimum is 1,134,466,666.67
    # (A1 -> R1, A2 -> R2).
    "no plan at once on a badly scaled LP (highs)": scenario(
        [_account("A1", 0.0, 1e9), _account("A2", 1e9, 1.0)],
        [_rep("R1", max_workload=""), _rep("R2", max_workload=""),
         _rep("R3", max_workload=1e-7)],
        {"balance": [{"attribute": "workload", "tolerance": 0.2, "hard": False,
                      "penalty": 0.001},
                     {"attribute": "potential", "tolerance": 0.2, "hard": False,
                      "penalty": 1.0}]},
        territories={"capacity": {"workload": "max_workload"}}),
    # cpsat: its integer scaling of the tiny band rows is inexact ("not a proof"), the HiGHS
    # cross-check's presolve calls the unscaled rows infeasible: InfeasibleError with no
    # conflict, though A1, A4 -> R2 and the rest -> R1 meets the band exactly.
    "infeasible on tiny band rows (cpsat)": scenario(
        [_account("A1", 0.0, 3e-7), _account("A2", 0.0, 0.0), _account("A3", 0.0, 0.0),
         _account("A4", 0.0, 3e-7), _account("A5", 0.0, 4e-7), _account("A6", 0.0, 7e-7)],
        [_rep("R1"), _rep("R2", fte=0.5)],
        {"balance": [{"attribute": "workload", "tolerance": 0.2}]}),
    # Every backend: bound 1.6598e-6 (the LP's objective, with R2), above the optimum
    # 1.6160e-6 (R1): the pair costs (~1e-6) are below HiGHS's dual tolerance; the heuristic
    # even returns R2 as "optimal (LP relaxation is integral)".
    "bound above the optimum on tiny costs": scenario(
        [{"id": "A1", "lat": 48.0, "lon": -82.0, "potential": 8e-7, "workload": 0.0}],
        [{"rep_id": "R1", "home_lat": 30.0, "home_lon": -78.8, "fte": 1.0},
         {"rep_id": "R2", "home_lat": 35.7, "home_lon": -101.0, "fte": 1.0},
         {"rep_id": "R3", "home_lat": 30.0, "home_lon": -108.85, "fte": 1.0}],
        objective={"travel": {"weight": 0.001, "attribute": "potential"}}),
}
"""Minimal scenarios of the failures the fuzz found (run first, as explicit examples)."""
