"""A CVAT for video file onto a video item of a batch: which item, which of its frames, and
the event that gives its clip tasks the tracks to start from.

The item is the one `item` names, else the one the file's meta names (the task's `name`,
which is the item id in Aviary's own CVAT export, or the video's `source` file name). Frames:
when the file counts as many frames as the item keeps, numbers are the item's; otherwise they
are the video's own, and each goes to the kept frame nearest in time (read from the video's
manifest). Proposals only: a video's known answers are its gold clips (docs/video.md).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import tempfile
from pathlib import Path, PurePosixPath

from aviary.contracts.shapes import Annotation, Ontology
from aviary.interop import cvat
from aviary.interop.foreign import ForeignFormatError
from aviary.interop.track_mapping import FrameMap, MappedTracks, map_tracks
from services.ingest.annotation_imports import BatchItems, imported_event, refused
from services.ingest.domain import safe_file_name
from shared.events import ItemAnnotationsImported
from shared.store.mongo import Doc
from shared.store.storage import ObjectStorage


def holds_tracks(fmt: str, data: bytes) -> bool:
    return fmt == "cvat" and cvat.holds_tracks(data)


def _read(data: bytes) -> cvat.TrackSet:
    with tempfile.TemporaryDirectory(prefix="aviary-import-") as tmp:
        path = Path(tmp) / "annotations.xml"
        path.write_bytes(data)
        try:
            return cvat.read_tracks(path)
        except ForeignFormatError as exc:
            raise refused("invalid_file", f"the file is not CVAT for video: {exc}") from exc


def video_item(found: cvat.TrackSet, items: BatchItems, item_id: str | None) -> Doc:
    """The batch's video item the file is for."""
    if item_id is not None:
        docs = [d for d in items.by_id.get(item_id, []) if d.get("media") == "video"]
        if not docs:
            raise refused("import_refused", f"the batch has no video item {item_id!r}")
        return docs[0]
    for name in found.names:
        by_name = items.by_name.get(safe_file_name(PurePosixPath(name).name), [])
        docs = [d for d in items.by_id.get(name, []) + by_name if d.get("media") == "video"]
        if len({d["_id"] for d in docs}) == 1:
            return docs[0]
    named = ", ".join(repr(n) for n in found.names) or "no video"
    raise refused(
        "import_refused",
        f"the file names {named}, which is not one video item of the batch: say which with"
        " ?item=<item id>",
    )


async def frame_map(found: cvat.TrackSet, item: Doc, storage: ObjectStorage) -> FrameMap:
    """CVAT's frame numbers to the item's (see the module's docstring)."""
    kept = int(item["frame_count"])
    if found.frames in (None, kept):
        return lambda frame: frame if 0 <= frame < kept else None
    manifest = json.loads(await storage.get_bytes(item["bucket"], item["manifest_key"]))
    return by_time(int(found.frames or 0), float(item["fps"]), manifest["times_s"])


def by_time(total: int, fps: float, times: list[float]) -> FrameMap:
    """Frame f of `total` at `fps` to the kept frame nearest its time (`times`, in seconds,
    ascending); None past either end of the video."""

    # The last kept frame stands for the video until one kept frame's interval after it.
    step = times[-1] - times[-2] if len(times) > 1 else 1 / fps if fps > 0 else 0.0

    def nearest(frame: int) -> int | None:
        at = frame / fps if fps > 0 else math.inf
        if not 0 <= frame < total or not times or at > times[-1] + step:
            return None
        i = bisect.bisect_left(times, at)
        near = [j for j in (i - 1, i) if 0 <= j < len(times)]
        return min(near, key=lambda j: abs(times[j] - at))

    return nearest


async def check_tracks(
    data: bytes, ontology: Ontology, mapping: dict[str, str | None]
) -> MappedTracks:
    """The mapping step for a CVAT for video file, before it meets an item: labels, classes,
    boxes within the frame size its meta gives."""
    found = await asyncio.to_thread(_read, data)
    size = (found.width, found.height) if found.width and found.height else None
    return await asyncio.to_thread(map_tracks, found, ontology, mapping, None, size, "import:cvat")


async def tracks_event(
    data: bytes,
    items: BatchItems,
    item_id: str | None,
    ontology: Ontology,
    mapping: dict[str, str | None],
    storage: ObjectStorage,
    as_gold: bool,
) -> tuple[MappedTracks, ItemAnnotationsImported]:
    """The file's tracks mapped onto the item, and the event that hands them to dispatch;
    refused whole (422, with the report) when anything does not fit."""
    if as_gold:
        raise refused(
            "not_supported",
            "a video's known answers are its gold clips; import its tracks as prelabels",
        )
    found = await asyncio.to_thread(_read, data)
    item = video_item(found, items, item_id)
    frames = await frame_map(found, item, storage)
    mapped = await asyncio.to_thread(
        map_tracks,
        found,
        ontology,
        mapping,
        frames,
        (item["width"], item["height"]),
        "import:cvat",
    )
    if mapped.annotation is None:
        raise refused(
            "import_refused",
            "the tracks do not fit the project: nothing was imported",
            report=mapped.report.as_dict(),
        )
    empty = Annotation(shapes=())
    tracks = mapped.annotation
    event = imported_event(item, "import:cvat", empty, tracks=tracks, image_format="jpeg")
    return mapped, event
