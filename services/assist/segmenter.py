"""What every segmenter is: a picture and a prompt in, a cut-out (a mask and a score) out.

GrabCut (grabcut.py) is one; an operator's segmentation or promptable model (models/) is
another. The route does not know which answers it: `segmenters.py` picks one per request, and
`outline.py` turns any cut-out into the polygon, COCO RLE and box the API returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from aviary.contracts.assist import Click

Box = tuple[float, float, float, float]  # left, top, width, height in image pixels
Pixels = npt.NDArray[np.uint8]  # height x width x 3, BGR, as cv2.imdecode gives it
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Picture:
    """One decoded image of an item (a still image, or a video's frame): segmenters that keep
    something per image (a promptable model's embedding) key it by `(item_id, frame)`."""

    item_id: str
    frame: int
    pixels: Pixels

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True)
class Prompt:
    """Where the object is, checked against the image (domain.prompt_for): `box` holds the
    object (the person's box, clipped to the image and grown over positive clicks outside it,
    or a box around the clicks when none was drawn; `drawn` says which), `clicks` the person's
    clicks, each inside the image."""

    box: Box
    clicks: tuple[Click, ...] = ()
    drawn: bool = True


@dataclass(frozen=True)
class Cutout:
    """A segmenter's answer: `mask` covers the image from (`left`, `top`) on (a crop, or the
    whole image at 0, 0); `score` in [0, 1] is how sure the segmenter is."""

    mask: Mask
    left: int
    top: int
    score: float


class Segmenter(Protocol):
    """Box and clicks to a mask. `name` is what the answer and the shapes cite: `grabcut`,
    or a model as `name@version`."""

    @property
    def name(self) -> str: ...

    async def segment(self, picture: Picture, prompt: Prompt) -> Cutout: ...
