"""Operator models as segmenters of the segment route (services/assist/segmenter.py).

A promptable model (SAM-class) reads the box as its two corners and the clicks as points, on
the image's embedding (embeddings.py: computed once, after ingest where the project's
segmenter is promptable), so a click runs its decoder only. A segmentation model has no
prompt: it runs on a crop around the box, and the object whose box fits the person's best
(holding the positive clicks, none of the negative ones) is the answer.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from aviary.contracts.assist import ModelRead
from services.assist.models.catalog import ModelCatalog
from services.assist.models.embeddings import EmbeddingCache, picture_key
from services.assist.models.imaging import decode_rgb
from services.assist.models.runner import Detection, ModelRunner, Prompt
from services.assist.segmenter import Box, Cutout, Picture
from services.assist.segmenter import Prompt as Request
from shared.domain.geometry import iou
from shared.events import ItemIngested, ProjectUpserted
from shared.store.storage import STORAGE_DOWN, ObjectStorage
from shared.vision.detector_model import Rgb

log = logging.getLogger(__name__)

SEGMENTER_TASKS = frozenset({"promptable-segment", "segment"})
# A segmentation model sees the box grown by this share of its longer side on every side.
CROP_MARGIN = 0.25


def model_prompt(request: Request) -> Prompt:
    """SAM's points: a drawn box as its corners (labels 2 and 3), clicks as 1 (inside) or 0."""
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    if request.drawn:
        x, y, w, h = request.box
        points += [(x, y), (x + w, y + h)]
        labels += [2, 3]
    for click in request.clicks:
        points.append((click.x, click.y))
        labels.append(1 if click.positive else 0)
    return Prompt(tuple(points), tuple(labels))


def rgb_of(picture: Picture) -> Rgb:
    """The picture's pixels (BGR, as OpenCV decodes) as the RGB the models take."""
    return np.ascontiguousarray(picture.pixels[..., ::-1])


def crop_around(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the box grown by CROP_MARGIN, inside the image."""
    x, y, w, h = box
    margin = CROP_MARGIN * max(w, h)
    return (
        max(0, math.floor(x - margin)),
        max(0, math.floor(y - margin)),
        min(width, math.ceil(x + w + margin)),
        min(height, math.ceil(y + h + margin)),
    )


def best_fit(
    detections: list[Detection], request: Request, left: int, top: int
) -> Detection | None:
    """The detection (in crop pixels) whose box fits the request's (image pixels) best, among
    those with a mask holding every positive click and no negative one."""
    x, y, w, h = request.box
    wanted = (x - left, y - top, w, h)
    best: tuple[float, Detection] | None = None
    for detection in detections:
        mask = detection.mask
        if mask is None:
            continue
        fits = True
        for click in request.clicks:
            row, col = int(click.y) - top, int(click.x) - left
            inside = 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and bool(mask[row, col])
            fits = fits and inside == click.positive
        overlap = iou(detection.box, wanted)
        if fits and overlap > 0 and (best is None or overlap > best[0]):
            best = (overlap, detection)
    return None if best is None else best[1]


class ModelSegmenter:
    """One model version as a `Segmenter`."""

    def __init__(self, model: ModelRead, runner: ModelRunner, embeddings: EmbeddingCache) -> None:
        self.model = model
        self.runner = runner
        self.embeddings = embeddings

    @property
    def name(self) -> str:
        return self.model.ref

    async def segment(self, picture: Picture, prompt: Request) -> Cutout:
        if self.model.task == "promptable-segment":
            return await self._prompted(picture, prompt)
        return await self._by_crop(picture, prompt)

    async def _prompted(self, picture: Picture, prompt: Request) -> Cutout:
        async def pixels() -> Rgb:
            return rgb_of(picture)

        key = picture_key(picture.item_id, picture.frame)
        embedding = await self.embeddings.get(self.model, key, pixels)
        mask, score = await self.runner.decode(
            self.model, embedding, picture.height, picture.width, model_prompt(prompt)
        )
        return Cutout(mask, 0, 0, score)

    async def _by_crop(self, picture: Picture, prompt: Request) -> Cutout:
        left, top, right, bottom = crop_around(prompt.box, picture.width, picture.height)
        crop = np.ascontiguousarray(picture.pixels[top:bottom, left:right, ::-1])
        found = await self.runner.detect(self.model, crop, threshold=0.0)
        best = best_fit(found, prompt, left, top)
        if best is None or best.mask is None or not best.mask.any():
            # Nothing the model found fits: the box itself, with no confidence (as GrabCut
            # answers when it finds nothing).
            mask = np.zeros((bottom - top, right - left), np.bool_)
            x, y, w, h = prompt.box
            mask[round(y) - top : round(y + h) - top, round(x) - left : round(x + w) - left] = True
            return Cutout(mask, left, top, 0.0)
        return Cutout(best.mask, left, top, best.score)


class ModelSegmenters:
    """The segmenters operator models make, and their embeddings made ahead of the clicks."""

    def __init__(
        self,
        catalog: ModelCatalog,
        runner: ModelRunner,
        embeddings: EmbeddingCache,
        storage: ObjectStorage,
    ) -> None:
        self.catalog = catalog
        self.runner = runner
        self.embeddings = embeddings
        self.storage = storage

    async def segmenter(self, ref: str) -> ModelSegmenter | None:
        """The model `ref` names (`name` or `name@version`) as a segmenter; None when there
        is no such model or it is not a segmentation model."""
        model = await self.catalog.find(ref)
        if model is None or model.task not in SEGMENTER_TASKS:
            return None
        return ModelSegmenter(model, self.runner, self.embeddings)

    async def precompute(self, event: ItemIngested, project: ProjectUpserted) -> bool:
        """After ingest: the item's embedding by the project's promptable segmenter, so its
        first click is as quick as the others. True when one is there now. A model that fails
        is logged and skipped (the first click computes it); storage being down raises."""
        ref = project.assist.segmenter
        if ref is None:
            return False
        model = await self.catalog.find(ref)
        if model is None or model.task != "promptable-segment":
            return False
        key = picture_key(event.item_id, 0)
        if self.embeddings.in_memory(model, key):
            return True

        async def pixels() -> Rgb:
            data = await self.storage.get_bytes(event.image.bucket, event.image.object_key)
            return decode_rgb(data)

        try:
            await self.embeddings.get(model, key, pixels)
        except STORAGE_DOWN:
            raise
        except Exception as exc:  # the model (onnxruntime's errors share no base) or image
            log.warning(
                "assist.embedding_failed",
                extra={"item": event.item_id, "model": model.ref, "error": repr(exc)[:300]},
            )
            return False
        return True
