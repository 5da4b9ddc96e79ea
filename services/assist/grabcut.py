"""GrabCut (OpenCV, no weights): a box and clicks to a mask, on a small crop around the box.

GrabCut on a whole 640x480 image takes about 0.8 s here. On the crop around the box (grown by
a tenth of its longer side), scaled down to about 20,000 pixels (141 px a side for a square
crop, more on the long side of a thin one, so a pole or a leg keeps some width), one call
takes about 10 ms, and its masks have a mean IoU with the truth of about 0.95 on the
simulator's 1280x720 street scenes and 0.94 on its floor scenes (services/assist/README.md).
One iteration: more let an object's dark parts (tyres, a chassis) go over to a dark road,
which cuts it in pieces. GrabCut starts its colour models with k-means, whose generator is
seeded for every call: one request always gets one answer.

Clicks are hard labels: a positive click's disc is the object, a negative one's background,
and so is the evenly coloured region around the click (a flood fill, within the box); GrabCut
fits its colour models with them (GC_INIT_WITH_MASK). So a click brings back a part GrabCut
missed (a traffic light's pole) or takes away one it took. Each request is computed afresh
from the box and all the clicks so far; nothing is kept between calls but the decoded image
(images.py). Pure: pixels in, a cut-out out, no I/O; segmenters.py runs it in a thread
(OpenCV releases the GIL).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from aviary.contracts.assist import Click
from services.assist.segmenter import Box, Cutout, Mask, Pixels

NAME = "grabcut"
# The crop GrabCut works on: the box grown by MARGIN of its longer side (at least MIN_MARGIN_PX)
# for background samples, scaled down to about PIXELS pixels (tuned on the simulator's scenes:
# 12,000 loses thin parts, 25,000 gains nothing more and costs a third more time).
MARGIN = 0.1
MIN_MARGIN_PX = 4
PIXELS = 20_000
ITERATIONS = 1
# A click's disc, as a share of the crop's longer side (in the scaled crop, at least 2 px):
# small, since corrective clicks land on thin wrong strips along the edge, and a larger disc
# reaches over the edge into what was right.
CLICK_RADIUS = 0.015
# Parts of the mask smaller than this share of the largest are dropped (specks of the
# background's colour); larger ones stay: a truck's cab, cut from its cargo box by a dark
# chassis, is still the truck.
KEEP_PART = 0.1
# Around a positive click, the region within GROW_RANGE grey levels (each channel) of the
# click's colour is the object too, if it is at most GROW_SHARE of the box (_label_clicks).
GROW_RANGE = 8
GROW_SHARE = 0.3
# A negative click may take away more: what is not the object can be half of a loose box.
SHRINK_SHARE = 0.5
# GrabCut starts its colour models with k-means: a fixed seed gives one request one answer.
RNG_SEED = 24
# GrabCut's colour models are five-component mixtures: fewer samples than that cannot be fit.
MIN_SAMPLES = 5


def segment(pixels: Pixels, box: Box, clicks: Sequence[Click] = ()) -> Cutout:
    """The object in `box` (image pixels, inside the image, with some area), with positive
    clicks as object and negative ones as background. An empty answer (GrabCut found nothing,
    or the box is too small to fit colour models in) is the box itself with score 0."""
    height, width = pixels.shape[:2]
    x, y, w, h = box
    margin = max(MIN_MARGIN_PX, MARGIN * max(w, h))
    left, top = max(0, math.floor(x - margin)), max(0, math.floor(y - margin))
    right = min(width, math.ceil(x + w + margin))
    bottom = min(height, math.ceil(y + h + margin))
    crop = pixels[top:bottom, left:right]
    crop_w, crop_h = right - left, bottom - top
    scale = min(1.0, math.sqrt(PIXELS / (crop_w * crop_h)))
    small_w, small_h = max(2, round(crop_w * scale)), max(2, round(crop_h * scale))
    if (small_w, small_h) != (crop_w, crop_h):
        small = cv2.resize(crop, (small_w, small_h), interpolation=cv2.INTER_AREA).astype(
            np.uint8, copy=False
        )
    else:
        small = np.ascontiguousarray(crop)
    fx, fy = small_w / crop_w, small_h / crop_h

    # Inside the box: probably the object; outside: background (GC_INIT_WITH_RECT's start).
    labels = np.full((small_h, small_w), cv2.GC_BGD, np.uint8)
    bx0 = min(small_w - 1, max(0, math.floor((x - left) * fx)))
    by0 = min(small_h - 1, max(0, math.floor((y - top) * fy)))
    bx1 = max(bx0 + 1, min(small_w, math.ceil((x + w - left) * fx)))
    by1 = max(by0 + 1, min(small_h, math.ceil((y + h - top) * fy)))
    labels[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    if not (labels == cv2.GC_BGD).any():
        # A box over the whole image leaves no background: its border has to stand for it.
        labels[[0, -1], :] = cv2.GC_PR_BGD
        labels[:, [0, -1]] = cv2.GC_PR_BGD
    seeds = [(round((c.x - left) * fx), round((c.y - top) * fy), c.positive) for c in clicks]
    _label_clicks(small, labels, seeds)

    found = _grabcut(small, labels)
    if found is None:
        return _whole_box(box, left, top, crop_w, crop_h)
    # Parts and holes on the small mask (the same answer, at a fraction of the pixels).
    kept, share = _main_parts(found, seeds)
    if share == 0.0:
        return _whole_box(box, left, top, crop_w, crop_h)
    mask: Mask = _fill_holes(kept, seeds)
    if (small_w, small_h) != (crop_w, crop_h):
        grey = mask.astype(np.uint8) * 255
        mask = cv2.resize(grey, (crop_w, crop_h), interpolation=cv2.INTER_LINEAR) > 127
    # Nothing outside the box: upscaling blurs the edge a pixel or so beyond it.
    mask[:, : max(0, math.floor(x) - left)] = False
    mask[: max(0, math.floor(y) - top), :] = False
    mask[:, max(0, math.ceil(x + w) - left) :] = False
    mask[max(0, math.ceil(y + h) - top) :, :] = False
    if not mask.any():  # a speck that did not survive the way back to full size
        return _whole_box(box, left, top, crop_w, crop_h)
    return Cutout(mask, left, top, share)


def _grabcut(small: Pixels, labels: np.ndarray) -> np.ndarray | None:
    """GrabCut's foreground (0/1), or None when there is too little to fit its models to."""
    foreground = int(np.count_nonzero(labels & 1))
    if foreground < MIN_SAMPLES or labels.size - foreground < MIN_SAMPLES:
        return None
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(RNG_SEED)  # this thread's generator, which k-means draws from
    try:
        cv2.grabCut(
            small, labels, (0, 0, 0, 0), bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_MASK
        )
    except cv2.error:  # a degenerate crop (one flat colour): no models to fit
        return None
    # GC_FGD (1) and GC_PR_FGD (3) are the odd labels.
    return (labels & 1).astype(np.uint8)


def _label_clicks(small: Pixels, labels: np.ndarray, seeds: list[tuple[int, int, bool]]) -> None:
    """Mark each click's disc as object (positive) or background (negative), and with it the
    evenly coloured region around it (within GROW_RANGE of the click's colour, inside the box)
    unless that is over GROW_SHARE of the box (SHRINK_SHARE for a negative click). GrabCut
    alone takes little more than the disc when the part clicked is coloured like the rest of
    the box or like the background (a grey pole over grey ground, the blue half of a
    red-and-blue object): the click did not help."""
    if not seeds:
        return
    height, width = labels.shape
    radius = max(2, round(CLICK_RADIUS * max(width, height)))
    smooth = cv2.GaussianBlur(small, (3, 3), 0)
    outside = labels == cv2.GC_BGD
    inside = np.count_nonzero(~outside)
    flags = cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | 4 | (1 << 8)
    for sx, sy, positive in seeds:
        label = cv2.GC_FGD if positive else cv2.GC_BGD
        seed = (min(width - 1, max(0, sx)), min(height - 1, max(0, sy)))
        region = np.zeros((height + 2, width + 2), np.uint8)
        region[1:-1, 1:-1] = outside  # a fill never leaves the box
        if not outside[seed[1], seed[0]]:
            cv2.floodFill(smooth, region, seed, 0, (GROW_RANGE,) * 3, (GROW_RANGE,) * 3, flags)
            grown = (region[1:-1, 1:-1] == 1) & ~outside
            if np.count_nonzero(grown) <= (GROW_SHARE if positive else SHRINK_SHARE) * inside:
                labels[grown] = label
        cv2.circle(labels, (sx, sy), radius, label, -1)


def _main_parts(
    mask: np.ndarray, clicks: Sequence[tuple[float, float, bool]]
) -> tuple[Mask, float]:
    """The mask's parts worth keeping (the largest, those at least KEEP_PART of it, and any a
    positive click is in), and the share of the foreground they hold: the score, 1.0 for one
    clean piece, 0.0 for nothing."""
    count, parts, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask.astype(bool), 0.0
    areas = stats[1:, cv2.CC_STAT_AREA]
    wanted = set((1 + np.flatnonzero(areas >= KEEP_PART * areas.max())).tolist())
    h, w = mask.shape
    for cx, cy, positive in clicks:
        col, row = round(cx), round(cy)
        if positive and 0 <= row < h and 0 <= col < w and parts[row, col] > 0:
            wanted.add(int(parts[row, col]))
    kept = np.isin(parts, sorted(wanted))
    share = float(areas[[i - 1 for i in wanted]].sum() / areas.sum())
    return kept, share


def _fill_holes(mask: Mask, clicks: Sequence[tuple[float, float, bool]]) -> Mask:
    """Holes in the object (a window the colour of the sky) are the object, unless a negative
    click says one is not."""
    contours, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
    )
    if hierarchy is None:
        return mask
    negatives = [(cx, cy) for cx, cy, positive in clicks if not positive]
    holes = [
        contour
        for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True)
        if parent >= 0
        and not any(cv2.pointPolygonTest(contour, (cx, cy), False) >= 0 for cx, cy in negatives)
    ]
    if not holes:
        return mask
    filled = mask.astype(np.uint8)
    cv2.drawContours(filled, holes, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def _whole_box(box: Box, left: int, top: int, crop_w: int, crop_h: int) -> Cutout:
    x, y, w, h = box
    mask = np.zeros((crop_h, crop_w), bool)
    x0, y0 = max(0, math.floor(x) - left), max(0, math.floor(y) - top)
    mask[y0 : max(y0 + 1, math.ceil(y + h) - top), x0 : max(x0 + 1, math.ceil(x + w) - left)] = True
    return Cutout(mask, left, top, 0.0)
