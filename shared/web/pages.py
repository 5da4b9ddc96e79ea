"""The web workspaces' plumbing: static pages per service, shared assets, CORS, a strict CSP.

Pages are plain HTML and ES modules (no build step, nothing from outside), all in the top-level
`web/` folder, installed as the package `aviary_web`: each service serves its own page's folder
(`web/<page>/`) under `/ui/`, and the shared assets (`web/common/`: API client, canvas layer,
styles) under `/ui/common/`. Pages call the APIs with the worker's token from the browser, so
every service allows the other services' page origins (CORS, `AVIARY_CORS_ORIGINS`). The CSP
allows scripts from the service itself only: text from other tenants (labels, instructions,
comments) is always set as text, and even if it were not, it could not run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import StartupError
from shared.settings import Settings

# The pages' package: web/ in the checkout (mapped by setup.py), its copy in an installed wheel.
WEB_PACKAGE = "aviary_web"
COMMON = "common"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: "
    "https:; media-src 'self' http: https:; connect-src 'self' http: https:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class PageHeaders:
    """Security headers on every page and asset under /ui/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def origins(settings: Settings) -> list[str]:
    if settings.cors_origins:
        return settings.cors_origins
    return sorted(
        {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in settings.public_urls.values()}
    )


def allow_page_origins(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins(settings),
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id"],
        expose_headers=["Retry-After", "X-Correlation-Id"],
        max_age=600,
    )


def web_root() -> Path:
    """The folder holding every page: where the package `aviary_web` is installed."""
    spec = importlib.util.find_spec(WEB_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise StartupError(
            f"web assets missing: the package {WEB_PACKAGE} is not installed; the installation "
            "is incomplete (`make install` in a checkout, or the wheel `make dist` builds)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def mount_pages(app: FastAPI, settings: Settings, page: str, web: Path | None = None) -> None:
    """Serve the page's folder `<web>/<page>/` at /ui/ (/ui itself leads to `<page>.html`), the
    shared assets `<web>/common/` at /ui/common/, and /ui/config.json (where the pages find
    every service). `web` is the installed pages' folder unless given."""
    root = web if web is not None else web_root()
    pages_dir, common_dir, home = root / page, root / COMMON, f"{page}.html"
    for folder in (common_dir, pages_dir):
        if not any(folder.glob("*.*")):
            raise StartupError(
                f"web assets missing: {folder} is absent or empty; the installed package is "
                "incomplete (build the wheel with `make dist`, which carries them)"
            )
    if not (pages_dir / home).is_file():
        raise StartupError(f"web assets missing: {pages_dir / home}")
    router = APIRouter(include_in_schema=False)

    @router.get("/ui/config.json")
    async def config() -> dict[str, object]:
        return {"services": settings.public_urls}

    @router.get("/ui")
    async def ui_home() -> RedirectResponse:
        return RedirectResponse(f"/ui/{home}")

    app.include_router(router)
    app.mount("/ui/common", StaticFiles(directory=common_dir), name="ui-common")
    app.mount("/ui", StaticFiles(directory=pages_dir), name="ui")
    app.add_middleware(PageHeaders)
