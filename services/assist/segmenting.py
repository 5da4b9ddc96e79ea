"""One `POST /v1/assist/segment`, from the item id to the outline: who may, which image,
which segmenter, the prompt checked against the image, the cut-out outlined."""

from __future__ import annotations

import time

from aviary.contracts.assist import SegmentRequest, SegmentResult
from services.assist.access import ItemAccess
from services.assist.cpu import CpuPool
from services.assist.domain import check_frame, invalid, prompt_for
from services.assist.images import ImageCache
from services.assist.outline import outline
from services.assist.repositories import KnownItem
from services.assist.segmenters import Segmenters
from shared.security.auth import Principal


class Segmenting:
    def __init__(
        self,
        access: ItemAccess,
        images: ImageCache,
        segmenters: Segmenters,
        pool: CpuPool,
    ) -> None:
        self.access = access
        self.images = images
        self.segmenters = segmenters
        self.pool = pool

    async def segment(self, principal: Principal, request: SegmentRequest) -> SegmentResult:
        """The outline of the object the request points at; 404 for an item the caller may
        not see (or assist has not heard of yet), 422 for a prompt that cannot be used."""
        started = time.perf_counter()
        item, project = await self.access.visible(principal, request.item_id)
        _check_frame(item, request.frame)
        segmenter = await self.segmenters.pick(request.model, project)
        picture = await self.images.picture(item, request.frame)
        prompt = prompt_for(request, picture.width, picture.height)
        cutout = await segmenter.segment(picture, prompt)
        try:
            shape = await self.pool.run(outline, cutout, picture.width, picture.height)
        except ValueError as exc:  # an empty mask (GrabCut answers the box instead)
            raise invalid("nothing_found", f"{segmenter.name} found no object there") from exc
        return SegmentResult(
            polygon=shape.polygon,
            rle=shape.rle,
            bbox=shape.bbox,
            score=round(min(1.0, max(0.0, cutout.score)), 4),
            model=segmenter.name,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )


def _check_frame(item: KnownItem, frame: int) -> None:
    if item.media == "audio":
        raise invalid("not_an_image", "a recording has no image to segment")
    check_frame(frame, item.video.frame_count if item.video else 1)
