"""A simulated person outlining objects, with and without help, and what their time costs.

The seconds come from published measurements where there are any, and are marked as our own
assumption where there are none:

- Outlining an object as a polygon by hand: 79 s. COCO's segmentation stage took about 22
  worker hours per 1,000 segmentations (Lin et al., "Microsoft COCO", ECCV 2014, section 4.3).
- A box by extreme clicking (the top, bottom, left and right-most points): 7.0 s, against
  34.5 s for drawing a box with its quality control (Papadopoulos et al., "Extreme clicking for
  efficient object annotation", ICCV 2017). The tool's assist mode takes the box either way; the
  person model uses the faster protocol, since a drag that lands on the extreme points is one.
- Looking at a proposal and saying yes or no: 1.6 s (Papadopoulos et al., "We don't need no
  bounding-boxes", CVPR 2016, box verification).
- A corrective click (find the worst error, click it, wait for the new outline): 3.0 s. Our
  assumption: about two verifications; Benenson et al. ("Large-scale interactive object
  segmentation with human annotators", CVPR 2019) report masks 3x faster than polygon drawing
  with box-plus-clicks, which the figures here can be held against.

With help, a person gives the box, looks at the outline, adds up to `max_clicks` corrective
clicks (each at the middle of the largest wrong region: inside the object where the outline
misses it, outside where it spills over) while the outline's IoU with the truth is under
`target_iou`, and draws the polygon by hand after all when the clicks do not get it there.
Without help, the person draws every polygon by hand. Hand-drawn outlines count as right.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
Box = tuple[float, float, float, float]
Click = tuple[float, float, bool]  # x, y, inside the object
# Box and clicks in, the outline as a full-image mask out.
Segment = Callable[[Box, list[Click]], Awaitable[Mask]]


@dataclass(frozen=True)
class ActionCosts:
    """Seconds per action (sources in the module's docstring)."""

    polygon_by_hand_s: float = 79.0
    box_by_extreme_clicks_s: float = 7.0
    verify_s: float = 1.6
    corrective_click_s: float = 3.0


@dataclass
class Outlined:
    """One object outlined with help: how it went and what it cost."""

    first_iou: float  # the outline from the box alone
    final_iou: float  # after the corrective clicks (1.0 when drawn by hand after all)
    clicks: int
    by_hand: bool
    seconds: float


@dataclass
class Tally:
    objects: list[Outlined] = field(default_factory=list)

    @property
    def seconds_with_help(self) -> float:
        return sum(o.seconds for o in self.objects)

    def seconds_without_help(self, costs: ActionCosts) -> float:
        return len(self.objects) * costs.polygon_by_hand_s

    def ratio(self, costs: ActionCosts) -> float:
        """The person's time per object without help / with help."""
        return self.seconds_without_help(costs) / max(self.seconds_with_help, 1e-9)


def iou(a: Mask, b: Mask) -> float:
    union = int(np.logical_or(a, b).sum())
    return int(np.logical_and(a, b).sum()) / union if union else 1.0


def tight_box(mask: Mask) -> Box:
    """The box extreme clicks on the object give: its outermost pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (
        float(cols[0]),
        float(rows[0]),
        float(cols[-1] - cols[0] + 1),
        float(rows[-1] - rows[0] + 1),
    )


@dataclass(frozen=True)
class Window:
    """The part of the image around one object that a person compares an outline with: the
    object's box grown by `margin` of its longer side. Outlines and truth are compared there
    (whatever of an outline lies beyond it is counted as wrong, not looked at), so that a
    simulated person costs a fraction of the full frame's work."""

    top: int
    left: int
    bottom: int
    right: int

    @classmethod
    def around(cls, box: Box, shape: tuple[int, ...], margin: float = 0.1) -> Window:
        x, y, w, h = box
        grow = int(margin * max(w, h)) + 1
        return cls(
            max(0, int(y) - grow),
            max(0, int(x) - grow),
            min(shape[0], int(y + h) + grow),
            min(shape[1], int(x + w) + grow),
        )

    def crop(self, mask: Mask) -> Mask:
        return mask[self.top : self.bottom, self.left : self.right]

    def iou(self, outline: Mask, truth: Mask) -> float:
        """IoU on the full image, of an outline with a truth that lies inside the window."""
        inside = self.crop(outline)
        beyond = int(np.count_nonzero(outline)) - int(np.count_nonzero(inside))
        crop = self.crop(truth)
        both = int(np.count_nonzero(inside & crop))
        union = int(np.count_nonzero(inside | crop)) + beyond
        return both / union if union else 1.0

    def click(self, outline: Mask, truth: Mask) -> Click | None:
        """corrective_click inside the window, in image coordinates."""
        click = corrective_click(self.crop(outline), self.crop(truth))
        if click is None:
            return None
        x, y, inside = click
        return (x + self.left, y + self.top, inside)


def corrective_click(outline: Mask, truth: Mask) -> Click | None:
    """Where a person clicks next: the point deepest inside the largest wrong region (a
    positive click where the outline misses the object, a negative one where it spills)."""
    best: tuple[int, Click] | None = None
    for wrong, inside in ((truth & ~outline, True), (outline & ~truth, False)):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            wrong.astype(np.uint8), connectivity=8
        )
        if count <= 1:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[largest, cv2.CC_STAT_AREA])
        if best is not None and area <= best[0]:
            continue
        region = (labels == largest).astype(np.uint8)
        depth = cv2.distanceTransform(np.pad(region, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        best = (area, (float(x) + 0.5, float(y) + 0.5, inside))
    return best[1] if best is not None else None


async def outline_with_help(
    truth: Mask,
    segment: Segment,
    costs: ActionCosts = ActionCosts(),
    target_iou: float = 0.85,
    max_clicks: int = 4,
) -> Outlined:
    """One object, as a person with the assist mode outlines it."""
    box = tight_box(truth)
    window = Window.around(box, truth.shape)
    clicks: list[Click] = []
    outline = await segment(box, clicks)
    first = current = window.iou(outline, truth)
    seconds = costs.box_by_extreme_clicks_s + costs.verify_s
    while current < target_iou and len(clicks) < max_clicks:
        click = window.click(outline, truth)
        if click is None:
            break
        clicks.append(click)
        outline = await segment(box, clicks)
        current = window.iou(outline, truth)
        seconds += costs.corrective_click_s
    by_hand = current < target_iou
    if by_hand:
        seconds += costs.polygon_by_hand_s
    return Outlined(first, 1.0 if by_hand else current, len(clicks), by_hand, seconds)
