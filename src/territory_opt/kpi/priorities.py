"""The criteria of ``objective.priorities``, each a linear function of the assignment.

One definition serves both sides: the evaluator scores a plan by :func:`criterion_values`, and
the level models (:mod:`territory_opt.alignment.priorities`) take their objective rows from
:func:`pair_coefficients` and :func:`balance_scale`, so a level's value and the plan's agree.

* ``balance``: Σ over the attributes of ``rules.balance`` and the territories of
  ``|load − target| / target`` (the target is the FTE share of the total; where it is 0 the
  deviation counts in attribute units) — the sum of the absolute ``dev_pct`` / 100;
* ``travel``: Σ distance × ``objective.travel.attribute`` (1 without one) — the travel term
  without its weight;
* ``disruption``: moved items, or moved units of ``objective.disruption.per``;
* ``compactness``: Σ distance² × ``objective.travel.attribute``: long trips count more than
  in travel, so a plan with a few remote accounts loses to one with many near ones.

Distances are those of the scenario (great-circle km, or the pair table's in its unit); an
item without one (a territory without a home) adds 0 to travel and compactness.
"""

from __future__ import annotations

import numpy as np

from territory_opt.scenario.model import NO_TERRITORY, Scenario


def criteria(scenario: Scenario) -> tuple[str, ...]:
    """The criteria of ``objective.priorities`` in order (empty: the objective is weighted)."""
    priorities = scenario.spec.objective.priorities
    return tuple(p.criterion for p in priorities) if priorities else ()


def balance_attributes(scenario: Scenario) -> tuple[str, ...]:
    """The attributes the balance criterion sums over: those of ``rules.balance``, once each."""
    return tuple(dict.fromkeys(rule.attribute for rule in scenario.spec.rules.balance))


def balance_scale(scenario: Scenario, attribute: str) -> np.ndarray:
    """Per territory, what a deviation of ``attribute`` is divided by: the target, or 1
    where the target is 0."""
    target = scenario.targets(attribute)
    return np.where(target > 0, target, 1.0)


def pair_coefficients(scenario: Scenario, criterion: str, item: np.ndarray,
                      territory: np.ndarray) -> tuple[np.ndarray, float]:
    """``(coefficient per pair, constant)`` of a pair-linear criterion (travel, compactness,
    disruption): its value for an assignment is the constant plus the coefficients of the
    pairs it uses."""
    if criterion in ("travel", "compactness"):
        km = scenario.distance(item, territory)
        km = np.where(np.isnan(km), 0.0, km)
        power = km if criterion == "travel" else km * km
        return np.asarray(power * scenario.travel_weight()[item], dtype=float), 0.0
    if criterion == "disruption":
        weight = scenario.item_weight(scenario.spec.objective.disruption.per)
        has = scenario.current != NO_TERRITORY
        stays = scenario.current[item] == territory
        return -np.where(stays, weight[item], 0.0), float(weight[has].sum())
    raise ValueError(f"{criterion!r} is not a pair-linear criterion")


def criterion_value(scenario: Scenario, criterion: str, assignment: np.ndarray) -> float:
    """The value of ``criterion`` (module docstring) for ``assignment``; unassigned items
    count as moved and travel nowhere."""
    assignment = np.asarray(assignment, dtype=np.int64)
    assigned = np.flatnonzero(assignment != NO_TERRITORY)
    if criterion == "balance":
        total = 0.0
        for attribute in balance_attributes(scenario):
            weight = scenario.pair_load(attribute, assigned, assignment[assigned])
            load = np.bincount(assignment[assigned], weights=weight,
                               minlength=scenario.n_territories)
            deviation = np.abs(load - scenario.targets(attribute))
            total += float((deviation / balance_scale(scenario, attribute)).sum())
        return total
    coefficient, constant = pair_coefficients(scenario, criterion, assigned,
                                              assignment[assigned])
    return float(constant + coefficient.sum())


def criterion_values(scenario: Scenario, assignment: np.ndarray) -> tuple[tuple[str, float], ...]:
    """Each criterion of ``objective.priorities`` with its value for ``assignment``, in order."""
    return tuple((name, criterion_value(scenario, name, assignment))
                 for name in criteria(scenario))
