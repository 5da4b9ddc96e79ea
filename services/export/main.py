"""Export's app factory: `python -m services.export [all|api|worker]`."""

from __future__ import annotations

from fastapi import FastAPI

from services.export import api, consumers, erasure
from services.export.deps import ExportParts
from shared.runtime import Runtime, Startup
from shared.web.app import create_app
from shared.web.pages import mount_pages


def build_app(runtime: Runtime) -> FastAPI:
    parts = ExportParts.build(runtime)
    builder = parts.builder

    async def deliveries_bucket() -> None:
        await runtime.storage.ensure_bucket(runtime.settings.deliveries_bucket)

    startup = Startup(
        erasure=erasure.plan(parts.intake),
        handlers=consumers.handlers(runtime.db, parts.projects, parts.intake),
        steps=[
            parts.accepted.ensure_indexes,
            parts.deliveries.ensure_indexes,
            parts.webhooks.ensure_indexes,
            deliveries_bucket,
        ],
        worker_loops=[builder.run, parts.sender.run],
    )
    app = create_app(runtime, startup, [api.router], title="Aviary export")
    mount_pages(app, runtime.settings, "dashboard")
    app.state.parts = parts
    return app
