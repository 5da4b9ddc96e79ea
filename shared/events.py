"""Integration events: the envelope, one frozen model per event type, and the routing keys.

Producers and consumers import the same models. Changes are additive only; a breaking change
gets a new `version` and a new model.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from aviary.contracts.assist import AssistSettings
from aviary.contracts.onboarding import OnboardingSettings
from aviary.contracts.privacy import PrivacySettings
from aviary.contracts.projects import (
    DeliveryFormat,
    MediaKind,
    ReviewPolicy,
    VendorShare,
    VideoSettings,
)
from aviary.contracts.shapes import (
    Annotation,
    BoxShape,
    ClassificationShape,
    KeypointsShape,
    MaskShape,
    Ontology,
    OntologyClass,
    PolygonShape,
    PolylineShape,
    Shape,
    ShapeSource,
)
from aviary.contracts.speech import AudioSettings, Transcript
from aviary.contracts.tracks import TrackAnnotation
from shared.domain.tracks import clip_unit

__all__ = [
    "Annotation",
    "AudioSettings",
    "BoxShape",
    "ClassificationShape",
    "DeliveryFormat",
    "KeypointsShape",
    "MaskShape",
    "Ontology",
    "OntologyClass",
    "PolygonShape",
    "PolylineShape",
    "ReviewPolicy",
    "Shape",
    "ShapeSource",
    "TrackAnnotation",
    "Transcript",
    "VendorShare",
]


class RoutingKey(StrEnum):
    """Every event type, named `<aggregate>.<past-tense verb>`; also the AMQP routing key."""

    PROJECT_UPSERTED = "project.upserted"
    ITEM_INGESTED = "item.ingested"
    ITEM_PRELABELED = "item.prelabeled"
    ITEM_ANNOTATIONS_IMPORTED = "item.annotations_imported"
    BATCH_SEALED = "batch.sealed"
    TASK_SUBMITTED = "task.submitted"
    TASK_REJECTED = "task.rejected"
    ITEM_ACCEPTED = "item.accepted"
    DELIVERY_READY = "delivery.ready"
    IMPORT_REQUESTED = "import.requested"
    IMPORT_URLS_REQUESTED = "import.urls_requested"
    GOLD_UPDATED = "gold.updated"
    ONBOARDING_CHANGED = "onboarding.changed"
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an event name
    ITEM_DROPPED = "item.dropped"
    DELETION_REQUESTED = "deletion.requested"
    DELETION_APPLIED = "deletion.applied"


class Tolerant(BaseModel):
    """Events ignore fields they do not know: a producer a release ahead may add fields
    (additive changes only), and a consumer still on the old model must not dead-letter them.
    Shapes and ontologies stay strict: they are also what clients send."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# ----- value objects carried by events -----------------------------------------------------------


class ImageRef(Tolerant):
    """What a consumer needs to know about an image without reading ingest's data."""

    bucket: str
    object_key: str
    width: int
    height: int
    format: str
    sha256: str
    file_name: str


class VideoRef(Tolerant):
    """A stored video (services/ingest/video_store.py): its manifest lists the frames."""

    bucket: str
    manifest_key: str
    sha256: str  # of the file as uploaded
    width: int
    height: int
    fps: float
    frame_count: int  # frames kept (sampled)
    duration_s: float
    # Each clip's first and one-past-last frame: one task each.
    clips: tuple[tuple[int, int], ...]


class AudioRef(Tolerant):
    """A stored recording (services/ingest/audio_store.py): the file as uploaded, its
    listening copy (16 kHz mono Ogg Opus), its waveform peaks, and a manifest with the speech
    segments voice-activity detection proposed."""

    bucket: str
    manifest_key: str
    sha256: str  # of the file as uploaded
    format: str  # wav, flac, ogg, mp3 or m4a
    duration_s: float
    sample_rate: int  # as uploaded
    channels: int  # as uploaded
    listening_key: str
    peaks_key: str
    # Each part's start and end in milliseconds (cut at silences): one task each.
    parts: tuple[tuple[int, int], ...]


class ClipRef(Tolerant):
    """Which part of a video (frames) or of a recording (milliseconds) a task, a submission or
    an acceptance is about. A part of a recording has `frames` and `fps` 0, and its `start`
    and `stop` are milliseconds from the recording's start."""

    index: int = Field(ge=0)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    count: int = Field(ge=1)  # clips the item has in all
    frames: int = Field(default=0, ge=0)  # frames the video has in all
    fps: float = Field(default=0.0, ge=0)
    # Where the clip's frames are listed (the video's manifest), for a page to show them.
    bucket: str = ""
    manifest_key: str = ""


# ----- event payloads ----------------------------------------------------------------------------


class EventData(Tolerant):
    routing_key: ClassVar[RoutingKey]


class ProjectUpserted(EventData):
    routing_key = RoutingKey.PROJECT_UPSERTED
    project_id: str
    org_id: str
    version: int = Field(ge=1)
    name: str
    ontology: Ontology
    overlap: int = Field(ge=1, le=10)
    vendors: tuple[VendorShare, ...]
    vendor_names: dict[str, str] = Field(default_factory=dict)  # for pages: names, not ids
    review: ReviewPolicy
    reject_reasons: tuple[str, ...]
    piece_rate: float = Field(ge=0)
    priority: int = 0
    deadline: datetime | None = None
    instructions: str = ""
    delivery_formats: tuple[DeliveryFormat, ...] = ("coco",)
    include_images: bool = False
    include_people: bool = False  # annotator and reviewer ids in the JSONL export
    webhook_url: str | None = None
    # Carried to export, which signs webhooks with it; never returned by any API.
    webhook_secret: str | None = None
    media: MediaKind = "image"
    video: VideoSettings = VideoSettings()
    audio: AudioSettings = AudioSettings()
    assist: AssistSettings = AssistSettings()
    privacy: PrivacySettings = PrivacySettings()
    onboarding: OnboardingSettings = OnboardingSettings()

    def rate_for(self, vendor_id: str) -> float:
        """What the vendor's annotators earn a completed task: its own rate, else the project's."""
        own = next((v.piece_rate for v in self.vendors if v.vendor_id == vendor_id), None)
        return self.piece_rate if own is None else own


class ItemIngested(EventData):
    routing_key = RoutingKey.ITEM_INGESTED
    item_id: str
    project_id: str
    batch_id: str
    org_id: str
    image: ImageRef  # a video's first frame; a recording's waveform picture
    # The client's model predictions, validated against the project's ontology at upload.
    pre_annotation: Annotation | None = None
    video: VideoRef | None = None
    audio: AudioRef | None = None
    # The project had a pre-labeler when the item came in: its tasks are made from the
    # `item.prelabeled` that assist publishes for it, not from this event.
    prelabel: bool = False


class ItemPrelabeled(ItemIngested):
    """An item with what a model proposed for it (`pre_annotation`, each shape's `source`
    naming the model; the client's own pre-annotation, if any, kept beside them): dispatch
    makes its tasks from this. Published even when the model failed (`error`), so no item
    waits for help that does not come."""

    routing_key = RoutingKey.ITEM_PRELABELED
    confidence: float | None = Field(default=None, ge=0, le=1)  # the least sure proposal's
    model: str | None = None
    error: str | None = None


class ItemAnnotationsImported(EventData):
    """Shapes another tool made for an item already ingested (a client's import, matched by
    file name or content): dispatch adds them as proposals to the item's tasks nobody has
    submitted yet, in place of any this `source` added before; or, `as_gold`, review keeps
    them as the item's known answer (gold), in place of the one this source gave before. For
    a video, `tracks` (in the item's frames; `annotation` empty): dispatch gives each clip
    task nobody has submitted the part of them in its frames, as the tracks to start from."""

    routing_key = RoutingKey.ITEM_ANNOTATIONS_IMPORTED
    item_id: str
    project_id: str
    batch_id: str
    org_id: str
    source: str  # `import:<format>`: the proposals' source model, or the gold's maker
    annotation: Annotation
    as_gold: bool = False
    image: ImageRef | None = None  # where the item is (review keeps it with gold)
    tracks: TrackAnnotation | None = None


class ImportRequested(EventData):
    """One URL of a client's import list: what ingest sent before `ImportUrlsRequested`;
    its consumers still fetch these (events queued before an upgrade)."""

    routing_key = RoutingKey.IMPORT_REQUESTED
    import_id: str
    url_id: str
    batch_id: str
    project_id: str
    org_id: str


class ImportUrlsRequested(EventData):
    """Some URLs of a client's import list (a few at most), to be fetched by ingest's consumers.

    Several URLs an event: a consumer holding its prefetch of events holds that many times
    more URLs to fetch at once (one an event capped an import at 32 fetches in flight), and
    the broker carries a fraction of the messages. A replica older than this event has no
    handler for it and dead-letters it; replay the dead letters once the upgrade is done.
    """

    routing_key = RoutingKey.IMPORT_URLS_REQUESTED
    import_id: str
    url_ids: tuple[str, ...] = Field(min_length=1)
    batch_id: str
    project_id: str
    org_id: str


class BatchSealed(EventData):
    routing_key = RoutingKey.BATCH_SEALED
    batch_id: str
    project_id: str
    org_id: str
    item_count: int = Field(ge=0)
    # What must be accepted before the batch is complete: an image is one unit, a video one
    # per clip. None from producers that predate video: then it is `item_count`.
    unit_count: int | None = Field(default=None, ge=0)


TaskStage = Literal["production", "training", "exam"]


class TaskSubmitted(EventData):
    routing_key = RoutingKey.TASK_SUBMITTED
    task_id: str
    submission_id: str
    item_id: str
    project_id: str
    batch_id: str
    org_id: str
    vendor_id: str
    annotator_id: str
    ontology_version: int
    image: ImageRef
    annotation: Annotation
    rework: int = Field(ge=0)
    seconds_worked: float = Field(ge=0)
    gold_id: str | None = None  # a gold task: scored against its known answer, never delivered
    # A video task: the clip, and the tracks drawn in it (`annotation` is then empty).
    clip: ClipRef | None = None
    tracks: TrackAnnotation | None = None
    # An audio task: the part (as `clip`) and the segments heard in it.
    transcript: Transcript | None = None
    # Shapes models proposed for the task, per model (`name@version`): with the submitted
    # shapes' sources, how often people kept, edited or deleted each model's proposals.
    proposed: dict[str, int] = Field(default_factory=dict)
    # Onboarding (docs/onboarding.md): a training or exam task, of a training round or an
    # exam attempt (`round`), scored against its gold item and never delivered.
    stage: TaskStage = "production"
    round: int = Field(default=0, ge=0)


class TaskRejected(EventData):
    routing_key = RoutingKey.TASK_REJECTED
    task_id: str
    submission_id: str
    item_id: str
    project_id: str
    org_id: str
    vendor_id: str
    annotator_id: str
    reviewer_id: str
    reason: str
    comment: str
    # A video clip: the track and the frames (first, last) the rejection points at.
    track_id: str | None = None
    frames: tuple[int, int] | None = None
    # An audio part: the segment the rejection points at.
    segment_id: str | None = None


class ItemAccepted(EventData):
    routing_key = RoutingKey.ITEM_ACCEPTED
    item_id: str
    project_id: str
    batch_id: str
    org_id: str
    task_id: str
    submission_id: str
    annotator_id: str
    reviewer_id: str | None
    ontology_version: int
    image: ImageRef
    annotation: Annotation
    # Consensus: every annotator whose version was merged into `annotation`.
    contributors: tuple[str, ...] = ()
    # A video's clip: the item is accepted clip by clip (a recording: part by part).
    clip: ClipRef | None = None
    tracks: TrackAnnotation | None = None
    transcript: Transcript | None = None


class ItemDropped(EventData):
    """An item taken out of its batch by an operator or its client (a task nobody could do):
    its tasks have ended, review forgets it, and the batch's full delivery completes without
    it, listing it with the reason."""

    routing_key = RoutingKey.ITEM_DROPPED
    item_id: str
    project_id: str
    batch_id: str
    org_id: str
    reason: str
    dropped_by: str  # the operator, or the client's subject
    # A video's clips (a recording's parts), each a unit of the batch's count; None: an image.
    clips: int | None = Field(default=None, ge=1)

    def units(self) -> list[str]:
        """What the batch counted for this item: the item, or each of its clips."""
        if self.clips is None:
            return [clip_unit(self.item_id, None)]
        return [clip_unit(self.item_id, index) for index in range(self.clips)]


DeletionScope = Literal["item", "batch", "project", "org"]
# What a deletion removes: the records (annotations, tasks, reviews: everything, with
# tombstones), the media (every object derived from what the client sent: pictures, frames,
# previews, embeddings), the delivery packages. A client's deletion removes all three; a
# project's retention may remove media or packages sooner than the rest (docs/privacy.md).
DeletionPart = Literal["records", "media", "packages"]
EVERYTHING: tuple[DeletionPart, ...] = ("records", "media", "packages")


class DeletionRequested(EventData):
    """A client deleted an item, a batch or a project (the operator an organisation): every
    service removes what it holds of it, media and derived objects included, and says what
    it removed (`deletion.applied`). Each id names the widest reach: a project's deletion
    names no batch or item, and each service deletes by the widest field it keeps."""

    routing_key = RoutingKey.DELETION_REQUESTED
    deletion_id: str
    scope: DeletionScope
    target_id: str
    org_id: str
    project_ids: tuple[str, ...] = ()
    batch_ids: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()
    # An item's deletion: what it counted for in its batch (1, or a video's clips), so that
    # the batch completes without it.
    units: int = Field(default=0, ge=0)
    requested_by: str
    requested_at: datetime
    # Without "records", services remove only the objects of those parts and keep their
    # records, marked (`media_removed_at`, `packages_removed_at`); no tombstones.
    parts: tuple[DeletionPart, ...] = EVERYTHING


class DeletionApplied(EventData):
    """One service removed what it held of a deletion: how many records per collection, how
    many objects per bucket with one SHA-256 over their names, and the SHA-256 of the media
    content it removed (where it keeps it), for the certificate."""

    routing_key = RoutingKey.DELETION_APPLIED
    deletion_id: str
    service: str
    org_id: str
    records: dict[str, int]
    objects: dict[str, int]
    objects_sha256: str = ""
    content_sha256: tuple[str, ...] = ()
    applied_at: datetime


class GoldUpdated(EventData):
    """An item with a known answer that dispatch may mix in as a gold task (the answer stays
    in review); `active` False takes it out of rotation."""

    routing_key = RoutingKey.GOLD_UPDATED
    gold_id: str
    project_id: str
    org_id: str
    item_id: str
    image: ImageRef
    ontology_version: int
    active: bool = True
    # A gold clip of a video: which clip (the answer's tracks stay in review).
    clip: ClipRef | None = None


class OnboardingChanged(EventData):
    """A person's onboarding in a project changed (review decides, dispatch gates): admitted
    (by the exam, or by hand), an exam failed (`retry_at`), or sent back to training
    (`round`: the training round now due; tasks of earlier rounds no longer count)."""

    routing_key = RoutingKey.ONBOARDING_CHANGED
    project_id: str
    org_id: str
    vendor_id: str
    annotator_id: str
    admitted: bool
    admitted_by: str | None = None
    reason: str | None = None
    round: int = Field(default=0, ge=0)
    attempts: int = Field(default=0, ge=0)  # exam attempts finished
    retry_at: datetime | None = None
    # Classes (ids) whose tasks the person is not offered: their skill is under the
    # project's `class_min_skill` for them.
    held_classes: list[int] = Field(default_factory=list)
    changed_at: datetime


class DeliveryReady(EventData):
    routing_key = RoutingKey.DELIVERY_READY
    delivery_id: str
    project_id: str
    batch_id: str
    org_id: str
    bucket: str
    object_key: str
    sha256: str
    size_bytes: int
    images: int
    annotations: int
    kind: str = "full"  # full | partial | incremental


class TokenRevoked(EventData):
    """A credential no service may accept any more (tokens are verified without a lookup)."""

    routing_key = RoutingKey.TOKEN_REVOKED
    jti: str
    org_id: str
    expires_at: datetime


EVENT_TYPES: dict[RoutingKey, type[EventData]] = {
    cls.routing_key: cls
    for cls in (
        ProjectUpserted,
        ItemIngested,
        ItemPrelabeled,
        ItemAnnotationsImported,
        ImportRequested,
        ImportUrlsRequested,
        BatchSealed,
        TaskSubmitted,
        TaskRejected,
        GoldUpdated,
        OnboardingChanged,
        ItemAccepted,
        ItemDropped,
        DeliveryReady,
        TokenRevoked,
        DeletionRequested,
        DeletionApplied,
    )
}


class Envelope(Tolerant):
    """The wrapper on every message on the bus."""

    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: RoutingKey
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    org_ids: tuple[str, ...] = ()
    correlation_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls, data: EventData, *, org_ids: tuple[str, ...] = (), correlation_id: str | None = None
    ) -> Envelope:
        """Wrap a payload, taking the type from the payload's model."""
        return cls(
            type=data.routing_key,
            org_ids=org_ids,
            correlation_id=correlation_id,
            data=data.model_dump(mode="json"),
        )

    def payload(self) -> EventData:
        """Parse `data` with the model of this envelope's type."""
        return EVENT_TYPES[self.type].model_validate(self.data)
