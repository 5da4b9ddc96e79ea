"""Assist's rules, no I/O: who may ask for help on an item, and what a usable prompt is."""

from __future__ import annotations

import math

from aviary.contracts.assist import Click, SegmentRequest
from services.assist.segmenter import Box, Prompt
from shared.errors import AppError
from shared.events import ProjectUpserted
from shared.security.auth import Principal, Role

# A box narrower or lower than this (once cut to the image) has nothing to segment.
MIN_BOX_PX = 2.0
# Clicks without a box: the box around them grows by CLICK_SPREAD of their own spread, and by at
# least CLICK_MARGIN of the image's longer side (one click says where, not how large).
CLICK_SPREAD = 0.25
CLICK_MARGIN = 0.08
MIN_CLICK_MARGIN_PX = 16.0
WORKERS = frozenset({Role.ANNOTATOR, Role.REVIEWER})


def may_assist(principal: Principal, project: ProjectUpserted) -> bool:
    """The operator; the project's own organisation (the client, its reviewers); annotators
    and reviewers of a vendor the project lists. Anyone else is told the item does not exist."""
    if principal.role == Role.OPERATOR or principal.org == project.org_id:
        return True
    vendors = {share.vendor_id for share in project.vendors}
    return principal.role in WORKERS and principal.vendor in vendors


def invalid(code: str, message: str) -> AppError:
    return AppError(code, message, status_code=422)


def check_frame(frame: int, frames: int) -> None:
    """422 `frame_out_of_range` for a frame past an item's `frames` (a still image has one)."""
    if frame >= frames:
        raise invalid(
            "frame_out_of_range",
            f"the item has {frames} frame{'s' if frames != 1 else ''} (0..{frames - 1})",
        )


def prompt_for(request: SegmentRequest, width: int, height: int) -> Prompt:
    """Where the object is in a `width` x `height` image, from the request's box and clicks;
    422 with a machine code for a box outside the image or without area, a click outside
    the image, or neither a box nor a positive click."""
    clicks = tuple(request.clicks)
    for click in clicks:
        if not (math.isfinite(click.x) and math.isfinite(click.y)):
            raise invalid("invalid_click", "a click needs finite coordinates")
        if click.x > width or click.y > height:
            raise invalid(
                "click_outside_image",
                f"click ({click.x:g}, {click.y:g}) is outside the {width}x{height} image",
            )
    if request.box is not None:
        return Prompt(_drawn_box(request.box, clicks, width, height), clicks, drawn=True)
    positives = [c for c in clicks if c.positive]
    if not positives:
        raise invalid("no_prompt", "draw a box or click inside the object")
    return Prompt(_box_around(positives, width, height), clicks, drawn=False)


def _drawn_box(box: Box, clicks: tuple[Click, ...], width: int, height: int) -> Box:
    """The box cut to the image, grown over positive clicks outside it (the person says those
    are the object too)."""
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box):
        raise invalid("invalid_box", "the box needs finite numbers")
    if w <= 0 or h <= 0:
        raise invalid("empty_box", "the box has no area (width and height must be positive)")
    left, top = max(0.0, x), max(0.0, y)
    right, bottom = min(float(width), x + w), min(float(height), y + h)
    if right <= left or bottom <= top:
        raise invalid("box_outside_image", f"the box is outside the {width}x{height} image")
    if right - left < MIN_BOX_PX or bottom - top < MIN_BOX_PX:
        raise invalid("empty_box", f"the box is under {MIN_BOX_PX:g} pixels across")
    for click in clicks:
        if click.positive:
            left, top = min(left, click.x), min(top, click.y)
            right, bottom = max(right, click.x + 1), max(bottom, click.y + 1)
    right, bottom = min(float(width), right), min(float(height), bottom)
    return (left, top, right - left, bottom - top)


def _box_around(clicks: list[Click], width: int, height: int) -> Box:
    xs, ys = [c.x for c in clicks], [c.y for c in clicks]
    spread = max(max(xs) - min(xs), max(ys) - min(ys))
    grow = max(MIN_CLICK_MARGIN_PX, CLICK_SPREAD * spread, CLICK_MARGIN * max(width, height))
    left, top = max(0.0, min(xs) - grow), max(0.0, min(ys) - grow)
    right = min(float(width), max(xs) + 1 + grow)
    bottom = min(float(height), max(ys) + 1 + grow)
    return (left, top, right - left, bottom - top)
