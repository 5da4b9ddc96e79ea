"""What a project promises its client: delivery formats, vendor shares, the review policy.

Clients send these in requests; the services carry them in events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aviary.contracts.shapes import Frozen

# `mot` is for video projects only; `voc`, `jsonl`, `labelstudio`, `datumaro` and `kitti` for
# image projects only; `cvat` is CVAT for images or CVAT for video, as the project's media is;
# the speech formats for audio projects only (docs/media.md): `nemo` is the JSONL manifest of
# segments speech-recognition toolkits read, `audiofolder` a `metadata.csv` beside one clip a
# segment, `rttm` who speaks when, `vtt` and `srt` subtitles per recording.
DeliveryFormat = Literal[
    "coco",
    "yolo",
    "voc",
    "jsonl",
    "labelstudio",
    "datumaro",
    "kitti",
    "mot",
    "cvat",
    "nemo",
    "audiofolder",
    "rttm",
    "vtt",
    "srt",
]
MediaKind = Literal["image", "video", "audio"]
IMAGE_FORMATS: frozenset[str] = frozenset(
    {"coco", "yolo", "voc", "jsonl", "labelstudio", "cvat", "datumaro", "kitti"}
)
VIDEO_FORMATS: frozenset[str] = frozenset({"coco", "yolo", "mot", "cvat"})
AUDIO_FORMATS: frozenset[str] = frozenset({"nemo", "audiofolder", "rttm", "vtt", "srt"})
# What a project delivers in, and the reasons its reviewers reject for, when it does not say.
DEFAULT_FORMATS: dict[MediaKind, DeliveryFormat] = {
    "image": "coco",
    "video": "coco",
    "audio": "nemo",
}
_SHAPE_REASONS = ("missing object", "wrong class", "loose box")
DEFAULT_REJECT_REASONS: dict[MediaKind, tuple[str, ...]] = {
    "image": _SHAPE_REASONS,
    "video": (*_SHAPE_REASONS, "track switches object"),
    "audio": ("words wrong", "segment missing", "wrong speaker", "bounds off"),
}


class VideoSettings(Frozen):
    """How a video project's uploads become frames and tasks.

    Frames: every `every`-th decoded frame, or `per_second` a second of video when set.
    Tasks: clips of `clip_frames` frames, each sharing `clip_overlap` frames with the one before,
    where tracks are stitched together (docs/media.md).
    """

    every: int = Field(default=1, ge=1, le=100)
    per_second: float | None = Field(default=None, gt=0, le=120)
    clip_frames: int = Field(default=300, ge=10, le=3000)
    clip_overlap: int = Field(default=10, ge=0, le=300)
    max_duration_s: float = Field(default=3600, gt=0, le=4 * 3600)

    @model_validator(mode="after")
    def _overlap_fits(self) -> VideoSettings:
        if self.clip_overlap >= self.clip_frames:
            raise ValueError("clip_overlap must be smaller than clip_frames")
        return self


class VendorShare(Frozen):
    vendor_id: str
    share: float = Field(gt=0, le=1)
    # What this vendor's annotators are paid per completed task; left out, the project's rate.
    piece_rate: float | None = Field(default=None, ge=0, le=1000)
    # What its annotators are paid an hour of training and exams (onboarding); left out, 0.
    training_rate: float = Field(default=0.0, ge=0, le=1000)


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
    # Audio: consensus also needs the agreed transcripts' mean pairwise word error rate at or
    # below this (segments match by time at `match_threshold`).
    max_wer: float = Field(default=0.15, ge=0, le=1)
    # Share of new items that also bring one gold (known-answer) task, once the project has any.
    gold_rate: float = Field(default=0.0, ge=0, le=1)
