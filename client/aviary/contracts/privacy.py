"""A project's privacy settings: what people see of faces and number plates, and how long
its work is kept once delivered (docs/privacy.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aviary.contracts.shapes import Frozen

RedactionMode = Literal["off", "annotators", "everyone"]
# What finds the regions: OpenCV's cascades, the operator's own model (where the deployment
# configures one), or both.
RedactionDetector = Literal["cascades", "model", "both"]


class RedactionSettings(Frozen):
    """Faces and number plates blurred as pictures come in (OpenCV's own cascades).

    `annotators`: annotators and reviewers see the blurred copy; the client's delivery holds
    the original. `everyone`: the blurred copy is the picture, delivered too; with
    `keep_original` False the original is never stored. Boxes of a class marked `redact` in
    the ontology are blurred as well in what is delivered (a region the detector missed).
    `detector`: what finds faces and plates (docs/privacy.md)."""

    mode: RedactionMode = "off"
    keep_original: bool = True
    detector: RedactionDetector = "cascades"


class RetentionSettings(Frozen):
    """How long a batch is kept once fully delivered, each period in days from its first full
    delivery, each deletion with a certificate (docs/privacy.md). None keeps until the
    client deletes.

    `days_after_delivery`: everything (media, annotations, work records, packages).
    `media_days_after_delivery`: the media and all made from them (pictures, frames,
    previews, embeddings) and the delivery packages (a package may hold pictures); the
    annotations and records stay, and deliveries asked for later hold annotations only.
    `packages_days_after_delivery`: the delivery packages only."""

    days_after_delivery: int | None = Field(default=None, ge=1, le=3650)
    media_days_after_delivery: int | None = Field(default=None, ge=1, le=3650)
    packages_days_after_delivery: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _parts_go_first(self) -> RetentionSettings:
        whole = self.days_after_delivery
        for name in ("media_days_after_delivery", "packages_days_after_delivery"):
            days = getattr(self, name)
            if whole is not None and days is not None and days >= whole:
                raise ValueError(f"{name} must be shorter than days_after_delivery ({whole})")
        return self


class PrivacySettings(Frozen):
    redaction: RedactionSettings = RedactionSettings()
    retention: RetentionSettings = RetentionSettings()
