"""The registry of solver backends, in preference order: names to factories, resolved lazily.

A factory is a ``module:Class`` path imported on first use, so listing the backends or checking
one is installed imports no solver (and the registry imports no backend module: backends and
the heuristic plug in here without the contract knowing them).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from territory_opt.backends.contract import Backend
from territory_opt.errors import BackendError


def _factory(path: str, *args: str, **kwargs: str) -> Callable[[], Backend]:
    """A factory that imports ``module:Class`` and instantiates it with ``args``."""

    def make() -> Backend:
        module, _, name = path.partition(":")
        cls = getattr(importlib.import_module(module), name)
        backend: Backend = cls(*args, **kwargs)
        return backend

    return make


def _highs() -> Backend:
    return REGISTRY["highs"]()


def _heuristic() -> Backend:
    return REGISTRY["heuristic"]()


def _pulp(solver: str, name: str | None = None) -> Backend:
    kwargs = {} if name is None else {"name": name}
    return _factory("territory_opt.backends.pulp:PulpBackend", solver, **kwargs)()


REGISTRY: dict[str, Callable[[], Backend]] = {
    "highs": _factory("territory_opt.backends.highs:HighsBackend"),
    "cpsat": _factory("territory_opt.backends.cpsat:CpSatBackend"),
    "scip": _factory("territory_opt.backends.scip:ScipBackend"),
    "cbc": _factory("territory_opt.backends.pulp:PulpBackend", "PULP_CBC_CMD", name="cbc"),
    "heuristic": _factory("territory_opt.alignment.heuristic:HeuristicBackend"),
}
"""Backend factories in preference order (``auto`` takes the first that fits)."""


def registered_backends() -> list[Backend]:
    """One instance of every registered backend, in preference order (installed or not)."""
    backends = [factory() for factory in REGISTRY.values()]
    pulp = importlib.import_module("territory_opt.backends.pulp")
    others: Callable[[], list[Backend]] = pulp.other_pulp_backends
    return backends + others()


def get_backend(name_or_backend: str | Backend, *, n_pairs: int = 0) -> Backend:
    """Resolve a backend name (or pass a user's own backend object through).

    ``auto`` takes the first installed backend in preference order; ``pulp:NAME`` any solver
    PuLP can reach (``territory-opt backends`` lists them).

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
        backend: Backend = _pulp(name.split(":", 1)[1])
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
        heuristic = _heuristic()
        if heuristic.available():
            return heuristic
    for factory in REGISTRY.values():
        backend = factory()
        if backend.available():
            return backend
    raise BackendError("no solver backend is installed (install highspy, ortools or pulp)")
