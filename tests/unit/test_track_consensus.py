"""Consensus on a video clip's tracks: agreement per track, identity switches, merging, and
the score a submission gets against a gold clip (services/review/track_consensus.py)."""

from __future__ import annotations

import pytest

from aviary.contracts.shapes import BoxShape
from aviary.contracts.tracks import Keyframe, Track, TrackAnnotation
from services.review.track_consensus import (
    identity_switches,
    track_consensus,
    track_match_score,
)

CLIP = range(0, 20)
Box = tuple[float, float, float, float]


def track(track_id: str, *keys: tuple[int, Box], class_id: int = 1) -> Track:
    return Track(
        track_id=track_id,
        keyframes=tuple(
            Keyframe(frame=f, shape=BoxShape(class_id=class_id, bbox=b)) for f, b in keys
        ),
    )


def left(track_id: str = "a", nudge: float = 0) -> Track:
    """An object walking right along the top of the frame."""
    return track(track_id, (0, (10 + nudge, 10, 20, 20)), (19, (200 + nudge, 10, 20, 20)))


def right(track_id: str = "b", nudge: float = 0) -> Track:
    """An object walking left along the bottom."""
    return track(track_id, (0, (200 + nudge, 100, 20, 20)), (19, (10 + nudge, 100, 20, 20)))


def version(*tracks: Track) -> TrackAnnotation:
    return TrackAnnotation(tracks=tracks)


def test_annotators_who_follow_the_same_objects_agree_whatever_their_ids() -> None:
    result = track_consensus(
        [
            version(left("a"), right("b")),
            version(left("feet", 1), right("knee", 1)),
            version(right("1", -1), left("2", -1)),
        ],
        CLIP,
    )
    assert result.accepted(0.8)
    assert (result.agreement, result.agreed_tracks, result.disputed_tracks) == (1.0, 2, 0)
    assert result.identity_switches == 0
    assert result.per_annotator == (1.0, 1.0, 1.0)
    # The medoid of each cluster is kept, renamed so merged ids cannot collide.
    assert sorted(t.track_id for t in result.merged.tracks) == ["1", "2"]
    kept = {t.keyframes[0].shape.bbox for t in result.merged.tracks}  # type: ignore[union-attr]
    assert kept == {(10, 10, 20, 20), (200, 100, 20, 20)}


def test_a_track_only_one_of_three_drew_is_disputed_and_left_out() -> None:
    extra = track("ghost", (0, (100, 50, 10, 10)), (19, (100, 50, 10, 10)))
    result = track_consensus(
        [version(left(), right()), version(left(), right(), extra), version(left(), right())],
        CLIP,
    )
    assert (result.agreed_tracks, result.disputed_tracks) == (2, 1)
    assert result.agreement == 6 / 7
    assert result.per_annotator == (1.0, 2 / 3, 1.0)
    assert len(result.merged.tracks) == 2
    assert result.accepted(0.8) and not result.accepted(0.9)


def test_a_class_disagreement_does_not_match() -> None:
    car = track("a", (0, (10, 10, 20, 20)), (19, (200, 10, 20, 20)), class_id=2)
    result = track_consensus([version(left()), version(car)], CLIP)
    assert (result.agreed_tracks, result.disputed_tracks) == (0, 2)
    assert not result.accepted(0.5)


def swapped_halfway(track_id: str) -> Track:
    """A track that follows the top object for the first half, then jumps to the bottom one
    (the two never cross: a person clicked the wrong track)."""
    return track(
        track_id,
        (0, (10, 10, 20, 20)),
        (9, (10 + 190 * 9 / 19, 10, 20, 20)),
        (10, (200 - 190 * 10 / 19, 100, 20, 20)),
        (19, (10, 100, 20, 20)),
    )


def test_identity_switches_are_counted_and_send_the_clip_to_a_human() -> None:
    jumper = swapped_halfway("x")
    assert identity_switches([jumper], [left(), right()], CLIP) == 1
    # Seen from the other side, no track of theirs changes partner... except the ones the
    # jumper left and joined: each matches one track only.
    assert identity_switches([left(), right()], [jumper], CLIP) == 0
    assert identity_switches([left(), right()], [left(), right()], CLIP) == 0

    result = track_consensus(
        [version(left(), right()), version(left(), right()), version(jumper)], CLIP
    )
    # Half the clip on each object reaches a threshold of 0.5: the jumper joins a cluster and
    # the agreement alone would pass the clip. Its switch, seen against both others, does not.
    assert result.agreement == 1.0
    assert result.identity_switches == 2
    assert not result.accepted(0.5)


def test_swapped_ids_between_two_people_count_from_both_sides() -> None:
    first_half = range(0, 10)
    a = version(left("a"), right("b"))
    # Top object is "a" until frame 9, then the ids swap.
    b_top = track(
        "t",
        (0, (10, 10, 20, 20)),
        (9, (10 + 190 * 9 / 19, 10, 20, 20)),
        (10, (200 - 190 * 10 / 19, 100, 20, 20)),
        (19, (10, 100, 20, 20)),
    )
    b_bottom = track(
        "u",
        (0, (200, 100, 20, 20)),
        (9, (200 - 190 * 9 / 19, 100, 20, 20)),
        (10, (10 + 190 * 10 / 19, 10, 20, 20)),
        (19, (200, 10, 20, 20)),
    )
    b = version(b_top, b_bottom)
    assert identity_switches(a.tracks, b.tracks, CLIP) == 2
    assert identity_switches(b.tracks, a.tracks, CLIP) == 2
    assert identity_switches(a.tracks, b.tracks, first_half) == 0
    assert track_consensus([a, b], CLIP).identity_switches == 4


def test_a_gold_clip_scores_missed_extra_and_switched_tracks() -> None:
    answer = version(left(), right())
    assert track_match_score(answer, version(left("p"), right("q")), CLIP) == 1.0
    # Two pixels off on a 20-pixel box in every frame: each match counts its IoU.
    nudged = version(left("p", 2), right("q", 2))
    assert track_match_score(answer, nudged, CLIP) == pytest.approx(18 / 22)
    assert track_match_score(answer, version(left()), CLIP) == 2 * (1 * 0.5) / 1.5
    assert track_match_score(answer, version(), CLIP) == 0.0
    assert track_match_score(version(), version(), CLIP) == 1.0
    # A track on the right object for half the clip earns half a match.
    switched = track_match_score(answer, version(swapped_halfway("x"), right()), CLIP)
    assert switched == 0.75
