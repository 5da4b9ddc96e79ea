"""Video deliveries (services/export/formats/video.py): MOT, CVAT for video, COCO, YOLO.

What the package says is checked against the tracks' own expansion, and the MOT and CVAT files
are read back with Datumaro's importers (in a virtualenv of their own) and COCO with pycocotools.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO

from aviary.contracts.shapes import (
    AttributeSpec,
    BoxShape,
    Ontology,
    OntologyClass,
    PolygonShape,
)
from aviary.contracts.tracks import Keyframe, Track
from aviary_devkit.interop import run_tool
from services.export.formats.video import VideoItem, VideoPackageWriter, VideoSpec
from shared.domain.tracks import box_of, frames_of

FRAMES = 20
ONTOLOGY = Ontology(
    classes=(
        OntologyClass(id=1, name="car"),
        OntologyClass(
            id=2,
            name="pedestrian",
            attributes=(AttributeSpec(name="state", type="enum", options=("walking", "standing")),),
        ),
        OntologyClass(id=5, name="lane", kind="polygon"),
    )
)


def box(class_id: int, x: float, y: float, w: float, h: float, **attrs: str) -> BoxShape:
    return BoxShape(class_id=class_id, bbox=(x, y, w, h), attributes=attrs)


CAR = Track(
    track_id="0:car",
    keyframes=(
        Keyframe(frame=0, shape=box(1, 0, 0, 10, 10)),
        Keyframe(frame=10, shape=box(1, 100, 0, 10, 10)),
    ),
)
PEDESTRIAN = Track(
    track_id="0:ped",
    keyframes=(
        Keyframe(frame=2, shape=box(2, 50, 50, 20, 40, state="walking")),
        Keyframe(frame=5, shape=box(2, 56, 50, 20, 40, state="standing"), occluded=True),
        Keyframe(frame=8, shape=box(2, 56, 50, 20, 40), outside=True),
        Keyframe(frame=12, shape=box(2, 70, 60, 20, 40, state="walking")),
    ),
)
LANE = Track(
    track_id="1:lane",
    keyframes=(
        Keyframe(frame=0, shape=PolygonShape(class_id=5, points=((0, 200), (40, 120), (60, 200)))),
    ),
)
TRACKS = (CAR, PEDESTRIAN, LANE)
ITEM = VideoItem(
    item_id="itm_video1",
    file_name="street.mp4",
    width=320,
    height=240,
    fps=25,
    frame_count=FRAMES,
    tracks=TRACKS,
)


def package(tmp_path: Path, *items: VideoItem, formats: tuple[str, ...] = ()) -> Path:
    spec = VideoSpec(
        delivery_id="dlv_1",
        project_id="prj_1",
        batch_id="bat_1",
        ontology=ONTOLOGY,
        project_version=1,
        formats=formats or ("mot", "cvat", "coco", "yolo"),
    )
    zip_path = tmp_path / "delivery.zip"
    writer = VideoPackageWriter(zip_path, tmp_path, spec)
    for item in items or (ITEM,):
        writer.add(item)
    writer.close()
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(out)
    return out


def expected() -> Iterator[tuple[int, int, tuple[float, float, float, float], bool]]:
    """(frame, track number, box, occluded) for every frame a track is present in."""
    for number, track in enumerate(TRACKS, start=1):
        for f in frames_of(track, 0, FRAMES):
            bbox = box_of(f.shape)
            assert bbox is not None
            yield f.frame, number, bbox, f.occluded


def test_mot_lists_every_present_frame_of_every_track(tmp_path: Path) -> None:
    root = package(tmp_path) / "mot" / "itm_video1"
    rows = [line.split(",") for line in (root / "gt" / "gt.txt").read_text().splitlines()]
    got = {(int(r[0]) - 1, int(r[1])): r for r in rows}
    want = list(expected())
    assert len(rows) == len(want) == 20 + (6 + 8) + 20
    for frame, number, (x, y, w, h), occluded in want:
        row = got[(frame, number)]
        assert [float(v) for v in row[2:6]] == pytest.approx([x, y, w, h], abs=0.006)
        assert float(row[8]) == (0.0 if occluded else 1.0)
    assert (root / "gt" / "labels.txt").read_text().splitlines() == ["car", "pedestrian", "lane"]
    assert {int(r[7]) for r in rows} == {1, 2, 3}
    assert "seqLength=20" in (root / "seqinfo.ini").read_text()


def test_cvat_marks_keyframes_and_where_a_track_leaves(tmp_path: Path) -> None:
    xml = (package(tmp_path) / "cvat" / "itm_video1.xml").read_text()
    assert "<mode>interpolation</mode>" in xml
    assert xml.count('<track id="') == 3
    assert xml.count('keyframe="1" outside="0"') == 2 + 3 + 1  # the drawn keyframes
    # The pedestrian leaves at frame 8 and, seen again at 12, stays to the end.
    assert '<box frame="8" keyframe="1" outside="1"' in xml
    assert xml.count('outside="1"') == 1
    assert '<attribute name="state">standing</attribute>' in xml


def test_coco_has_a_video_an_image_per_frame_and_track_ids(tmp_path: Path) -> None:
    coco = COCO(str(package(tmp_path) / "coco" / "annotations.json"))
    data: dict[str, Any] = coco.dataset
    assert [v["length"] for v in data["videos"]] == [FRAMES]
    assert len(coco.getImgIds()) == FRAMES
    assert len(coco.getAnnIds()) == len(list(expected()))
    by_track: dict[int, int] = {}
    for ann in coco.loadAnns(coco.getAnnIds()):
        by_track[ann["track_id"]] = by_track.get(ann["track_id"], 0) + 1
    assert by_track == {1: 20, 2: 14, 3: 20}
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"car", "pedestrian", "lane"}
    lane = coco.loadAnns(coco.getAnnIds(catIds=[5]))[0]
    assert lane["segmentation"] == [[0, 200, 40, 120, 60, 200]]


def test_yolo_writes_a_label_file_per_frame(tmp_path: Path) -> None:
    labels = package(tmp_path) / "yolo" / "labels" / "itm_video1"
    files = sorted(labels.iterdir())
    assert len(files) == FRAMES
    assert len((labels / "frame_000009.txt").read_text().splitlines()) == 2  # car and lane
    assert len((labels / "frame_000003.txt").read_text().splitlines()) == 3


def test_the_manifest_covers_every_file(tmp_path: Path) -> None:
    root = package(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    assert manifest["counts"] == {"videos": 1, "tracks": 3, "boxes": len(list(expected()))}


def test_a_package_refuses_unknown_formats() -> None:
    with pytest.raises(ValueError, match="video formats"):
        VideoSpec("d", "p", "b", ONTOLOGY, 1, ("voc",))


# ----- read back by Datumaro ---------------------------------------------------------------

READ_BACK = """
import json, sys
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], sys.argv[2])
labels = ds.categories()[AnnotationType.label]
out = []
for item in ds:
    for ann in item.annotations:
        out.append({
            "frame": item.attributes.get("frame", item.id),
            "type": ann.type.name,
            "label": labels[ann.label].name,
            "track": ann.attributes.get("track_id"),
            "bbox": ann.get_bbox(),
            "outside": bool(ann.attributes.get("outside", False)),
            "occluded": bool(ann.attributes.get("occluded", False)),
        })
print(json.dumps(out))
"""


def read_back(python: Path, path: Path, fmt: str) -> list[dict[str, Any]]:
    return list(json.loads(run_tool(python, READ_BACK, str(path), fmt)))


def test_datumaro_reads_the_mot_sequence(tmp_path: Path, datumaro: Path) -> None:
    anns = read_back(datumaro, package(tmp_path, formats=("mot",)) / "mot", "mot_seq")
    got = {(int(a["frame"]) - 1, a["track"]): a for a in anns}
    want = list(expected())
    assert len(anns) == len(want)
    names = {1: "car", 2: "pedestrian", 3: "lane"}
    for frame, number, bbox, occluded in want:
        a = got[(frame, number)]
        assert a["label"] == names[number]
        assert a["bbox"] == pytest.approx(list(bbox), abs=0.006)
        assert a["occluded"] is occluded


def test_datumaro_reads_the_cvat_tracks(tmp_path: Path, datumaro: Path) -> None:
    anns = read_back(datumaro, package(tmp_path, formats=("cvat",)) / "cvat", "cvat")
    inside = [a for a in anns if not a["outside"]]
    got = {(int(a["frame"]), a["track"] + 1): a for a in inside}
    want = list(expected())
    assert len(inside) == len(want)
    for frame, number, bbox, occluded in want:
        a = got[(frame, number)]
        assert a["bbox"] == pytest.approx(list(bbox), abs=0.006)
        assert a["occluded"] is occluded
    assert {a["type"] for a in inside} == {"bbox", "polygon"}
    assert [(int(a["frame"]), a["label"]) for a in anns if a["outside"]] == [(8, "pedestrian")]
