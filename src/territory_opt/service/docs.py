"""``/docs`` (Swagger UI) and ``/redoc`` served from packaged assets, so they work offline.

FastAPI's own docs pages load Swagger UI, ReDoc and Google fonts from CDNs: on a host without
internet access they are blank, and every visit tells a third party the docs were opened. The
scripts, stylesheet and favicon shipped in the ``fastapi_offline`` package (Swagger UI: Apache
2.0; ReDoc and the package: MIT) are mounted at :data:`STATIC_URL` instead, and the pages are
made not to fetch anything else (no fonts, no online spec validator).

Create the app with ``FastAPI(docs_url=None, redoc_url=None)`` and call :func:`add_offline_docs`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/static-docs"

#: Path prefixes of the documentation, which needs no API key: a prefix covers itself and what
#: lies under it (``/docs/oauth2-redirect``, ``/static-docs/swagger-ui.css``). ``/openapi.json``
#: is FastAPI's default ``openapi_url``.
DOC_PATHS: tuple[str, ...] = (DOCS_URL, REDOC_URL, "/openapi.json", STATIC_URL)

# Swagger UI shows a badge fetched from validator.swagger.io (sending it the spec's URL) unless
# the validator is switched off; null switches it off.
_SWAGGER_OFFLINE: dict[str, Any] = {"validatorUrl": None}


def _static_folder() -> Path:
    """The ``static`` folder of ``fastapi_offline`` (swagger-ui-bundle.js, swagger-ui.css,
    redoc.standalone.js, favicon.png)."""
    folder = files("fastapi_offline") / "static"
    # StaticFiles serves a directory on disk; a zipped install would have none.
    if not isinstance(folder, Path) or not folder.is_dir():
        raise RuntimeError(f"fastapi_offline's static assets are not a folder on disk: {folder}")
    return folder


def add_offline_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and the assets under ``/static-docs``.

    Parameters
    ----------
    app
        Created with ``docs_url=None, redoc_url=None`` (else FastAPI's CDN pages are routed
        first). Nothing is added when it has no ``openapi_url``: the pages would have nothing
        to show. The routes stay out of the OpenAPI schema.
    """
    openapi_url = app.openapi_url
    if not openapi_url:
        return
    app.mount(STATIC_URL, StaticFiles(directory=_static_folder()), name="static-docs")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    def root(request: Request) -> str:
        # Behind a proxy that strips a prefix, the browser must ask for prefixed URLs.
        return str(request.scope.get("root_path", "")).rstrip("/")

    async def swagger_ui(request: Request) -> HTMLResponse:
        prefix = root(request)
        return get_swagger_ui_html(
            openapi_url=prefix + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{prefix}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}{STATIC_URL}/favicon.png",
            oauth2_redirect_url=prefix + oauth2_redirect_url if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **_SWAGGER_OFFLINE},
        )

    async def swagger_ui_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        prefix = root(request)
        # with_google_fonts=False: no <link> to fonts.googleapis.com (the bundle itself loads
        # no fonts; the page falls back to local sans-serif faces).
        return get_redoc_html(
            openapi_url=prefix + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{prefix}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{prefix}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
    if oauth2_redirect_url:
        app.add_route(oauth2_redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route(REDOC_URL, redoc, include_in_schema=False)
