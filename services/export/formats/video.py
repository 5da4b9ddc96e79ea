"""Video deliveries: an item's stitched tracks, written frame by frame in four formats.

- `mot/<item>/`: MOT Challenge ground truth (`gt/gt.txt`: frame, track, x, y, w, h, 1, class,
  visibility; frames and classes 1-based, `gt/labels.txt` naming the classes in ontology order,
  `seqinfo.ini`). Boxes only: a polygon's or keypoints' track gives the box around them.
- `cvat/<item>.xml`: CVAT for video 1.1, one `<track>` per track with a shape in every frame it
  is present (`keyframe="1"` where a person drew it) and an `outside="1"` shape where it leaves.
- `coco/annotations.json`: COCO with `videos`, an image per frame (`video_id`, `frame_id`), and
  `track_id` on every annotation (unique in the package).
- `yolo/labels/<item>/frame_NNNNNN.txt`: YOLO detection labels, a file per frame.

Frames are named `<item>/frame_NNNNNN.jpg` (0-based) wherever a format names them. Every track is
expanded once per item (interpolated as `shared/domain/tracks.py` says) and each format writes
from that expansion as it goes; COCO, one file for the whole package, is appended to part files
and joined at `close`, so memory holds one item's expansion at a time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import BoxShape, KeypointsShape, Ontology, PolygonShape
from aviary.contracts.tracks import Track
from services.export.formats import cvat_xml
from services.export.formats.model import SAFE_ID, PackageSummary
from services.export.formats.package import write_manifest
from services.export.formats.yolo import box_line, classes_txt, data_yaml
from services.export.formats.zipsink import ZipSink
from shared.domain.tracks import TrackFrame, box_of, frames_of

VIDEO_FORMATS = ("mot", "cvat", "coco", "yolo")
_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def frame_name(item_id: str, frame: int) -> str:
    return f"{item_id}/frame_{frame:06d}.jpg"


@dataclass(frozen=True)
class VideoItem:
    """One accepted video (or image sequence), with its tracks stitched across clips."""

    item_id: str
    file_name: str
    width: int
    height: int
    fps: float
    frame_count: int
    tracks: tuple[Track, ...]

    def __post_init__(self) -> None:
        if not SAFE_ID.fullmatch(self.item_id):
            raise ValueError(f"item id {self.item_id!r} is not safe to use as a file name")
        if self.width <= 0 or self.height <= 0 or self.frame_count <= 0:
            raise ValueError(f"item {self.item_id}: no frames of a size to write")


@dataclass(frozen=True)
class VideoSpec:
    delivery_id: str
    project_id: str
    batch_id: str
    ontology: Ontology
    project_version: int
    formats: tuple[str, ...]
    dropped: tuple[dict[str, Any], ...] = ()  # items taken out of the batch, with why

    def __post_init__(self) -> None:
        unknown = sorted(set(self.formats) - set(VIDEO_FORMATS))
        if not self.formats or unknown:
            raise ValueError(f"video formats must be some of {VIDEO_FORMATS}, not {unknown}")


@dataclass(frozen=True)
class Expanded:
    """A track of an item, frame by frame: its number in the package and where it is."""

    number: int
    track: Track
    frames: list[TrackFrame]


class VideoPackageWriter:
    """Writes one video delivery package: `add` each item, then `close` for the summary."""

    def __init__(self, zip_path: Path, workdir: Path, spec: VideoSpec) -> None:
        self._spec = spec
        self._zip_path = zip_path
        self._parts = Path(tempfile.mkdtemp(prefix="aviary-video-package-", dir=workdir))
        self._sink = ZipSink(zip_path)
        classes = spec.ontology.classes
        self._index = {c.id: i for i, c in enumerate(classes)}
        self._names = [c.name for c in classes]
        self._tracks = 0
        self._boxes = 0
        self._items = 0
        self._coco = _CocoVideo(self._parts, spec) if "coco" in spec.formats else None
        if "yolo" in spec.formats:
            self._sink.write_bytes("yolo/classes.txt", classes_txt(self._names))
            self._sink.write_bytes("yolo/data.yaml", data_yaml(self._names))

    def add(self, item: VideoItem) -> None:
        self._items += 1
        expanded = []
        for track in item.tracks:
            if track.class_id not in self._index:
                continue  # a class no longer in the ontology
            self._tracks += 1
            frames = list(frames_of(track, 0, item.frame_count))
            self._boxes += len(frames)
            expanded.append(Expanded(self._tracks, track, frames))
        if "mot" in self._spec.formats:
            self._mot(item, expanded)
        if "cvat" in self._spec.formats:
            self._cvat(item, expanded)
        if self._coco is not None:
            self._coco.add(item, expanded)
        if "yolo" in self._spec.formats:
            self._yolo(item, expanded)

    def close(self) -> PackageSummary:
        if self._coco is not None:
            self._coco.finish(self._sink)
        files = tuple(self._sink.entries)
        spec = self._spec
        head = {
            "delivery_id": spec.delivery_id,
            "kind": "video",
            "project_id": spec.project_id,
            "batch_id": spec.batch_id,
            "project_version": spec.project_version,
            "formats": [f for f in VIDEO_FORMATS if f in spec.formats],
            "counts": {"videos": self._items, "tracks": self._tracks, "boxes": self._boxes},
            "dropped": list(spec.dropped),
        }
        write_manifest(self._sink, head, files)
        self._sink.close()
        shutil.rmtree(self._parts, ignore_errors=True)
        return PackageSummary(images=self._items, annotations=self._boxes, files=files)

    def abort(self) -> None:
        self._sink.close()
        self._zip_path.unlink(missing_ok=True)
        shutil.rmtree(self._parts, ignore_errors=True)

    # ----- the formats -----------------------------------------------------------------------

    def _mot(self, item: VideoItem, expanded: list[Expanded]) -> None:
        root = f"mot/{item.item_id}"
        info = (
            "[Sequence]\n"
            f"name={item.item_id}\nimDir=img1\nframeRate={round(item.fps)}\n"
            f"seqLength={item.frame_count}\nimWidth={item.width}\nimHeight={item.height}\n"
            "imExt=.jpg\n"
        )
        self._sink.write_bytes(f"{root}/seqinfo.ini", info.encode())
        self._sink.write_bytes(f"{root}/gt/labels.txt", classes_txt(self._names))
        with self._sink.stream(f"{root}/gt/gt.txt", 60 * _boxes_of(expanded)) as out:
            for e in expanded:
                label = self._index[e.track.class_id] + 1
                lines = []
                for f in e.frames:
                    x, y, w, h = box_of(f.shape) or (0.0, 0.0, 0.0, 0.0)
                    lines.append(
                        f"{f.frame + 1},{e.number},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,{label},"
                        f"{0.0 if f.occluded else 1.0}\n"
                    )
                out.write("".join(lines).encode())

    def _cvat(self, item: VideoItem, expanded: list[Expanded]) -> None:
        with self._sink.stream(f"cvat/{item.item_id}.xml", 200 * _boxes_of(expanded)) as out:
            out.write(self._cvat_meta(item).encode())
            for e in expanded:
                label = cvat_xml.quoted(self._names[self._index[e.track.class_id]])
                chunks = [f'  <track id="{e.number - 1}" label={label} source="manual">\n']
                for f, leaves in _with_exits(e.frames, item.frame_count):
                    chunks.append(_cvat_shape(f, outside=False))
                    if leaves is not None:
                        chunks.append(_cvat_shape(f, outside=True, frame=leaves))
                chunks.append("  </track>\n")
                out.write("".join(chunks).encode())
            out.write(b"</annotations>\n")

    def _cvat_meta(self, item: VideoItem) -> str:
        labels = cvat_xml.labels_block(self._spec.ontology.classes, " " * 6, mutable=True)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
            "  <meta>\n    <task>\n"
            f"      <name>{cvat_xml.text(item.item_id)}</name>\n"
            f"      <size>{item.frame_count}</size>\n"
            "      <mode>interpolation</mode>\n      <overlap>0</overlap>\n"
            f"      <start_frame>0</start_frame>\n      <stop_frame>{item.frame_count - 1}"
            "</stop_frame>\n"
            f"      <source>{cvat_xml.text(item.file_name)}</source>\n"
            f"{labels}"
            f"      <original_size><width>{item.width}</width><height>{item.height}</height>"
            "</original_size>\n    </task>\n  </meta>\n"
        )

    def _yolo(self, item: VideoItem, expanded: list[Expanded]) -> None:
        per_frame: list[list[str]] = [[] for _ in range(item.frame_count)]
        for e in expanded:
            index = self._index[e.track.class_id]
            for f in e.frames:
                if (box := box_of(f.shape)) is not None:
                    per_frame[f.frame].append(box_line(index, box, item.width, item.height))
        for frame, lines in enumerate(per_frame):
            path = f"yolo/labels/{item.item_id}/frame_{frame:06d}.txt"
            self._sink.write_bytes(path, "".join(line + "\n" for line in lines).encode())


def _boxes_of(expanded: list[Expanded]) -> int:
    """An item's frame boxes: what its per-item files' sizes scale with."""
    return sum(len(e.frames) for e in expanded)


def _with_exits(
    frames: list[TrackFrame], frame_count: int
) -> Iterator[tuple[TrackFrame, int | None]]:
    """Each present frame, with the frame the object leaves at when this is the last of a run
    (and the video goes on)."""
    for i, f in enumerate(frames):
        following = frames[i + 1].frame if i + 1 < len(frames) else frame_count
        yield f, (f.frame + 1 if following != f.frame + 1 and f.frame + 1 < frame_count else None)


def _cvat_shape(f: TrackFrame, outside: bool, frame: int | None = None) -> str:
    shape = f.shape
    tag = cvat_xml.SHAPE_TAGS[shape.kind]
    head = (
        f'    <{tag} frame="{f.frame if frame is None else frame}" '
        f'keyframe="{int(f.keyframe or outside)}" outside="{int(outside)}" '
        f'occluded="{int(f.occluded)}" z_order="0"'
    )
    if isinstance(shape, BoxShape):
        geometry = cvat_xml.box_geometry(shape.bbox, shape.rotation)
    elif isinstance(shape, KeypointsShape):
        # CVAT's points cannot be empty: a track frame with no keypoint placed keeps a point
        geometry = cvat_xml.points_geometry(cvat_xml.labeled_keypoints(shape) or [(0.0, 0.0)])
    else:
        geometry = cvat_xml.points_geometry(shape.points)
    attributes = cvat_xml.attribute_elements(shape.attributes)
    return f"{head}{geometry}>{attributes}</{tag}>\n" if attributes else f"{head}{geometry}/>\n"


class _CocoVideo:
    """COCO with videos: images and annotations appended to part files, joined at `finish`."""

    PATH = "coco/annotations.json"

    def __init__(self, parts: Path, spec: VideoSpec) -> None:
        self._spec = spec
        self._paths = {name: parts / f"coco-{name}.part" for name in ("videos", "images", "anns")}
        self._files = {
            name: path.open("wb", buffering=1 << 20) for name, path in self._paths.items()
        }
        self._counts = dict.fromkeys(self._paths, 0)

    def _append(self, name: str, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        first = self._counts[name] == 0
        self._counts[name] += len(entries)
        text = ",".join(_JSON.encode(e) for e in entries)
        self._files[name].write((text if first else "," + text).encode())

    def add(self, item: VideoItem, expanded: list[Expanded]) -> None:
        video_id = self._counts["videos"] + 1
        self._append(
            "videos",
            [
                {
                    "id": video_id,
                    "name": item.item_id,
                    "file_name": item.file_name,
                    "width": item.width,
                    "height": item.height,
                    "length": item.frame_count,
                    "fps": item.fps,
                }
            ],
        )
        first_image = self._counts["images"] + 1
        self._append(
            "images",
            [
                {
                    "id": first_image + n,
                    "video_id": video_id,
                    "frame_id": n,
                    "file_name": frame_name(item.item_id, n),
                    "width": item.width,
                    "height": item.height,
                }
                for n in range(item.frame_count)
            ],
        )
        for e in expanded:
            next_id = self._counts["anns"] + 1
            self._append(
                "anns",
                [
                    _coco_annotation(f, next_id + n, first_image + f.frame, e)
                    for n, f in enumerate(e.frames)
                ],
            )

    def finish(self, sink: ZipSink) -> None:
        for f in self._files.values():
            f.close()
        spec = self._spec
        categories = [
            {"id": c.id, "name": c.name, "supercategory": ""} for c in spec.ontology.classes
        ]
        info = {"description": f"Aviary delivery {spec.delivery_id}", "video": True}
        pieces: list[bytes | Path] = [
            ('{"info":' + _JSON.encode(info) + ',"licenses":[],"videos":[').encode(),
            self._paths["videos"],
            b'],"images":[',
            self._paths["images"],
            b'],"annotations":[',
            self._paths["anns"],
            ('],"categories":' + _JSON.encode(categories) + "}").encode(),
        ]
        size = sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in pieces)
        with sink.stream(self.PATH, size) as out:
            for piece in pieces:
                out.copy_from(piece) if isinstance(piece, Path) else out.write(piece)


def _coco_annotation(f: TrackFrame, ann_id: int, image_id: int, e: Expanded) -> dict[str, Any]:
    shape = f.shape
    box = box_of(shape) or (0.0, 0.0, 0.0, 0.0)
    ann: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": shape.class_id,
        "track_id": e.number,
        "bbox": list(box),
        "area": box[2] * box[3],
        "iscrowd": 0,
        "segmentation": [],
        "occluded": f.occluded,
        "keyframe": f.keyframe,
    }
    if isinstance(shape, PolygonShape):
        ann["segmentation"] = [[c for p in shape.points for c in p]]
    elif isinstance(shape, KeypointsShape):
        ann["keypoints"] = [c for p in shape.keypoints for c in p]
        ann["num_keypoints"] = sum(1 for p in shape.keypoints if p[2])
    return ann
