"""CVAT for video onto a project and a video item (client/aviary/interop/track_mapping.py), and
the cutting of imported tracks to a clip's frames (shared/domain/tracks.cut).

Aviary's own CVAT for video export is read back and mapped: every box track gives the same box
in every frame as the tracks it was written from (CVAT's in-between boxes are dropped, and
Aviary's interpolation puts them back).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aviary.contracts.shapes import Ontology, OntologyClass
from aviary.contracts.tracks import Keyframe, Track
from aviary.interop.cvat import holds_tracks, read_tracks
from aviary.interop.track_mapping import map_tracks
from services.ingest.track_imports import by_time
from shared.domain.tracks import box_of, cut, frames_of, shape_at
from tests.unit.test_import_cvat import TRACKS as CVAT_TRACKS
from tests.unit.test_import_cvat import VIDEO_META, document, write
from tests.unit.test_video_formats import CAR, FRAMES, ITEM, ONTOLOGY, PEDESTRIAN, box, package


def boxes(track: Track, start: int = 0, stop: int = FRAMES) -> dict[int, tuple[float, ...]]:
    out = {}
    for f in frames_of(track, start, stop):
        found = box_of(f.shape)
        assert found is not None
        out[f.frame] = tuple(round(v, 1) for v in found)
    return out


def test_aviarys_own_export_comes_back_frame_for_frame(tmp_path: Path) -> None:
    xml = package(tmp_path, formats=("cvat",)) / "cvat" / f"{ITEM.item_id}.xml"
    found = read_tracks(xml)
    assert ITEM.item_id in found.names and found.frames == FRAMES
    mapped = map_tracks(found, ONTOLOGY, size=(ITEM.width, ITEM.height), source_model="import:cvat")
    assert mapped.report.ok, mapped.report.refused
    assert mapped.annotation is not None
    back = {boxes(t)[min(boxes(t))]: t for t in mapped.annotation.tracks}
    for original in (CAR, PEDESTRIAN):
        first = boxes(original)[min(boxes(original))]
        assert boxes(back[first]) == boxes(original)
    walking = back[boxes(PEDESTRIAN)[2]]
    assert [k.shape.attributes.get("state") for k in walking.keyframes if not k.outside] == [
        "walking",
        "standing",
        "walking",
    ]
    assert {k.shape.source.model for t in back.values() for k in t.keyframes if k.shape.source} == {
        "import:cvat"
    }
    # The polygon track (a lane) is not a box track: left out, and said so.
    assert any("<polygon> (1)" in note for note in mapped.report.notes)


def test_labels_classes_frames_and_bounds_refuse_the_whole_file(tmp_path: Path) -> None:
    found = read_tracks(write(tmp_path, document(CVAT_TRACKS, meta=VIDEO_META)))
    ontology = Ontology(classes=(OntologyClass(id=1, name="car"),))
    assert map_tracks(found, ontology).report.ok

    outline = Ontology(classes=(OntologyClass(id=1, name="car", kind="polygon"),))
    refused = map_tracks(found, outline)
    assert refused.annotation is None
    assert refused.report.refused[0] == "track 0 ('car'): boxes cannot be a polygon of class 'car'"

    trucks = Ontology(classes=(OntologyClass(id=1, name="truck"),))
    unknown = map_tracks(found, trucks)
    assert unknown.report.refused == [
        "label 'car': the ontology has no class 'car'"
        " (map it to a class, or leave it out with car=)"
    ]
    left_out = map_tracks(found, trucks, {"car": None})
    assert left_out.report.ok and left_out.annotation is not None
    assert left_out.annotation.tracks == ()
    assert map_tracks(found, trucks, {"car": "truck"}).report.labels["car"].shapes == 3

    short = map_tracks(found, ontology, frames=lambda f: f if f < 4 else None)
    assert short.report.refused == ["track 0 ('car'): frame 5 is not a frame of the video"]
    small = map_tracks(found, ontology, size=(20, 20))
    assert small.report.refused == ["track 0 ('car'): the box on frame 0 lies off the video"]


def test_frames_the_item_merged_keep_the_earlier_keyframe(tmp_path: Path) -> None:
    found = read_tracks(write(tmp_path, document(CVAT_TRACKS, meta=VIDEO_META)))
    ontology = Ontology(classes=(OntologyClass(id=1, name="car"),))
    halved = map_tracks(found, ontology, frames=lambda f: f // 10)  # 0 and 5 -> frame 0
    assert halved.annotation is not None
    first = halved.annotation.tracks[0]
    assert [k.frame for k in first.keyframes] == [0]
    assert any("two keyframes on frame 0" in note for note in halved.report.notes)


def test_a_cvat_file_for_video_is_told_from_one_for_images_without_parsing() -> None:
    video = document(CVAT_TRACKS, meta=VIDEO_META).encode()
    assert holds_tracks(video)
    assert holds_tracks(video.replace(b"<task>", b"<task><image_quality>70</image_quality>"))
    assert not holds_tracks(b'<annotations><image id="0" name="a.jpg"/></annotations>')
    assert not holds_tracks(b'<annotations><image id="0"/><track id="1"/></annotations>')


SPANS = [(0, 20), (0, 5), (3, 9), (5, 15), (8, 12), (9, 10), (13, 20), (19, 20)]


@pytest.mark.parametrize(("start", "stop"), SPANS)
@pytest.mark.parametrize("track", [CAR, PEDESTRIAN], ids=lambda t: t.track_id)
def test_a_cut_shows_in_its_frames_what_the_whole_track_shows(
    track: Track, start: int, stop: int
) -> None:
    part = cut(track, start, stop)
    whole = boxes(track, start, stop)
    if not whole:
        assert part is None
        return
    assert part is not None and part.track_id == track.track_id
    assert boxes(part, start, stop) == whole
    assert all(start <= k.frame < stop for k in part.keyframes)
    for frame in range(start, stop):
        mine, theirs = shape_at(part, frame), shape_at(track, frame)
        assert (mine is None) == (theirs is None)
        if mine is not None and theirs is not None:
            assert mine.occluded == theirs.occluded
            assert mine.shape.attributes == theirs.shape.attributes


def test_a_track_absent_from_a_span_gives_nothing() -> None:
    gone = Track(
        track_id="t",
        keyframes=(
            Keyframe(frame=0, shape=box(1, 0, 0, 5, 5)),
            Keyframe(frame=3, shape=box(1, 0, 0, 5, 5), outside=True),
        ),
    )
    assert cut(gone, 5, 10) is None
    assert cut(gone, 2, 10) == Track(
        track_id="t",
        keyframes=(
            Keyframe(frame=2, shape=box(1, 0, 0, 5, 5)),
            Keyframe(frame=3, shape=box(1, 0, 0, 5, 5), outside=True),
        ),
    )


def test_frames_of_the_whole_video_go_to_the_kept_frame_nearest_in_time() -> None:
    # 60 frames at 30 fps, of which the item kept every third (10 frames a second).
    nearest = by_time(60, 30.0, [i / 10 for i in range(20)])
    assert [nearest(f) for f in (0, 1, 2, 3, 4, 30, 57, 59)] == [0, 0, 1, 1, 1, 10, 19, 19]
    assert nearest(60) is None and nearest(-1) is None
    # A file that claims more frames than the video has: past the end is not a frame of it.
    assert by_time(200, 30.0, [i / 10 for i in range(20)])(150) is None
