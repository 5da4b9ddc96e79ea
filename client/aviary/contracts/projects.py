"""What a project promises its client: delivery formats, vendor shares, the review policy.

Clients send these in requests; the services carry them in events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aviary.contracts.shapes import Frozen

DeliveryFormat = Literal["coco", "yolo", "voc", "jsonl"]


class VendorShare(Frozen):
    vendor_id: str
    share: float = Field(gt=0, le=1)


class ReviewPolicy(Frozen):
    """How submissions are checked.

    `auto` accepts everything, `all` sends everything to a human, `sample` sends a new
    annotator's first `new_annotator_tasks` and then `rate` of the rest (at least
    `raised_rate` for an annotator whose recent acceptance fell below `low_score`);
    `consensus` waits for all overlaps of an item, accepts the merged annotation when the
    annotators agree (`min_agreement` of shapes matched at `match_threshold`) and sends the
    item to a human otherwise.
    """

    mode: Literal["auto", "sample", "all", "consensus"] = "all"
    # Whose reviewers do the human review: the vendor that did the work, or the client's own.
    reviewed_by: Literal["vendor", "client"] = "vendor"
    rate: float = Field(default=1.0, ge=0, le=1)
    new_annotator_tasks: int = Field(default=10, ge=0, le=10_000)
    low_score: float = Field(default=0.8, ge=0, le=1)
    raised_rate: float = Field(default=0.5, ge=0, le=1)
    match_threshold: float = Field(default=0.5, gt=0, le=1)
    min_agreement: float = Field(default=0.8, ge=0, le=1)
    # Share of new items that also bring one gold (known-answer) task, once the project has any.
    gold_rate: float = Field(default=0.0, ge=0, le=1)
