"""Ingest's app factory: `python -m services.ingest [all|api|worker]`."""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest import api, consumers, items_api
from services.ingest.group_commit import GroupCommitter
from services.ingest.imports import UrlImporter
from services.ingest.store import IngestStore
from shared.events import RoutingKey
from shared.runtime import Runtime
from shared.web.app import create_app


def build_app(runtime: Runtime) -> FastAPI:
    store = IngestStore(runtime)

    async def prepare() -> None:
        await store.ensure_indexes()
        await runtime.storage.ensure_bucket(runtime.settings.images_bucket)

    committer = GroupCommitter(store)
    importer = UrlImporter(runtime, store, committer)
    handlers = {**consumers.handlers(store), RoutingKey.IMPORT_REQUESTED: importer.handle}
    runtime.configure(handlers, on_start=[prepare])
    runtime.on_stop.append(importer.close)
    app = create_app(runtime, [api.router, items_api.router], title="Aviary ingest")
    app.state.store = store
    app.state.committer = committer
    return app
