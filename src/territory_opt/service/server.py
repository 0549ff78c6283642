"""Run the service: the FastAPI app under uvicorn, its workers started with it."""

from __future__ import annotations

import uvicorn

from territory_opt.service.app import create_app
from territory_opt.service.config import ServiceConfig


def serve(config: ServiceConfig) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM); running jobs are queued again next time."""
    config.check()
    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info",
                timeout_graceful_shutdown=5)
