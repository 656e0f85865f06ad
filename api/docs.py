"""/docs (Swagger UI) and /redoc from files the package ships: they work without internet.

FastAPI's own pages load their scripts and styles from a CDN, so a shop's intranet, an
air-gapped server or a laptop on a train shows a blank page. The same pages are served here
with the Swagger UI and ReDoc bundles of the `fastapi-offline` wheel under /docs/assets.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

DOCS = "/docs"
REDOC = "/redoc"
ASSETS = "/docs/assets"
ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# The pages may load from this server only (and inline, blob: and data: content, which the
# bundles use): ReDoc's sidebar shows the Redocly logo from a CDN, which the browser then never
# asks for (the bundle hides the image when it fails).
ONLY_THIS_SERVER = "default-src 'self' 'unsafe-inline' 'unsafe-eval' blob: data:"
SWAGGER_UI_PARAMETERS = {
    "persistAuthorization": True,  # the token pasted into Authorize survives a reload
    "validatorUrl": None,  # no badge fetched from the public validator
    "displayRequestDuration": True,
    "tryItOutEnabled": True,
}


def install(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect, /redoc and their assets (the app is made with
    `docs_url=None, redoc_url=None`, so FastAPI's CDN pages are not there)."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return guarded(get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS))

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return guarded(get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False))

    app.add_route(DOCS, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT, oauth2_redirect, include_in_schema=False)
    app.add_route(REDOC, redoc, include_in_schema=False)


def guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = ONLY_THIS_SERVER
    return page
