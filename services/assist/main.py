"""Assist's app factory: `python -m services.assist [all|api|worker]`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI

from services.assist import api, consumers
from services.assist.deps import AssistParts
from services.assist.models import models_api
from shared.errors import RetryLater
from shared.events import Envelope, ItemIngested
from shared.runtime import Runtime, Startup
from shared.store.mongo import AsyncClientSession
from shared.web.app import create_app

log = logging.getLogger(__name__)


def build_app(runtime: Runtime) -> FastAPI:
    parts = AssistParts.build(runtime)

    async def prelabel(session: AsyncClientSession, events: Sequence[ItemIngested]) -> None:
        """The items that wait for pre-labels get them, published in the transaction that
        records the items: a crash before commit redoes them, none is lost or sent twice."""
        for event in events:
            if not event.prelabel:
                continue
            project = await parts.projects.get(event.project_id)
            if project is None:
                raise RetryLater(f"project {event.project_id} not known yet")
            labeled = await parts.prelabeler.prelabel_item(event, project)
            await runtime.outbox.add(session, Envelope.wrap(labeled, org_ids=(labeled.org_id,)))

    async def embed(events: Sequence[ItemIngested]) -> None:
        """Promptable segmenters' image embeddings, once per item, so a click runs only the
        decoder (best effort: a missing one is computed at the first click)."""
        for event in events:
            project = await parts.projects.get(event.project_id)
            if project is not None and project.assist.segmenter:
                try:
                    await parts.model_segmenters.precompute(event, project)
                except Exception:
                    log.warning("embedding_failed", exc_info=True)

    startup = Startup(
        handlers=consumers.handlers(
            runtime.db, parts.projects, parts.items, also_on_items=[prelabel], after_items=embed
        ),
        steps=[parts.items.ensure_indexes, parts.models.prepare],
        stop_steps=[parts.pool.close, parts.endpoints.close],
    )
    app = create_app(runtime, startup, [api.router, models_api.router], title="Aviary assist")
    app.state.parts = parts
    return app
