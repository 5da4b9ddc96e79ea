"""Another tool's annotation file, sent to the API, read and mapped onto a project's ontology.

The readers are the client's own (aviary.interop: the `aviary import` command reads the same
way on the client's machine). A format that is one file (Label Studio JSON, CVAT XML, COCO
JSON) comes as that file; a folder format (YOLO, Pascal VOC) as a zip of the folder, unpacked
into a private temporary folder with its size, its number of files and its paths checked
first. Reading is CPU work on a file of up to `MAX_BYTES`: it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, overload

from aviary.contracts.shapes import Annotation, Ontology
from aviary.interop import yolo
from aviary.interop.foreign import ForeignFormatError, ForeignImage, ForeignSet
from aviary.interop.mapping import Mapped, Report, map_onto
from aviary.interop.readers import READERS, read
from services.ingest.domain import safe_file_name
from shared.errors import AppError
from shared.events import ImageRef, ItemAnnotationsImported, TrackAnnotation
from shared.store.mongo import Doc

FOLDER_FORMATS = frozenset({"yolo", "voc"})
MAX_BYTES = 256 * 1024 * 1024
MAX_ZIP_FILES = 200_000
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NAMES = {"labelstudio": "tasks.json", "cvat": "annotations.xml", "coco": "annotations.json"}


def refused(code: str, message: str, **details: Any) -> AppError:
    return AppError(code, message, status_code=422, details=details or None)


def check_format(fmt: str) -> None:
    if fmt not in READERS:
        raise refused("unknown_format", f"format must be one of {', '.join(READERS)}, not {fmt!r}")


def parse_mapping(raw: str | None) -> dict[str, str | None]:
    """A JSON object of label -> class name (or null to leave the label out)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise refused("invalid_mapping", f"the mapping is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise refused("invalid_mapping", "the mapping must map labels to class names or null")
    return value


def _unpack(data: bytes, folder: Path) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise refused("not_a_zip", "a YOLO or VOC folder comes as a zip") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_FILES:
            raise refused("too_many_files", f"the zip holds over {MAX_ZIP_FILES} files")
        if sum(m.file_size for m in members) > MAX_BYTES:
            raise refused("too_large", f"the zip unpacks to over {MAX_BYTES} bytes")
        for member in members:
            path = PurePosixPath(member.filename)
            if path.is_absolute() or ".." in path.parts or "\\" in member.filename:
                raise refused("unsafe_path", f"the zip names {member.filename!r}")
        archive.extractall(folder)


def _read(fmt: str, data: bytes, sizes: Mapping[str, tuple[int, int]]) -> ForeignSet:
    with tempfile.TemporaryDirectory(prefix="aviary-import-") as tmp:
        folder = Path(tmp)
        if fmt in FOLDER_FORMATS:
            _unpack(data, folder)
            target = folder
        else:
            target = folder / NAMES[fmt]
            target.write_bytes(data)
        try:
            # YOLO's coordinates are shares of the image's size: from the items, when the zip
            # holds labels only.
            return yolo.read(target, sizes) if fmt == "yolo" else read(fmt, target)
        except ForeignFormatError as exc:
            raise refused("invalid_file", f"the file is not {fmt} as expected: {exc}") from exc
        except (UnicodeDecodeError, ValueError) as exc:  # not JSON / not XML at all
            raise refused("invalid_file", f"the file is not {fmt}: {exc}") from exc


async def read_file(
    fmt: str, data: bytes, sizes: Mapping[str, tuple[int, int]] | None = None
) -> ForeignSet:
    """The file in a known format and within the size limit, read in a worker thread."""
    check_format(fmt)
    if len(data) > MAX_BYTES:
        raise AppError("too_large", f"the file exceeds {MAX_BYTES} bytes", status_code=413)
    return await asyncio.to_thread(_read, fmt, data, sizes or {})


async def read_and_map(
    fmt: str,
    data: bytes,
    ontology: Ontology,
    mapping: Mapping[str, str | None],
    keep: bool = True,
    proposals: bool = True,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Mapped:
    """The file's annotations for the project, each shape proposed by `import:<fmt>` (as
    known answers, `proposals` False: no source; with `keep` False, checked and let go: the
    report alone). `sizes`: (width, height) of images already ingested, by file name."""
    foreign = await read_file(fmt, data, sizes)
    return await asyncio.to_thread(
        map_onto,
        foreign,
        ontology,
        mapping,
        source_model=f"import:{fmt}" if proposals else None,
        keep=keep,
    )


@dataclass(frozen=True)
class Checked:
    """A file read and checked against the project (its report), its annotations not made
    yet: ImportedEvents makes them a chunk at a time, so a 10,000-image file never holds all
    its shapes as models at once (87 MB for 50,000 boxes)."""

    foreign: ForeignSet
    report: Report
    ontology: Ontology
    mapping: Mapping[str, str | None]
    source_model: str | None

    def annotations(self, images: Sequence[ForeignImage]) -> dict[str, Annotation]:
        """The annotations of some of the file's images (checked already: they map)."""
        part = replace(self.foreign, images=list(images))
        return map_onto(part, self.ontology, self.mapping, self.source_model).annotations


async def read_and_check(
    fmt: str,
    data: bytes,
    ontology: Ontology,
    mapping: Mapping[str, str | None],
    proposals: bool = True,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Checked:
    """The file read and every shape checked against the ontology, as `read_and_map` does,
    its annotations left to be made when wanted."""
    foreign = await read_file(fmt, data, sizes)
    source_model = f"import:{fmt}" if proposals else None
    checked = await asyncio.to_thread(
        map_onto, foreign, ontology, mapping, source_model=source_model, keep=False
    )
    return Checked(foreign, checked.report, ontology, mapping, source_model)


def pre_annotations_of(mapped: Mapped) -> dict[str, Annotation]:
    """The mapped annotations by the file name an upload would carry (the name's last part),
    refused when the set is refused or two images share a file name."""
    if not mapped.report.ok:
        raise refused(
            "import_refused",
            "the annotations do not fit the project: nothing was imported",
            report=mapped.report.as_dict(),
        )
    by_file: dict[str, Annotation] = {}
    for name, annotation in mapped.annotations.items():
        file_name = PurePosixPath(name.split("?")[0]).name
        if file_name in by_file:
            raise refused("ambiguous_images", f"two images of the file are named {file_name!r}")
        by_file[file_name] = annotation
    return by_file


def parse_checksums(raw: str | bytes | None) -> dict[str, str]:
    """The multipart part `checksums`: {"<image name in the file>": "<SHA-256, hex>"}; those
    images match the batch's items by content instead of by file name."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise refused("invalid_checksums", f"the checksums are not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and SHA256_HEX.fullmatch(v)
        for k, v in value.items()
    ):
        raise refused(
            "invalid_checksums", "the checksums must map image names to SHA-256 hex digests"
        )
    return value


@dataclass(frozen=True)
class BatchItems:
    """A batch's items as an import finds them: by the file name each was uploaded under (as
    ingest keeps names: domain.safe_file_name), and by its content's SHA-256."""

    by_name: dict[str, list[Doc]]
    by_sha256: dict[str, list[Doc]]
    by_id: dict[str, list[Doc]]

    @classmethod
    def of(cls, docs: Iterable[Doc]) -> BatchItems:
        by_name: dict[str, list[Doc]] = {}
        by_sha256: dict[str, list[Doc]] = {}
        by_id: dict[str, list[Doc]] = {}
        for doc in docs:
            by_name.setdefault(doc.get("file_name") or "", []).append(doc)
            by_sha256.setdefault(doc.get("sha256") or "", []).append(doc)
            by_id[doc["_id"]] = [doc]
        return cls(by_name, by_sha256, by_id)

    def match(self, name: str, checksums: Mapping[str, str]) -> tuple[list[Doc], str]:
        """The items an image of the file names, and how they were found (for the report)."""
        file_name = PurePosixPath(name.split("?")[0]).name
        checksum = checksums.get(name) or checksums.get(file_name)
        if checksum is not None:
            return self.by_sha256.get(checksum, []), f"content {checksum[:12]}…"
        return self.by_name.get(safe_file_name(file_name), []), "this file name"

    def sizes(self, checksums: Mapping[str, str]) -> dict[str, tuple[int, int]]:
        """(width, height) by image name: of the items matched by content, and of those whose
        file name no other item of the batch shares."""
        sizes = {
            name: (docs[0]["width"], docs[0]["height"])
            for name, docs in self.by_name.items()
            if len(docs) == 1 and "width" in docs[0]
        }
        for name, checksum in checksums.items():
            docs = self.by_sha256.get(checksum, [])
            if len(docs) == 1 and "width" in docs[0]:
                sizes[name] = sizes[PurePosixPath(name).name] = (
                    docs[0]["width"],
                    docs[0]["height"],
                )
        return sizes


def imported_events(
    checked: Checked,
    items: BatchItems,
    source: str,
    as_gold: bool = False,
    checksums: Mapping[str, str] | None = None,
) -> ImportedEvents:
    """One event per image of the file, for the batch item it names: by content where
    `checksums` gives the image's SHA-256, else by the file name it was uploaded under.
    Refused whole (with the report) when the set is refused, when an image matches no item or
    several, when two images match one item, when a matched item is not an image, or when the
    file gives the image another size than the item's. The events are made as they are read
    (ImportedEvents), a chunk at a time, not all at once."""
    if not checked.report.ok:
        raise refused(
            "import_refused",
            "the annotations do not fit the project: nothing was imported",
            report=checked.report.as_dict(),
        )
    problems = []
    matched: list[tuple[Doc, ForeignImage]] = []
    taken: dict[str, str] = {}
    for image in checked.foreign.images:
        name = image.name
        docs, how = items.match(name, checksums or {})
        if len(docs) != 1:
            many = "no item" if not docs else f"{len(docs)} items"
            problems.append(f"{name}: {many} of the batch had {how}")
            continue
        doc = docs[0]
        if doc.get("media", "image") != "image":
            problems.append(f"{name}: the item is a {doc['media']}, not an image")
            continue
        declared = (image.width, image.height)
        if image.width and image.height and declared != (doc.get("width"), doc.get("height")):
            problems.append(
                f"{name}: {image.width}x{image.height} in the file, but the item is"
                f" {doc.get('width')}x{doc.get('height')} (its shapes would be misplaced)"
            )
            continue
        if doc["_id"] in taken:
            problems.append(f"{name}: matches the item {taken[doc['_id']]!r} matches too")
            continue
        taken[doc["_id"]] = name
        matched.append((doc, image))
    if problems:
        report = checked.report.as_dict() | {"ok": False, "refused": problems}
        raise refused(
            "import_refused",
            "the file names images the batch does not have: nothing was imported",
            report=report,
        )
    return ImportedEvents(checked, matched, source, as_gold)


class ImportedEvents(Sequence[ItemAnnotationsImported]):
    """The events of an import, each made when read, its annotation too: a 10,000-image import
    holds a chunk of shapes, events and envelopes at a time, not all of them (ingest's
    memory)."""

    def __init__(
        self,
        checked: Checked,
        matched: list[tuple[Doc, ForeignImage]],
        source: str,
        as_gold: bool,
    ) -> None:
        self.checked, self.matched, self.source, self.as_gold = checked, matched, source, as_gold

    def __len__(self) -> int:
        return len(self.matched)

    @overload
    def __getitem__(self, index: int) -> ItemAnnotationsImported: ...

    @overload
    def __getitem__(self, index: slice) -> list[ItemAnnotationsImported]: ...

    def __getitem__(
        self, index: int | slice
    ) -> ItemAnnotationsImported | list[ItemAnnotationsImported]:
        pairs = self.matched[index] if isinstance(index, slice) else [self.matched[index]]
        made = self.checked.annotations([image for _, image in pairs])
        events = [self._event(doc, made[image.name]) for doc, image in pairs]
        return events if isinstance(index, slice) else events[0]

    def _event(self, doc: Doc, annotation: Annotation) -> ItemAnnotationsImported:
        return imported_event(doc, self.source, annotation, as_gold=self.as_gold)


def imported_event(
    doc: Doc,
    source: str,
    annotation: Annotation,
    as_gold: bool = False,
    tracks: TrackAnnotation | None = None,
    image_format: str | None = None,
) -> ItemAnnotationsImported:
    """The event for one item (`doc` as BatchItems holds it); a video's is its poster frame,
    a JPEG (`image_format`)."""
    return ItemAnnotationsImported(
        item_id=doc["_id"],
        project_id=doc["project_id"],
        batch_id=doc["batch_id"],
        org_id=doc["org_id"],
        source=source,
        annotation=annotation,
        as_gold=as_gold,
        tracks=tracks,
        image=ImageRef(
            bucket=doc["bucket"],
            object_key=doc["object_key"],
            width=doc["width"],
            height=doc["height"],
            format=image_format or doc["format"],
            sha256=doc["sha256"],
            file_name=doc["file_name"],
        ),
    )
