"""Tracks: keyframes, interpolation, clips and stitching (shared/domain/tracks.py)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aviary.contracts.shapes import BoxShape
from aviary.contracts.tracks import Keyframe, Track, TrackAnnotation
from shared.domain.tracks import (
    Clip,
    agreement,
    frames_of,
    plan_clips,
    shape_at,
    stitch,
)

CASES = json.loads(
    (Path(__file__).parents[1] / "corpus" / "tracks" / "interpolation.json").read_text()
)["cases"]


def box_track(track_id: str, *keys: tuple[int, tuple[float, float, float, float]]) -> Track:
    return Track(
        track_id=track_id,
        keyframes=tuple(Keyframe(frame=f, shape=BoxShape(class_id=1, bbox=b)) for f, b in keys),
    )


def close(got: Any, want: Any) -> bool:
    """Equal, numbers to within float rounding, lists and tuples alike."""
    if isinstance(want, list):
        return len(got) == len(want) and all(close(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, int | float) and not isinstance(want, bool):
        return abs(float(got) - want) < 1e-9
    return bool(got == want)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_interpolation_gives_the_worked_out_shapes(case: dict[str, Any]) -> None:
    track = Track.model_validate(case["track"])
    for frame, expected in case["expect"].items():
        got = shape_at(track, int(frame))
        if expected is None:
            assert got is None, f"frame {frame}"
            continue
        assert got is not None, f"frame {frame}"
        shape = got.shape.model_dump()
        for field, value in expected.items():
            if field == "keyframe":
                assert got.keyframe is value, f"frame {frame}"
            elif field == "occluded":
                assert got.occluded is value, f"frame {frame}"
            else:
                assert close(shape[field], value), f"frame {frame} {field}: {shape[field]}"


def test_frames_of_agrees_with_shape_at_on_every_frame() -> None:
    for case in CASES:
        track = Track.model_validate(case["track"])
        expanded = {f.frame: f for f in frames_of(track, 0, 50)}
        for frame in range(50):
            assert expanded.get(frame) == shape_at(track, frame), (case["name"], frame)


def test_frames_of_starts_inside_a_track() -> None:
    track = box_track("t", (0, (0, 0, 10, 10)), (10, (100, 0, 10, 10)))
    frames = list(frames_of(track, 5, 7))
    assert [f.frame for f in frames] == [5, 6]
    assert frames[0].shape.bbox == pytest.approx((50, 0, 10, 10))  # type: ignore[union-attr]


def test_a_track_refuses_keyframes_out_of_order_or_of_two_classes() -> None:
    with pytest.raises(ValidationError, match="increasing frame order"):
        box_track("t", (5, (0, 0, 1, 1)), (5, (0, 0, 1, 1)))
    with pytest.raises(ValidationError, match="one class"):
        Track(
            track_id="t",
            keyframes=(
                Keyframe(frame=0, shape=BoxShape(class_id=1, bbox=(0, 0, 1, 1))),
                Keyframe(frame=1, shape=BoxShape(class_id=2, bbox=(0, 0, 1, 1))),
            ),
        )
    with pytest.raises(ValidationError):
        Track.model_validate(
            {"track_id": "t", "keyframes": [{"frame": 0, "shape": {"kind": "classification"}}]}
        )
    with pytest.raises(ValidationError, match="unique"):
        TrackAnnotation(tracks=(box_track("t", (0, (0, 0, 1, 1))),) * 2)


# ----- clips -----------------------------------------------------------------------------------


def test_clips_cover_every_frame_and_share_the_overlap() -> None:
    clips = plan_clips(250, 100, 10)
    assert clips == [Clip(0, 0, 100), Clip(1, 90, 190), Clip(2, 180, 250)]
    assert plan_clips(100, 100, 10) == [Clip(0, 0, 100)]
    assert plan_clips(0, 100, 10) == []
    assert plan_clips(5, 100, 0) == [Clip(0, 0, 5)]
    for frames in range(1, 400, 7):
        clips = plan_clips(frames, 30, 5)
        covered = set().union(*(range(c.start, c.stop) for c in clips))
        assert covered == set(range(frames))
        for a, b in pairwise(clips):
            assert a.stop - b.start == 5


@pytest.mark.parametrize(("length", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_a_clip_plan_refuses_an_overlap_as_long_as_the_clip(length: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="cannot overlap"):
        plan_clips(100, length, overlap)


# ----- stitching -------------------------------------------------------------------------------


def test_agreement_counts_frames_where_only_one_track_is_present_as_misses() -> None:
    a = box_track("a", (0, (0, 0, 10, 10)))
    same = box_track("b", (0, (0, 0, 10, 10)))
    late = box_track("c", (5, (0, 0, 10, 10)))
    assert agreement(a, same, range(0, 10)) == pytest.approx(1.0)
    assert agreement(a, late, range(0, 10)) == pytest.approx(0.5)
    assert agreement(a, same, range(20, 20)) == 0.0


def test_stitching_continues_a_track_across_a_clip_boundary() -> None:
    first, second = Clip(0, 0, 100), Clip(1, 90, 190)
    # One object moving right 1 px a frame, keyframed by two annotators in their own clips;
    # a second object only in the first clip; a third appearing in the second.
    walker_1 = box_track("w", (0, (0, 0, 20, 20)), (99, (99, 0, 20, 20)))
    leaver = box_track("l", (0, (500, 500, 20, 20)), (50, (500, 500, 20, 20)))
    leaver = leaver.model_copy(
        update={
            "keyframes": (
                *leaver.keyframes[:1],
                leaver.keyframes[1].model_copy(update={"outside": True}),
            )
        }
    )
    walker_2 = box_track("x", (90, (91, 0, 20, 20)), (189, (190, 0, 20, 20)))
    comer = box_track("c", (150, (300, 300, 20, 20)))
    tracks = stitch([(first, [walker_1, leaver]), (second, [walker_2, comer])])

    by_id = {t.track_id: t for t in tracks}
    assert set(by_id) == {"0:w", "0:l", "1:c"}
    walker = by_id["0:w"]
    assert [k.frame for k in walker.keyframes] == [0, 95, 189]
    at_middle = shape_at(walker, 95)
    assert at_middle is not None and at_middle.keyframe
    assert at_middle.shape.bbox == pytest.approx((96, 0, 20, 20))  # type: ignore[union-attr]
    assert shape_at(walker, 189).shape.bbox == (190, 0, 20, 20)  # type: ignore[union-attr]


def test_stitching_leaves_apart_tracks_that_disagree_or_differ_in_class() -> None:
    first, second = Clip(0, 0, 10), Clip(1, 8, 20)
    a = box_track("a", (0, (0, 0, 10, 10)))
    far = box_track("b", (8, (200, 200, 10, 10)))
    other_class = Track(
        track_id="c",
        keyframes=(Keyframe(frame=8, shape=BoxShape(class_id=2, bbox=(0, 0, 10, 10))),),
    )
    tracks = stitch([(first, [a]), (second, [far, other_class])])
    assert sorted(t.track_id for t in tracks) == ["0:a", "1:b", "1:c"]


def test_stitching_marks_a_track_gone_when_the_later_clip_saw_it_leave() -> None:
    first, second = Clip(0, 0, 10), Clip(1, 6, 20)
    a = box_track("a", (0, (0, 0, 10, 10)))
    b = Track(
        track_id="b",
        keyframes=(
            Keyframe(frame=6, shape=BoxShape(class_id=1, bbox=(0, 0, 10, 10))),
            Keyframe(frame=8, shape=BoxShape(class_id=1, bbox=(0, 0, 10, 10)), outside=True),
        ),
    )
    # The clips share frames 6..9, where the two agree on 6 and 7 of 4: enough to be one.
    (joined,) = stitch([(first, [a]), (second, [b])])
    assert shape_at(joined, 7) is not None
    assert shape_at(joined, 8) is None  # the middle of the shared frames: gone from there
    assert shape_at(joined, 19) is None


def test_stitching_clips_that_do_not_touch_keeps_their_tracks_apart() -> None:
    a = box_track("a", (0, (0, 0, 10, 10)))
    b = box_track("a", (20, (0, 0, 10, 10)))
    tracks = stitch([(Clip(0, 0, 10), [a]), (Clip(1, 10, 30), [b])])
    assert [t.track_id for t in tracks] == ["0:a", "1:a"]
