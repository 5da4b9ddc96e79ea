"""Export's app factory: `python -m services.export [all|api|worker]`."""

from __future__ import annotations

from fastapi import FastAPI

from services.export import api, consumers
from services.export.builder import DeliveryBuilder
from services.export.store import ExportStore
from services.export.webhooks import WebhookSender
from shared.runtime import Runtime, Startup
from shared.web.app import create_app
from shared.web.pages import mount_pages


def build_app(runtime: Runtime) -> FastAPI:
    store = ExportStore(runtime)
    builder = DeliveryBuilder(runtime, store)
    sender = WebhookSender(runtime, store)

    async def prepare() -> None:
        await store.ensure_indexes()
        await runtime.storage.ensure_bucket(runtime.settings.deliveries_bucket)

    startup = Startup(
        handlers=consumers.handlers(store, builder),
        steps=[prepare],
        worker_loops=[builder.run, sender.run],
    )
    app = create_app(runtime, startup, [api.router], title="Aviary export")
    mount_pages(app, runtime.settings, "dashboard")
    app.state.store = store
    app.state.builder = builder
    return app
