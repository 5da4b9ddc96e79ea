"""Assisted labeling: models propose, people decide (services/assist/).

A person drags a box (or clicks inside an object) and gets an outline back; an operator's
ONNX model, or a client's own model endpoint, pre-labels each ingested item before its task
is offered. Coordinates are image pixels, as in `shapes.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from aviary.contracts.shapes import Annotation, Frozen, Point, Rle

ModelTask = Literal["detect", "segment", "promptable-segment"]
# A model's name as operators write it, and as shapes cite it (`name@version`).
MODEL_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Click(Frozen):
    """A click on the image: inside the object (`positive`) or outside it."""

    x: float = Field(ge=0)
    y: float = Field(ge=0)
    positive: bool = True


class SegmentRequest(Strict):
    """Box or clicks to an outline. At least a box or one positive click; extra clicks add
    (positive) or remove (negative) parts. `model` names an operator's segmentation model
    (`name` or `name@version`); left out, the project's segmenter, or GrabCut when it has
    none."""

    item_id: str = Field(min_length=1, max_length=100)
    box: tuple[float, float, float, float] | None = None  # left, top, width, height
    clicks: list[Click] = Field(default_factory=list, max_length=50)
    model: str | None = Field(default=None, max_length=100)
    # Frame of a video item (its frames are the item's images); 0 for a still image.
    frame: int = Field(default=0, ge=0)


class TrackRequest(Strict):
    """Tracker help on a video item: follow the object in `bbox` (left, top, width, height)
    at `frame` through the next `frames` frames, never past the video's end (the labeling
    page stops at its clip's). `method`: CSRT, or the faster KCF."""

    item_id: str = Field(min_length=1, max_length=100)
    frame: int = Field(ge=0)
    bbox: tuple[float, float, float, float]
    frames: int = Field(default=30, ge=1, le=300)
    method: Literal["csrt", "kcf"] = "csrt"


class TrackResult(BaseModel):
    """The tracker's box in each frame after `frame`, in order; it stops where it lost the
    object (`lost`) or at the video's end."""

    frame: int
    boxes: list[tuple[float, float, float, float]]
    lost: bool
    elapsed_ms: float


class SegmentResult(BaseModel):
    """The object's outline as a polygon (its largest part) and as a mask, with the segmenter
    that made it (`grabcut`, or a model as `name@version`) and its confidence."""

    polygon: list[Point]
    rle: Rle
    bbox: tuple[float, float, float, float]
    score: float = Field(ge=0, le=1)
    model: str
    elapsed_ms: float


class ModelManifest(Strict):
    """What an operator says about an ONNX model it uploads (docs/assist.md has the inputs and
    outputs each task expects).

    `labels` are the model's output classes in order; `class_map` maps a label to the name of
    a project's ontology class (labels left out are dropped). A promptable segmenter comes as
    two files, an image encoder and a prompt decoder."""

    name: str = Field(pattern=MODEL_NAME)
    task: ModelTask
    input_size: tuple[int, int] = (640, 640)  # width, height the model expects
    labels: list[str] = Field(default_factory=list, max_length=1000)
    class_map: dict[str, str] = Field(default_factory=dict, max_length=1000)
    licence: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    score_threshold: float = Field(default=0.3, ge=0, le=1)


class ModelRead(BaseModel):
    name: str
    version: int
    task: ModelTask
    manifest: ModelManifest
    files: dict[str, str]  # role (model, encoder, decoder) -> sha256
    size_bytes: int
    uploaded_at: datetime
    uploaded_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class EndpointSettings(Frozen):
    """A client's own model over HTTPS: Aviary POSTs each item to `url`, signed with `secret`
    (as webhooks are), and reads pre-labels back (docs/assist.md). The secret travels to
    assist in `project.upserted` and is never returned by any API."""

    url: HttpUrl
    secret: str | None = Field(default=None, min_length=16, max_length=200, repr=False)
    name: str = Field(default="client", pattern=MODEL_NAME)
    timeout_s: float = Field(default=10.0, gt=0, le=60)


class AssistSettings(Frozen):
    """How a project's people are helped.

    `prelabel_model` (`name` or `name@version` of an operator's detect or segment model) or
    `endpoint` (a client's model) pre-label each item before its task is offered; proposals
    under `min_confidence` are left out. `segmenter` is the promptable or segmentation model
    boxes and clicks use (GrabCut when none). `least_confident_first` offers the tasks whose
    pre-labels the model is least sure of before the others of the same priority."""

    prelabel_model: str | None = Field(default=None, max_length=100)
    endpoint: EndpointSettings | None = None
    segmenter: str | None = Field(default=None, max_length=100)
    min_confidence: float = Field(default=0.3, ge=0, le=1)
    least_confident_first: bool = False

    @property
    def prelabels(self) -> bool:
        return self.prelabel_model is not None or self.endpoint is not None


class Prelabels(BaseModel):
    """What a pre-labeler made of one item: the proposals (each shape's `source` names the
    model), their lowest confidence, or why there are none (`error`)."""

    annotation: Annotation = Annotation()
    confidence: float | None = None
    model: str | None = None
    error: str | None = None


class ModelStats(BaseModel):
    """How people treated one model's proposals in a project's reviewed work."""

    model: str
    proposed: int  # shapes proposed in submitted tasks
    kept: int  # submitted as proposed
    edited: int  # submitted after an edit
    deleted: int  # proposed but not submitted
    correction_rate: float  # (edited + deleted) / proposed
