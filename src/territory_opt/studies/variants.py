"""Scenario variants: the same scenario with one or more settings changed.

A variant is a map from a YAML path (``rules.disruption.max_share``,
``rules.balance.workload_h.tolerance``, ``objective.disruption.weight``, ``solver.backend``) to a
value. It changes rules, weights and solver settings only, never the tables, so the loaded arrays
are shared and a variant costs nothing to build — except ``territories.count`` (districting),
which draws a different number of territories and so rebuilds the scenario from its files.
Trade-off curves (:mod:`territory_opt.studies.tradeoff`) and sweeps
(:mod:`territory_opt.studies.sweep`) use it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from territory_opt.errors import Problem, ScenarioError, scenario_error
from territory_opt.scenario.load import build_scenario, read_spec_dict, rule_references
from territory_opt.scenario.model import Scenario

SWEEPABLE = (
    r"rules\.disruption\.max_share",
    r"rules\.balance\.[^.]+\.(tolerance|penalty)",
    r"rules\.max_distance(_km)?",
    r"objective\.(travel|disruption|dispersion|cut_edges)\.weight",
    r"leads\.fairness\.(tolerance|penalty)",
    r"quotas\.(target|fte_weight|floor|cap)",
    r"solver\.(backend|time_limit|gap|seed|threads|candidates|work_limit)",
    r"territories\.count",
)
"""YAML paths a variant may set: numbers that change rules or weights, not the tables (locks,
eligibility and table columns are read into arrays at load time), solver settings, and the
number of districts of a districting scenario drawn by ``count``."""

SWEEPABLE_HELP = ("rules.disruption.max_share, rules.balance.ATTRIBUTE.tolerance (or .penalty; "
                  "ATTRIBUTE may be the rule's index), rules.max_distance (or _km), "
                  "objective.NAME.weight, leads.fairness.tolerance, quotas.target/floor/cap, "
                  "solver.backend/time_limit/gap/seed/threads/candidates/work_limit, "
                  "territories.count "
                  "(districting)")

REBUILDS = ("territories.count",)
"""Paths whose change needs the tables read again (the territories themselves change)."""

LOOSER_WHEN_LARGER = (r"rules\.disruption\.max_share", r"rules\.balance\.[^.]+\.tolerance",
                      r"rules\.max_distance(_km)?", r"leads\.fairness\.tolerance")
"""Paths of hard limits that admit more plans as their value grows: the best objective can only
improve (or stay) along them."""


def is_constraint_limit(path: str) -> bool:
    """Whether a larger value at ``path`` loosens a hard limit (the optimum cannot get worse)."""
    return any(re.fullmatch(p, path) for p in LOOSER_WHEN_LARGER)


def with_settings(scenario: Scenario, settings: Mapping[str, float | str]) -> Scenario:
    """``scenario`` with the values at the given YAML paths replaced.

    Raises
    ------
    ScenarioError
        A path that cannot be swept or does not exist, or a value the schema refuses (named as
        ``variant <path>``).
    """
    raw = scenario.spec.model_dump(mode="python", exclude_none=True)
    for path, value in settings.items():
        if not any(re.fullmatch(p, path) for p in SWEEPABLE):
            raise scenario_error(f"variant {path}", "path", repr(path),
                                 f"one of {SWEEPABLE_HELP}")
        _set(raw, path, value)
    source = "variant " + ", ".join(f"{k}={_show(v)}" for k, v in settings.items())
    spec = read_spec_dict(raw, source)
    problems = rule_references(spec, source)
    if problems:
        raise ScenarioError(problems)
    if any(path in REBUILDS for path in settings):
        if scenario.path is None:
            raise scenario_error(source, "territories.count", "a scenario without a file",
                                 "a scenario loaded from its YAML (its tables are read again)")
        return build_scenario(spec, scenario.path.parent, scenario.path)
    return dataclasses.replace(scenario, spec=spec)


def _show(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, int | float) else repr(value)


def _set(raw: dict[str, Any], path: str, value: float | str) -> None:
    """Set ``raw[path] = value``, creating a missing section (e.g. ``rules.disruption``) and
    finding a balance rule by attribute name or index."""
    keys = path.split(".")
    node: Any = raw
    for depth, key in enumerate(keys[:-1]):
        here = ".".join(keys[:depth + 1])
        if isinstance(node, list):
            node = _element(node, key, here)
        else:
            node = node.setdefault(key, {})
            if node is None:
                raise scenario_error(f"variant {path}", here, "nothing", "a section to change")
    if isinstance(node, list):
        raise scenario_error(f"variant {path}", path, "a list", "a number")
    node[keys[-1]] = value


def _element(rules: list[Any], key: str, where: str) -> Any:
    """A balance rule by attribute name, or by index."""
    for rule in rules:
        if isinstance(rule, dict) and rule.get("attribute") == key:
            return rule
    if key.isdigit() and int(key) < len(rules):
        return rules[int(key)]
    names = [r.get("attribute") for r in rules if isinstance(r, dict)]
    raise ScenarioError([Problem(f"variant {where}", where.rsplit(".", 1)[0], repr(key),
                                 f"the attribute of a balance rule {names} or an index "
                                 f"below {len(rules)}")])
