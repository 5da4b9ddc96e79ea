"""The helper API: a box or clicks to an outline, a box on a video's frame followed on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from aviary.contracts.assist import SegmentRequest, SegmentResult, TrackRequest, TrackResult
from services.assist.deps import SegmentingDep, TrackingDep
from shared.security.auth import Principal, Role, require_roles

router = APIRouter(prefix="/v1/assist", tags=["assist"])

# Who outlines: annotators and reviewers (of a vendor the project lists, or of the client),
# the client itself, the operator. Which items each may touch is checked per item (404).
Outliner = Annotated[
    Principal, require_roles(Role.ANNOTATOR, Role.REVIEWER, Role.CLIENT, Role.OPERATOR)
]


@router.post(
    "/segment",
    response_model=SegmentResult,
    responses={
        404: {"description": "no such item (or not the caller's), or no such model"},
        422: {"description": "a box outside the image or without area, no box and no click"},
    },
)
async def segment(
    body: SegmentRequest, principal: Outliner, segmenting: SegmentingDep
) -> SegmentResult:
    """The outline of the object in the box (or under the clicks): a polygon of its largest
    part, the whole mask as COCO RLE, its box, and how sure the segmenter is. Positive clicks
    add to the object, negative ones take away; send the box and every click so far."""
    return await segmenting.segment(principal, body)


@router.post(
    "/track",
    response_model=TrackResult,
    responses={
        404: {"description": "no such item (or not the caller's)"},
        422: {"description": "not a video, a frame past its end, a box that cannot be followed"},
    },
)
async def track(body: TrackRequest, principal: Outliner, tracking: TrackingDep) -> TrackResult:
    """Follow a box through the next frames of a video (CSRT, or the faster KCF); the person
    keeps the proposals or redraws where one is off."""
    return await tracking.track(principal, body)
