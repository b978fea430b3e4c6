"""``/docs`` (Swagger UI) that works offline: its assets are served by this service from the
``fastapi-offline`` package (Swagger UI 5, which renders the OpenAPI 3.1 document FastAPI writes;
the older Swagger UI 4 of ``swagger-ui-bundle`` cannot) instead of FastAPI's default CDN URLs.
No request leaves the host that serves the API.  ReDoc is not offered: its page loads a logo
from the vendor's CDN.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

#: URL prefix of the Swagger UI assets.
ASSETS = "/static/apidocs"
FAVICON = "/static/browser/favicon.svg"


def assets_dir() -> Path:
    """The folder of the packaged Swagger UI bundle."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/docs/oauth2-redirect`` from local assets (the app must be created
    with ``docs_url=None, redoc_url=None``)."""
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
            oauth2_redirect_url="/docs/oauth2-redirect",
            # no badge from validator.swagger.io (Swagger UI skips it only on localhost)
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get("/docs/oauth2-redirect")
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="apidocs")
