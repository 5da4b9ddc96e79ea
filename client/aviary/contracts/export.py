"""Request and response models of the delivery API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aviary.contracts.projects import DeliveryFormat


class DeliveryRequest(BaseModel):
    """What to package now: what is accepted so far, or only what is new since the last one."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["partial", "incremental"] = "partial"
    formats: list[DeliveryFormat] | None = Field(default=None, min_length=1, max_length=8)
    include_images: bool | None = None


class DeliveryOptions(BaseModel):
    formats: list[DeliveryFormat]
    include_images: bool
    include_people: bool


class DeliveryRead(BaseModel):
    id: str
    kind: Literal["full", "partial", "incremental"]
    project_id: str
    batch_id: str
    status: Literal["pending", "ready"]
    options: DeliveryOptions | None = None
    created_at: datetime
    ready_at: datetime | None = None
    images: int | None = None
    annotations: int | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    download_url: str | None = None
    download_expires_in_s: int | None = None
    # When the project's retention removed the package (docs/privacy.md): no download since.
    package_removed_at: datetime | None = None


class WebhookAttempt(BaseModel):
    n: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookRead(BaseModel):
    id: str
    delivery_id: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    next_attempt_at: datetime | None
    attempts: list[WebhookAttempt]
    created_at: datetime
