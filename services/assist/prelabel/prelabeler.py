"""An ingested item's pre-labels: from the project's operator model or its own endpoint,
merged after the client's pre-annotation, as the `item.prelabeled` dispatch makes tasks from.

Every item gets its event: a model that fails, an endpoint that is down or answers nonsense,
a model that was removed from the settings, each gives the item without proposals and with
`error` saying why, so no item waits for help that does not come. Only infrastructure that is
down right now (object storage holding the image or the model) raises RetryLater: the same
item will do better in a moment.
"""

from __future__ import annotations

import logging

from aviary.contracts.assist import Prelabels
from aviary.contracts.shapes import Annotation
from services.assist.models.catalog import ModelCatalog
from services.assist.models.proposals import lowest_confidence, proposals
from services.assist.models.runner import ModelRunner
from services.assist.prelabel.endpoint import EndpointCaller
from shared.errors import RetryLater
from shared.events import ItemIngested, ItemPrelabeled, ProjectUpserted
from shared.store.mongo import DATABASE_DOWN
from shared.store.storage import STORAGE_DOWN, ObjectStorage, S3Error

log = logging.getLogger(__name__)

PRELABEL_TASKS = frozenset({"detect", "segment"})
MAX_SHAPES = 5000  # an annotation's limit (aviary.contracts.shapes.Annotation)


def merged(event: ItemIngested, found: Prelabels) -> ItemPrelabeled:
    """The item with the proposals after the client's own pre-annotation (if any)."""
    own = event.pre_annotation.shapes if event.pre_annotation is not None else ()
    proposed = found.annotation.shapes[: max(0, MAX_SHAPES - len(own))]
    shapes = (*own, *proposed)
    fields = event.model_dump(exclude={"pre_annotation"})
    return ItemPrelabeled.model_validate(
        {
            **fields,
            "pre_annotation": Annotation(shapes=shapes) if shapes else None,
            "confidence": lowest_confidence(proposed),
            "model": found.model,
            "error": found.error,
        }
    )


class Prelabeler:
    def __init__(
        self,
        catalog: ModelCatalog,
        runner: ModelRunner,
        storage: ObjectStorage,
        endpoints: EndpointCaller,
    ) -> None:
        self.catalog = catalog
        self.runner = runner
        self.storage = storage
        self.endpoints = endpoints

    async def prelabel_item(self, event: ItemIngested, project: ProjectUpserted) -> ItemPrelabeled:
        """The project's pre-labeler run on the item: its operator model if it names one,
        else its endpoint. Raises RetryLater only while storage is down."""
        settings = project.assist
        if project.media != "image":
            found = Prelabels(
                error=f"unsupported_media: pre-labels are for images, not {project.media}"
            )
        elif settings.prelabel_model is not None:
            found = await self.from_model(event, project, settings.prelabel_model)
        elif settings.endpoint is not None:
            found = await self.endpoints.prelabel(event, project)
        else:  # the pre-labeler was removed after the item came in
            found = Prelabels()
        if found.error:
            log.info(
                "assist.prelabel_failed",
                extra={"item": event.item_id, "model": found.model, "error": found.error[:300]},
            )
        return merged(event, found)

    async def from_model(
        self, event: ItemIngested, project: ProjectUpserted, ref: str
    ) -> Prelabels:
        """An operator's detect or segment model's proposals for the item's image."""
        try:
            model = await self.catalog.find(ref)
        except DATABASE_DOWN as exc:
            raise RetryLater(f"the database is unavailable: {exc!r}"[:300]) from exc
        if model is None:
            return Prelabels(model=ref, error=f"unknown_model: no model {ref!r} is installed")
        if model.task not in PRELABEL_TASKS:
            return Prelabels(
                model=model.ref,
                error=f"wrong_task: {model.ref} is a {model.task} model, not detect or segment",
            )
        try:
            data = await self.storage.get_bytes(event.image.bucket, event.image.object_key)
            await self.runner.session(model.files["model"])
        except STORAGE_DOWN as exc:
            raise RetryLater(f"object storage is unavailable: {exc!r}"[:300]) from exc
        except S3Error as exc:
            return Prelabels(model=model.ref, error=f"missing_file: {exc.code}")
        except Exception as exc:  # a stored model onnxruntime no longer loads
            return Prelabels(model=model.ref, error=f"model_failed: {exc}"[:1000])
        try:
            size = (event.image.width, event.image.height)
            detections = await self.runner.detect_encoded(model, data, size)
        except Exception as exc:  # the model's own failure (onnxruntime's errors share no base)
            return Prelabels(model=model.ref, error=f"model_failed: {exc}"[:1000])
        shapes = proposals(
            detections,
            model.manifest,
            project.ontology,
            model.ref,
            project.assist.min_confidence,
            event.image.width,
            event.image.height,
        )
        return Prelabels(
            annotation=Annotation(shapes=tuple(shapes)),
            confidence=lowest_confidence(shapes),
            model=model.ref,
        )
