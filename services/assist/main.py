"""Assist's app factory: `python -m services.assist [all|api|worker]`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from fastapi import FastAPI

from services.assist import api, consumers, erasure
from services.assist.deps import AssistParts
from services.assist.models import models_api
from shared.domain.projects import RECENT_S
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
        records the items: a crash before commit redoes them, none is lost or sent twice. The
        items of a group are pre-labeled at once (reads, decodes and model runs overlap; the
        runner bounds the model runs), their events written in one outbox document."""
        waiting = [event for event in events if event.prelabel]
        projects = {}
        for project_id in {event.project_id for event in waiting}:
            project = await parts.projects.get(project_id, RECENT_S)
            if project is None:
                raise RetryLater(f"project {project_id} not known yet")
            projects[project_id] = project
        labeled = await asyncio.gather(
            *(parts.prelabeler.prelabel_item(e, projects[e.project_id]) for e in waiting)
        )
        await runtime.outbox.add(
            session, *(Envelope.wrap(one, org_ids=(one.org_id,)) for one in labeled)
        )

    async def after_items(events: Sequence[ItemIngested]) -> None:
        runtime.outbox.notify()  # the pre-labels committed with the items go out now
        await embed(events)

    async def embed(events: Sequence[ItemIngested]) -> None:
        """Promptable segmenters' image embeddings, once per item, so a click runs only the
        decoder (best effort: a missing one is computed at the first click)."""
        for event in events:
            project = await parts.projects.get(event.project_id, RECENT_S)
            if project is not None and project.assist.segmenter:
                try:
                    await parts.model_segmenters.precompute(event, project)
                except Exception:
                    log.warning("embedding_failed", exc_info=True)

    startup = Startup(
        erasure=erasure.plan(runtime.storage, runtime.settings.models_bucket),
        handlers=consumers.handlers(
            runtime.db,
            parts.projects,
            parts.items,
            also_on_items=[prelabel],
            after_items=after_items,
        ),
        steps=[parts.items.ensure_indexes, parts.models.prepare],
        stop_steps=[parts.pool.close, parts.endpoints.close],
    )
    app = create_app(runtime, startup, [api.router, models_api.router], title="Aviary assist")
    app.state.parts = parts
    return app
