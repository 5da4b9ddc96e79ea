"""Export's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the repositories or services it uses (`deliveries: DeliveriesDep`); FastAPI
hands it the ones main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.export.builder import DeliveryBuilder
from services.export.intake import Intake
from services.export.repositories import (
    AcceptedItemRepository,
    BatchRepository,
    DeliveryRepository,
    WebhookRepository,
)
from services.export.webhooks import WebhookSender
from shared.domain.projects import ProjectReadModel
from shared.runtime import Runtime


@dataclass(frozen=True)
class ExportParts:
    projects: ProjectReadModel
    batches: BatchRepository
    accepted: AcceptedItemRepository
    deliveries: DeliveryRepository
    webhooks: WebhookRepository
    intake: Intake
    builder: DeliveryBuilder
    sender: WebhookSender

    @classmethod
    def build(cls, runtime: Runtime) -> ExportParts:
        projects = ProjectReadModel(runtime.db)
        batches = BatchRepository(runtime.db)
        accepted = AcceptedItemRepository(runtime.db)
        deliveries = DeliveryRepository(runtime.db)
        webhooks = WebhookRepository(runtime.db)
        intake = Intake(projects, batches, accepted, deliveries)
        builder = DeliveryBuilder(runtime, projects, batches, accepted, deliveries, webhooks)
        sender = WebhookSender(runtime, webhooks, deliveries, projects)
        return cls(projects, batches, accepted, deliveries, webhooks, intake, builder, sender)


async def get_parts(request: Request) -> ExportParts:
    """A coroutine, so FastAPI runs it inline rather than in its thread pool."""
    parts: ExportParts = request.app.state.parts
    return parts


async def get_projects(request: Request) -> ProjectReadModel:
    return (await get_parts(request)).projects


async def get_batches(request: Request) -> BatchRepository:
    return (await get_parts(request)).batches


async def get_deliveries(request: Request) -> DeliveryRepository:
    return (await get_parts(request)).deliveries


async def get_webhooks(request: Request) -> WebhookRepository:
    return (await get_parts(request)).webhooks


async def get_builder(request: Request) -> DeliveryBuilder:
    return (await get_parts(request)).builder


ProjectsDep = Annotated[ProjectReadModel, Depends(get_projects)]
BatchesDep = Annotated[BatchRepository, Depends(get_batches)]
DeliveriesDep = Annotated[DeliveryRepository, Depends(get_deliveries)]
WebhooksDep = Annotated[WebhookRepository, Depends(get_webhooks)]
BuilderDep = Annotated[DeliveryBuilder, Depends(get_builder)]
