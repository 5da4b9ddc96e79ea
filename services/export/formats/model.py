"""What a delivery package is made of: its spec, the items fed in, and what comes out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aviary.contracts.shapes import Ontology, Shape

FORMATS = ("coco", "yolo", "voc", "jsonl", "labelstudio", "cvat", "datumaro", "kitti")
KINDS = ("full", "partial", "incremental")
IMAGE_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}

# Item ids become paths inside the zip: nothing that could climb out of a folder or hide a file.
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def image_file_name(item_id: str, fmt: str) -> str:
    """An item's image name inside the package (unique; the client's own name is metadata)."""
    return f"{item_id}.{IMAGE_EXTENSIONS[fmt]}"


@dataclass(frozen=True)
class PackageItem:
    """One accepted item, as the builder feeds it to the writer."""

    item_id: str
    file_name: str  # the client's original file name: metadata only
    format: str  # "jpeg" | "png" | "webp"
    width: int  # displayed size (EXIF rotation already applied)
    height: int
    ontology_version: int
    shapes: tuple[Shape, ...]
    annotator_id: str
    reviewer_id: str | None
    accepted_at: str  # ISO 8601
    image_bytes: bytes | None = None  # given only when the package includes images
    # The project's media retention removed the picture: the package holds its shapes only.
    media_removed: bool = False

    def __post_init__(self) -> None:
        if not SAFE_ID.fullmatch(self.item_id):
            raise ValueError(f"item id {self.item_id!r} is not safe to use as a file name")
        if self.format not in IMAGE_EXTENSIONS:
            raise ValueError(f"item {self.item_id}: unknown image format {self.format!r}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"item {self.item_id}: size {self.width}x{self.height} is empty")


@dataclass(frozen=True)
class PackageSpec:
    """What goes into one delivery package."""

    delivery_id: str
    kind: str  # "full" | "partial" | "incremental"
    project_id: str
    batch_id: str
    ontology: Ontology
    project_version: int
    formats: tuple[str, ...]  # subset of FORMATS, at least one
    include_images: bool
    include_people: bool  # annotator/reviewer ids in JSONL only when True
    # Items taken out of the batch, listed in the manifest with why (item_id, reason, ...).
    dropped: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown delivery kind {self.kind!r}")
        if not self.formats:
            raise ValueError("a package needs at least one format")
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown delivery formats {unknown}")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file of the package, as listed in manifest.json."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class PackageSummary:
    images: int
    annotations: int  # shapes written to at least one format file of the package
    files: tuple[ManifestEntry, ...]  # every file of the zip but manifest.json, in zip order
