"""Run the service: the FastAPI app under uvicorn, its workers started with it."""

from __future__ import annotations

import socket

import uvicorn

from territory_opt.errors import TerritoryOptError
from territory_opt.service.app import create_app
from territory_opt.service.config import ServiceConfig
from territory_opt.service.protocol import guarded_h11


def serve(config: ServiceConfig) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM); running jobs are queued again next time.

    Raises
    ------
    TerritoryOptError
        For an address in use or a database that cannot be opened, before anything starts.
    """
    config.check()
    _check_address(config.host, config.port)
    app = create_app(config)
    # h11 through our subclass, so a client that sends its headers slowly is cut off (the ASGI
    # app cannot time what it has not been given); limit_concurrency bounds the connections,
    # and with them the bodies held in memory (each at most --max-body-mb).
    uvicorn.run(app, host=config.host, port=config.port, log_level="info",
                http=guarded_h11(config.header_timeout),
                limit_concurrency=config.max_connections, timeout_graceful_shutdown=5)


def _check_address(host: str, port: int) -> None:
    """Fail before touching the database when the address is taken (a second server must not
    start workers, nor take part in recovering jobs, only to die at bind time)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise TerritoryOptError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
