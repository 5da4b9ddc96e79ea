"""Which segmenter answers a request.

A request naming a model (`model`), or a project naming a segmenter (`assist.segmenter`), gets
that model from the operator's catalogue through `ModelLookup` (services/assist/models/
provides one); `grabcut`, or no name at all, gets GrabCut, in the CPU pool (cpu.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.assist import grabcut
from services.assist.cpu import CpuPool
from services.assist.segmenter import Cutout, Picture, Prompt, Segmenter
from shared.errors import AppError
from shared.events import ProjectUpserted

# A model by `name` or `name@version`: its segmenter, or None when there is no such model (or
# it cannot segment). The models' side (services/assist/models/) provides one.
ModelLookup = Callable[[str], Awaitable[Segmenter | None]]


class GrabCutSegmenter:
    """GrabCut (grabcut.py) in the pool."""

    name = grabcut.NAME

    def __init__(self, pool: CpuPool) -> None:
        self.pool = pool

    async def segment(self, picture: Picture, prompt: Prompt) -> Cutout:
        return await self.pool.run(grabcut.segment, picture.pixels, prompt.box, prompt.clicks)


def model_not_found(name: str) -> AppError:
    return AppError(
        "model_not_found", f"no segmentation model {name!r} is installed", status_code=404
    )


class Segmenters:
    def __init__(self, grabcut: Segmenter, models: ModelLookup | None = None) -> None:
        self.grabcut = grabcut
        self.models = models

    async def pick(self, requested: str | None, project: ProjectUpserted) -> Segmenter:
        """The request's model, else the project's segmenter, else GrabCut; 404
        `model_not_found` for a model that is not installed."""
        name = requested or project.assist.segmenter
        if name is None or name == grabcut.NAME:
            return self.grabcut
        found = await self.models(name) if self.models is not None else None
        if found is None:
            raise model_not_found(name)
        return found
