"""The registry of solver backends: names to factories in preference order, ``auto``, and the
LP engine for column generation.

A factory is a ``module:Class`` path imported on first use, so listing the backends or checking
one is installed imports no solver. The registry imports no backend module (and the contract
knows no registry): backends, PuLP's solvers and the alignment heuristic plug in here by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from territory_opt.backends.contract import Backend, IncrementalLp
from territory_opt.errors import BackendError


def _load(path: str) -> Any:
    """The object a ``module:name`` path names, its module imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _factory(path: str, *args: str, **kwargs: str) -> Callable[[], Backend]:
    """A factory that imports ``module:Class`` and instantiates it with ``args``."""

    def make() -> Backend:
        backend: Backend = _load(path)(*args, **kwargs)
        return backend

    return make


REGISTRY: dict[str, Callable[[], Backend]] = {
    "highs": _factory("territory_opt.backends.highs:HighsBackend"),
    "cpsat": _factory("territory_opt.backends.cpsat:CpSatBackend"),
    "scip": _factory("territory_opt.backends.scip:ScipBackend"),
    "cbc": _factory("territory_opt.backends.pulp:PulpBackend", "PULP_CBC_CMD", name="cbc"),
    "heuristic": _factory("territory_opt.alignment.heuristic:HeuristicBackend"),
}
"""Backend factories in preference order (``auto`` takes the first installed one)."""

PULP_BACKEND = "territory_opt.backends.pulp:PulpBackend"
"""``pulp:NAME`` builds this with PuLP's solver name ``NAME``."""
PULP_OTHERS = "territory_opt.backends.pulp:other_pulp_backends"
"""Lists the PuLP solvers installed here that no registry name covers."""


def registered_backends() -> list[Backend]:
    """One instance of every registered backend, in preference order (installed or not), then
    the other solvers PuLP reaches here (as ``pulp:NAME``)."""
    others: Callable[[], list[Backend]] = _load(PULP_OTHERS)
    return [factory() for factory in REGISTRY.values()] + others()


def get_backend(name_or_backend: str | Backend, *, n_pairs: int = 0) -> Backend:
    """Resolve a backend name (or pass a user's own backend object through).

    ``auto`` takes the first installed backend in preference order (the heuristic above
    :data:`AUTO_HEURISTIC_PAIRS` item × territory pairs); ``pulp:NAME`` any solver PuLP can
    reach (``territory-opt backends`` lists them).

    Raises
    ------
    BackendError
        With the known names, if the name is not registered or the solver is not installed.
    """
    if not isinstance(name_or_backend, str):
        return name_or_backend
    name = name_or_backend
    if name == "auto":
        return _auto(n_pairs)
    if name.startswith("pulp:"):
        backend: Backend = _factory(PULP_BACKEND, name.split(":", 1)[1])()
    elif name in REGISTRY:
        backend = REGISTRY[name]()
    else:
        known = ", ".join([*REGISTRY, "auto", "pulp:NAME"])
        raise BackendError(f"unknown backend '{name}'; known: {known}")
    if not backend.available():
        raise BackendError(f"backend '{name}' is not installed here; "
                           "`territory-opt backends` lists what is")
    return backend


AUTO_HEURISTIC_PAIRS = 1_000_000
"""``auto`` picks the heuristic above this many item × territory pairs."""


def _auto(n_pairs: int) -> Backend:
    """The heuristic above :data:`AUTO_HEURISTIC_PAIRS`, else the first installed backend in
    preference order.

    HiGHS leads the exact backends at every size measured here (see ``benchmarks/RESULTS.md``);
    beyond about 20,000 × 50 none of them finds a plan in minutes, while the heuristic does.
    """
    if n_pairs > AUTO_HEURISTIC_PAIRS:
        heuristic = REGISTRY["heuristic"]()
        if heuristic.available():
            return heuristic
    for factory in REGISTRY.values():
        backend = factory()
        if backend.available():
            return backend
    raise BackendError("no solver backend is installed (install highspy, ortools or pulp)")


def lp_engine() -> IncrementalLp:
    """The first installed backend, in preference order, that opens incremental LP sessions
    (``Capabilities.incremental_lp``; HiGHS here), for column generation.

    Raises
    ------
    BackendError
        If no such backend is installed.
    """
    for factory in REGISTRY.values():
        backend = factory()
        if (backend.capabilities.incremental_lp and backend.available()
                and isinstance(backend, IncrementalLp)):
            return backend
    raise BackendError("no installed backend solves incremental LPs (install highspy)")
