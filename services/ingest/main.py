"""Ingest's app factory: `python -m services.ingest [all|api|worker]`."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.ingest import (
    annotation_imports_api,
    api,
    consumers,
    deletions_api,
    erasure,
    items_api,
    progress_api,
    sequences_api,
)
from services.ingest.audio_uploads import speech_detector
from services.ingest.deps import IngestParts
from services.ingest.redaction import operator_model
from services.ingest.retention import ProjectRetention
from shared.events import RoutingKey
from shared.runtime import Runtime, Startup, every
from shared.store.mongo import Doc
from shared.web.app import create_app


def build_app(runtime: Runtime) -> FastAPI:
    parts = IngestParts.build(runtime)
    importer = parts.importer

    async def images_bucket() -> None:
        await runtime.storage.ensure_bucket(runtime.settings.images_bucket)

    async def speech_model() -> None:
        """Load the speech detector now: a missing or broken model stops the start, not the
        first recording's upload."""
        await asyncio.to_thread(speech_detector)

    async def redaction_model() -> None:
        """Load the operator's redaction model, where one is configured: a broken one holds
        the start (not ready; `redaction_model.wait` logs why), not the first upload."""
        if (folder := runtime.settings.redaction_model_dir) is not None:
            await asyncio.to_thread(operator_model, folder)

    startup = Startup(
        erasure=erasure.plan(
            runtime.db, runtime.storage, parts.batches, runtime.settings.images_bucket
        ),
        handlers={
            **consumers.handlers(runtime.db, parts.ledger, parts.batches, parts.deletions),
            RoutingKey.IMPORT_REQUESTED: importer.handle,
            RoutingKey.IMPORT_URLS_REQUESTED: importer.handle,
        },
        steps=[
            parts.tokens.ensure_indexes,
            parts.projects.ensure_indexes,
            parts.batches.ensure_indexes,
            parts.items.ensure_indexes,
            parts.imports.ensure_indexes,
            parts.sequences.ensure_indexes,
            parts.deletions.repo.ensure_indexes,
            images_bucket,
            speech_model,
            redaction_model,
        ],
        worker_loops=[
            every(
                runtime.settings.project_retention_sweep_s,
                ProjectRetention(parts.deletions).run_once,
                name="retention.projects",
            )
        ],
        stop_steps=[importer.close],
    )
    routers = [
        api.router,
        items_api.router,
        progress_api.router,
        sequences_api.router,
        annotation_imports_api.router,
        deletions_api.router,
    ]

    async def personal(org_id: str, subject: str) -> dict[str, list[Doc]]:
        """What ingest keeps about a person: the tokens issued to them."""
        return {"tokens": await parts.tokens.of_subject(org_id, subject)}

    app = create_app(runtime, startup, routers, title="Aviary ingest", personal=personal)
    app.state.parts = parts
    return app
