"""Export's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the repositories or services it uses (`deliveries: DeliveriesDep`); FastAPI
hands it the ones main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

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
from shared.web.deps import PartsOf


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
        builder = DeliveryBuilder(runtime, projects, batches, accepted, deliveries, webhooks)
        intake = Intake(projects, batches, accepted, deliveries, builder.notify)
        sender = WebhookSender(runtime, webhooks, deliveries, projects)
        return cls(projects, batches, accepted, deliveries, webhooks, intake, builder, sender)


from_app = PartsOf(ExportParts)
ProjectsDep = Annotated[ProjectReadModel, Depends(from_app.part(lambda p: p.projects))]
BatchesDep = Annotated[BatchRepository, Depends(from_app.part(lambda p: p.batches))]
DeliveriesDep = Annotated[DeliveryRepository, Depends(from_app.part(lambda p: p.deliveries))]
WebhooksDep = Annotated[WebhookRepository, Depends(from_app.part(lambda p: p.webhooks))]
BuilderDep = Annotated[DeliveryBuilder, Depends(from_app.part(lambda p: p.builder))]
