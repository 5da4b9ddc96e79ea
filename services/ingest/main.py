"""Ingest's app factory: `python -m services.ingest [all|api|worker]`."""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest import api, consumers, items_api
from services.ingest.group_commit import GroupCommitter
from services.ingest.imports import UrlImporter
from services.ingest.store import IngestStore
from shared.events import RoutingKey
from shared.runtime import Runtime, Startup
from shared.web.app import create_app


def build_app(runtime: Runtime) -> FastAPI:
    store = IngestStore(runtime)

    async def prepare() -> None:
        await store.ensure_indexes()
        await runtime.storage.ensure_bucket(runtime.settings.images_bucket)

    committer = GroupCommitter(store)
    importer = UrlImporter(runtime, store, committer)
    startup = Startup(
        handlers={**consumers.handlers(store), RoutingKey.IMPORT_REQUESTED: importer.handle},
        steps=[prepare],
        stop_steps=[importer.close],
    )
    app = create_app(runtime, startup, [api.router, items_api.router], title="Aviary ingest")
    app.state.store = store
    app.state.committer = committer
    return app
