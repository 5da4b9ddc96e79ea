"""A project's privacy settings: what people see of faces and number plates, and how long
its work is kept once delivered (docs/privacy.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
    """How long a batch is kept once fully delivered: its media, annotations, work records
    and delivery packages are deleted, with a certificate, `days_after_delivery` days later.
    None keeps them until the client deletes them."""

    days_after_delivery: int | None = Field(default=None, ge=1, le=3650)


class PrivacySettings(Frozen):
    redaction: RedactionSettings = RedactionSettings()
    retention: RetentionSettings = RetentionSettings()
