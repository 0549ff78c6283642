"""A Dask client for work spread over processes: a LocalCluster started here, or a scheduler
already running (``tcp://host:8786``). Used by sweeps and by decomposed solves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from territory_opt.errors import TerritoryOptError

Scheduler = str | None
"""A scheduler address, or None for a LocalCluster of worker processes."""


@contextlib.contextmanager
def dask_client(scheduler: Scheduler, workers: int) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a LocalCluster of ``workers``
    processes started here; an unreachable scheduler is a :class:`TerritoryOptError`."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        # Processes, one thread each: HiGHS holds the GIL, and one solve per core is fastest.
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, ValueError) as exc:
        raise TerritoryOptError(f"cannot reach the Dask scheduler at {scheduler}: {exc} "
                                "(start one with `dask scheduler`, or use --scheduler serial)"
                                ) from None
    with client:
        yield client
