"""Request and response models of the ingest API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    model_validator,
)

from aviary.contracts.assist import AssistSettings
from aviary.contracts.onboarding import OnboardingSettings
from aviary.contracts.privacy import PrivacySettings
from aviary.contracts.projects import (
    DEFAULT_FORMATS,
    DEFAULT_REJECT_REASONS,
    DeliveryFormat,
    MediaKind,
    ReviewPolicy,
    VendorShare,
    VideoSettings,
)
from aviary.contracts.roles import Role
from aviary.contracts.shapes import Annotation, OntologyClass
from aviary.contracts.speech import AudioSettings


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["client", "vendor"]


class OrgRead(BaseModel):
    id: str
    name: str
    kind: Literal["client", "vendor"]
    created_at: datetime


class ProjectVersionRead(BaseModel):
    """One version of a project: when, by whom, and what changed from the one before."""

    version: int
    saved_at: datetime
    saved_by: str
    name: str
    changes: list[str]  # ["created"] for the first one kept


class BurnupPoint(BaseModel):
    at: datetime
    done: int  # items accepted or dropped by then


class BurnupRead(BaseModel):
    """A batch's burn-up: items done over time, the pace of the last hour and the finish it
    gives (None without a pace), beside the project's deadline."""

    batch_id: str
    sealed: bool  # an open batch's total is the items in so far
    total: int
    done: int
    points: list[BurnupPoint]
    per_hour: float | None
    finish_at: datetime | None
    deadline: datetime | None


class MeRead(BaseModel):
    """Who a token speaks for, with the names pages show (GET /v1/me)."""

    subject: str
    role: Role
    org_id: str
    org_name: str | None  # None for the bootstrap operator, who belongs to no organisation
    vendor_id: str | None = None
    vendor_name: str | None = None


class VendorRead(BaseModel):
    """A vendor as a client sees it, to choose its projects' vendors from."""

    id: str
    name: str


class TokenCreate(Strict):
    org_id: str
    role: Role
    subject: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.@:-]+$")
    ttl_s: int = Field(default=30 * 24 * 3600, ge=60, le=365 * 24 * 3600)


class TokenInfo(BaseModel):
    """What is kept of an issued token: never its value."""

    id: str
    org_id: str
    role: Role
    subject: str
    vendor_id: str | None
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    revoked_at: datetime | None = None


class TokenRead(TokenInfo):
    """The answer to issuing a token: the only time its value is shown."""

    token: str
    expires_in_s: int


class OntologyIn(Strict):
    # Image and video projects need at least one class (ingest refuses none); an audio
    # project's labels are segments, which its `audio` settings describe.
    classes: list[OntologyClass] = Field(default_factory=list, max_length=1000)


class ProjectCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    ontology: OntologyIn = OntologyIn()
    instructions: str = Field(default="", max_length=100_000)
    overlap: int = Field(default=1, ge=1, le=10)
    vendors: list[VendorShare] = Field(min_length=1, max_length=100)
    review: ReviewPolicy = ReviewPolicy()
    # Left out: the media kind's usual reasons (DEFAULT_REJECT_REASONS), as for the formats.
    reject_reasons: list[str] = Field(default_factory=list, min_length=1, max_length=50)
    piece_rate: float = Field(default=0.05, ge=0, le=1000)
    priority: int = Field(default=0, ge=0, le=100)
    deadline: AwareDatetime | None = None
    # Left out: the media kind's usual format (DEFAULT_FORMATS); a default is not validated,
    # so the empty list stands for "left out" while an empty list sent is refused.
    delivery_formats: list[DeliveryFormat] = Field(default_factory=list, min_length=1, max_length=8)
    include_images: bool = False
    include_people: bool = False
    webhook_url: HttpUrl | None = None
    webhook_secret: SecretStr | None = Field(default=None, min_length=16, max_length=200)
    # What the project labels: still images, videos (tracks through frames) or audio
    # recordings (segments with transcripts, speakers and events).
    media: MediaKind = "image"
    video: VideoSettings = VideoSettings()
    audio: AudioSettings = AudioSettings()
    # Models that help: pre-labels before a task is offered, outlines from boxes and clicks.
    assist: AssistSettings = AssistSettings()
    # Faces and plates blurred; how long delivered work is kept.
    privacy: PrivacySettings = PrivacySettings()
    # New people train and pass an exam before production work (docs/onboarding.md).
    onboarding: OnboardingSettings = OnboardingSettings()

    @model_validator(mode="after")
    def _class_minimums_name_classes(self) -> ProjectCreate:
        names = {c.name for c in self.ontology.classes}
        if unknown := sorted(set(self.onboarding.class_min_skill) - names):
            raise ValueError(
                f"onboarding.class_min_skill names no class of the ontology: {unknown}"
            )
        return self

    @model_validator(mode="after")
    def _defaults_for_the_media(self) -> ProjectCreate:
        if not self.delivery_formats:
            self.delivery_formats = [DEFAULT_FORMATS[self.media]]
        if not self.reject_reasons:
            self.reject_reasons = list(DEFAULT_REJECT_REASONS[self.media])
        return self


class ProjectUpdate(ProjectCreate):
    """A new version of the whole project; tasks already made keep the version they used.

    Leave `webhook_secret` out to keep the current one.
    """


class ProjectRead(BaseModel):
    id: str
    org_id: str
    name: str
    version: int
    ontology: OntologyIn
    instructions: str
    overlap: int
    vendors: list[VendorShare]
    vendor_names: dict[str, str] = {}  # each vendor's name, for pages and people
    review: ReviewPolicy
    reject_reasons: list[str]
    piece_rate: float
    priority: int
    deadline: datetime | None = None
    delivery_formats: list[DeliveryFormat]
    include_images: bool
    include_people: bool
    webhook_url: str | None
    webhook_secret_set: bool  # the secret itself is write-only
    media: MediaKind = "image"
    video: VideoSettings = VideoSettings()
    audio: AudioSettings = AudioSettings()
    assist: AssistSettings = AssistSettings()  # an endpoint's secret never shows
    privacy: PrivacySettings = PrivacySettings()
    onboarding: OnboardingSettings = OnboardingSettings()
    created_at: datetime
    updated_at: datetime


class BatchCreate(Strict):
    name: str = Field(default="", max_length=200)


class BatchProgress(BaseModel):
    """Where the batch's items are: received, labeling, review, accepted, delivered."""

    received: int
    in_labeling: int
    in_review: int
    accepted: int
    dropped: int = 0  # taken out of the batch (a flagged task's item): delivered without them
    delivered: bool  # the batch's full delivery is ready
    deliveries: int  # deliveries made so far (full, partial, incremental)


class BatchRead(BaseModel):
    id: str
    project_id: str
    org_id: str
    name: str
    status: Literal["open", "sealed"]
    item_count: int  # items received so far; fixed once sealed
    progress: BatchProgress
    created_at: datetime
    sealed_at: datetime | None


class Blurred(BaseModel):
    """What redaction blurred in an item as it came in (docs/privacy.md): faces and number
    plates found, and for a video the frames that had any."""

    faces: int
    plates: int
    frames: int | None = None


class ItemRead(BaseModel):
    id: str
    batch_id: str
    project_id: str
    file_name: str
    sha256: str
    width: int
    height: int
    format: str
    size_bytes: int
    duplicate: bool = False
    preview_url: str | None = None
    has_pre_annotation: bool = False
    media: MediaKind = "image"
    # A video's: frames kept, clips (tasks) it was cut into, and its length; a recording's:
    # its length and the parts (tasks) it was cut into (`clip_count`).
    frame_count: int | None = None
    clip_count: int | None = None
    duration_s: float | None = None
    blurred: Blurred | None = None  # None where the project does not redact
    media_removed_at: datetime | None = None  # when the project's media retention ran


SEQUENCE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class SequenceFrameRead(BaseModel):
    """One frame of an image sequence, received."""

    sequence_id: str
    index: int
    sha256: str
    width: int
    height: int
    size_bytes: int


class SequenceClose(Strict):
    """Close an image sequence sent frame by frame: frames 0..frame_count-1 become one video
    item, shown at `fps`."""

    frame_count: int = Field(ge=1)
    fps: float = Field(default=10.0, gt=0, le=120)
    file_name: str | None = Field(default=None, max_length=1000)


class SequenceRead(BaseModel):
    """An image sequence's state: open while frames arrive, closed once it is an item."""

    sequence_id: str
    status: Literal["open", "closed"]
    frames_received: int
    last_index: int | None = None  # the highest frame index received (open)
    item_id: str | None = None  # the video item it became (closed)


class ItemPage(BaseModel):
    items: list[ItemRead]
    next_after: str | None  # pass as `after` for the next page; None at the end


class UploadResult(BaseModel):
    """One file of a multipart upload: the item, or why it was refused."""

    file_name: str
    item: ItemRead | None = None
    error: dict[str, str] | None = None


class UploadReport(BaseModel):
    accepted: int
    duplicates: int
    refused: int
    results: list[UploadResult]


class ImportUrl(Strict):
    url: str = Field(min_length=1, max_length=4096)
    file_name: str | None = Field(default=None, max_length=1000)
    pre_annotation: Annotation | None = None


class ImportCreate(Strict):
    urls: list[ImportUrl] = Field(min_length=1)


class ImportUrlRead(BaseModel):
    url: str
    status: Literal["pending", "done", "failed"]
    attempts: int
    item_id: str | None
    duplicate: bool
    error: str | None
    message: str | None


class ImportRead(BaseModel):
    id: str
    batch_id: str
    total: int
    pending: int
    done: int
    failed: int
    created_at: datetime
    urls: list[ImportUrlRead] | None = None


class UploadCreate(Strict):
    file_name: str = Field(default="", max_length=1000)
    pre_annotation: Annotation | None = None


class UploadTicket(BaseModel):
    """Where to PUT the bytes (straight into storage), then confirm the upload."""

    upload_id: str
    put_url: str
    expires_in_s: int
    confirm_path: str


DeletionPart = Literal["records", "media", "packages"]
ALL_PARTS: tuple[DeletionPart, ...] = ("records", "media", "packages")


class DeletionServiceReport(BaseModel):
    """What one service removed: records per collection, objects per bucket, and one
    SHA-256 over the removed objects' names (bucket/key, sorted, one a line)."""

    records: dict[str, int]
    objects: dict[str, int]
    objects_sha256: str
    applied_at: str  # ISO 8601, as certified


class DeletionCertificate(BaseModel):
    """Proof of a deletion: what was removed, when, by whom, and the SHA-256 of every media
    file that is gone. `digest` is the SHA-256 of the rest, as canonical JSON (sorted keys,
    no spaces); the same certificate is in the audit log (`deletion.completed`)."""

    deletion_id: str
    scope: Literal["item", "batch", "project", "org"]
    # Only where a retention removed some parts (media, packages) and kept the records;
    # absent from a whole deletion's certificate.
    parts: list[DeletionPart] | None = Field(default=None, exclude_if=lambda v: v is None)
    target_id: str
    org_id: str
    requested_by: str
    requested_at: str  # ISO 8601 text, as certified (the digest covers it as written)
    completed_at: str
    services: dict[str, DeletionServiceReport]
    records_removed: int
    # Only with `parts`: the records kept, marked as having lost those parts.
    records_marked: int | None = Field(default=None, exclude_if=lambda v: v is None)
    objects_removed: int
    content_sha256: list[str]
    digest: str


class DeletionRead(BaseModel):
    id: str
    scope: Literal["item", "batch", "project", "org"]
    # What goes: everything, or (a retention's) only the media or the packages.
    parts: list[DeletionPart] = Field(default_factory=lambda: list(ALL_PARTS))
    target_id: str
    org_id: str
    status: Literal["pending", "complete"]
    requested_by: str
    requested_at: datetime
    services_done: list[str]  # the services that have removed their part
    certificate: DeletionCertificate | None
