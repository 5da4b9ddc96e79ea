"""Delivery packages: one streaming writer for COCO, YOLO, Pascal VOC and JSONL."""

from services.export.formats.model import (
    FORMATS,
    ManifestEntry,
    PackageItem,
    PackageSpec,
    PackageSummary,
    image_file_name,
)
from services.export.formats.package import MANIFEST, PackageWriter, sha256_file

__all__ = [
    "FORMATS",
    "MANIFEST",
    "ManifestEntry",
    "PackageItem",
    "PackageSpec",
    "PackageSummary",
    "PackageWriter",
    "image_file_name",
    "sha256_file",
]
