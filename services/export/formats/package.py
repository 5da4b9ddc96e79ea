"""The package writer: items go in one at a time and out to the zip; memory stays flat.

Per-item files (images, YOLO labels, VOC XML) go into the zip as each item is added. COCO and
JSONL, which are one file for the whole set, are appended to part files in a private folder of
the work directory and streamed into the zip by `close`, followed by `manifest.json`. What stays
in memory grows only by a few hundred bytes per file in the zip (zipfile's directory and the
manifest entries) and per item id (to refuse duplicates).

The manifest says where the shapes came from: `models` lists each model whose proposals are in
the delivery, with how many were `kept` as proposed and how many `edited` by hand (proposals
deleted are not in the delivery: review's statistics count those).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from aviary.contracts.shapes import (
    BoxShape,
    KeypointsShape,
    MaskShape,
    PolygonShape,
    PolylineShape,
    Shape,
)
from services.export.formats.coco import CocoFormat
from services.export.formats.cvat_images import CvatImagesFormat
from services.export.formats.datumaro import DatumaroFormat
from services.export.formats.jsonl import JsonlFormat
from services.export.formats.kitti import KittiFormat
from services.export.formats.labelstudio import LabelStudioFormat
from services.export.formats.model import (
    FORMATS,
    ManifestEntry,
    PackageItem,
    PackageSpec,
    PackageSummary,
    image_file_name,
)
from services.export.formats.voc import VocFormat
from services.export.formats.writer import FormatWriter, MakeWriter
from services.export.formats.yolo import YoloFormat
from services.export.formats.zipsink import CHUNK, ZipSink
from shared.domain import masks

MANIFEST = "manifest.json"
# Every format of an image package, by its name in FORMATS.
WRITERS: dict[str, MakeWriter] = {
    "coco": CocoFormat,
    "yolo": YoloFormat,
    "voc": VocFormat,
    "jsonl": JsonlFormat,
    "labelstudio": LabelStudioFormat,
    "cvat": CvatImagesFormat,
    "datumaro": DatumaroFormat,
    "kitti": KittiFormat,
}


def sha256_file(path: Path) -> str:
    """The sha256 of a local file (the finished zip, say), read a chunk at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _coordinates(shape: Shape) -> list[float]:
    if isinstance(shape, BoxShape):
        return list(shape.bbox)
    if isinstance(shape, PolygonShape | PolylineShape):
        return [c for point in shape.points for c in point]
    if isinstance(shape, KeypointsShape):
        return [c for x, y, _v in shape.keypoints for c in (x, y)]
    return []


def _check_shapes(item: PackageItem) -> None:
    """What validation made sure of when the shapes came in, which every format relies on."""
    for index, shape in enumerate(item.shapes):
        if not all(math.isfinite(c) for c in _coordinates(shape)):
            raise ValueError(f"item {item.item_id}: shape {index} has a non-finite coordinate")
        if isinstance(shape, MaskShape):
            if tuple(shape.rle.size) != (item.height, item.width):
                raise ValueError(
                    f"item {item.item_id}: shape {index} is a mask of {shape.rle.size} "
                    f"(height, width), not of the image's {item.height}x{item.width}"
                )
            try:
                masks.counts_of(shape.rle)
            except masks.RleError as e:
                raise ValueError(f"item {item.item_id}: shape {index}: {e}") from None


class ModelTally:
    """Per model, its proposals in the delivery: kept as proposed, or edited by hand."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, shapes: tuple[Shape, ...]) -> None:
        for shape in shapes:
            source = shape.source
            if source is not None and source.model is not None and source.by != "human":
                self._counts[(source.model, "kept" if source.by == "model" else "edited")] += 1

    def manifest(self) -> dict[str, dict[str, int]]:
        """{model: {"kept": n, "edited": m}}, models in name order."""
        names = sorted({model for model, _ in self._counts})
        return {
            name: {"kept": self._counts[(name, "kept")], "edited": self._counts[(name, "edited")]}
            for name in names
        }


class PackageWriter:
    """Writes one delivery package to `zip_path`; part files live under `workdir` meanwhile.

    Call `add` once per item, then `close` for the summary. Used as a context manager, leaving
    the block without `close` (an error, say) discards the package and its part files.
    """

    def __init__(self, zip_path: Path, workdir: Path, spec: PackageSpec) -> None:
        self._spec = spec
        self._formats = tuple(f for f in FORMATS if f in spec.formats)
        self._parts = Path(tempfile.mkdtemp(prefix="aviary-package-", dir=workdir))
        self._zip_path = zip_path
        self._closed = False
        self._seen: set[str] = set()
        self._media_removed: list[str] = []
        self._versions: set[int] = set()
        self._images = 0
        self._annotations = 0
        self._models = ModelTally()
        self._writers: list[FormatWriter] = []
        try:
            self._sink = ZipSink(zip_path)
        except BaseException:
            shutil.rmtree(self._parts, ignore_errors=True)
            raise
        try:
            for name in self._formats:
                self._writers.append(WRITERS[name](self._sink, self._parts, spec))
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._closed:
            self.abort()

    def add(self, item: PackageItem) -> None:
        if self._closed:
            raise RuntimeError("the package is closed")
        if item.item_id in self._seen:
            raise ValueError(f"item {item.item_id} was added twice")
        _check_shapes(item)
        if self._spec.include_images and item.image_bytes is None and not item.media_removed:
            raise ValueError(f"item {item.item_id}: the package includes images but none came")
        if item.media_removed:
            self._media_removed.append(item.item_id)
        self._seen.add(item.item_id)
        self._versions.add(item.ontology_version)
        self._models.add(item.shapes)
        self._images += 1
        file_name = image_file_name(item.item_id, item.format)
        if self._spec.include_images and item.image_bytes is not None:
            self._sink.write_bytes(f"images/{file_name}", item.image_bytes, compress=False)
        written: set[int] = set()
        for writer in self._writers:
            indexes = writer.add(item, file_name)
            written.update(range(len(item.shapes)) if indexes is None else indexes)
        # A shape counts once, whichever formats could carry it.
        self._annotations += len(written)

    def close(self) -> PackageSummary:
        """Write COCO and JSONL, then manifest.json; close the zip and remove the part files."""
        if self._closed:
            raise RuntimeError("the package is closed")
        try:
            for writer in self._writers:
                writer.finish(self._sink)
            files = tuple(self._sink.entries)
            self._write_manifest(files)
            self._sink.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        shutil.rmtree(self._parts, ignore_errors=True)
        return PackageSummary(images=self._images, annotations=self._annotations, files=files)

    def abort(self) -> None:
        """Give up: close what is open, remove the part files and the unfinished zip."""
        self._closed = True
        for writer in self._writers:
            writer.abort()
        with contextlib.suppress(Exception):  # the zip is being thrown away
            self._sink.close()
        self._zip_path.unlink(missing_ok=True)
        shutil.rmtree(self._parts, ignore_errors=True)

    def _write_manifest(self, files: tuple[ManifestEntry, ...]) -> None:
        spec = self._spec
        head: dict[str, Any] = {
            "delivery_id": spec.delivery_id,
            "kind": spec.kind,
            "project_id": spec.project_id,
            "batch_id": spec.batch_id,
            "project_version": spec.project_version,
            "ontology_versions": sorted(self._versions),
            "formats": list(self._formats),
            "include_images": spec.include_images,
            "counts": {"images": self._images, "annotations": self._annotations},
            "models": self._models.manifest(),
            "dropped": list(spec.dropped),
        }
        if self._media_removed:  # pictures a media retention removed before this package
            head["media_removed"] = sorted(self._media_removed)
        write_manifest(self._sink, head, files)


def write_manifest(sink: ZipSink, head: dict[str, Any], files: tuple[ManifestEntry, ...]) -> None:
    """manifest.json: `head`'s fields, then every file of the package with its checksum."""
    # Written entry by entry: the list of files is as long as the package.
    opening = json.dumps(head, indent=2)[: -len("\n}")] + ',\n  "files": ['
    with sink.stream(MANIFEST, 100 * len(files) + len(opening), listed=False) as out:
        out.write(opening.encode())
        for n, entry in enumerate(files):
            line = json.dumps({"path": entry.path, "sha256": entry.sha256, "bytes": entry.bytes})
            out.write((("," if n else "") + "\n    " + line).encode())
        out.write(("\n  ]\n}\n" if files else "]\n}\n").encode())
