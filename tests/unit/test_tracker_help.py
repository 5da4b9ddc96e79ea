"""Tracker help (shared/vision/tracker.py) and the simulated person who uses it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from aviary_devkit.sim.video_annotator import by_hand, keyframes_for, with_help
from aviary_devkit.sim.video_scenes import Mover, render_scene
from shared.domain.tracks import box_iou, shape_at
from shared.vision.tracker import follow

SCENE = render_scene(
    (Mover(30, 60, 50, 40, 2.0, 0.5, sway=12, period=30, seed=4),), 90, width=320, height=180
)


@pytest.mark.parametrize("method", ["csrt", "kcf"])
def test_the_tracker_follows_a_swaying_object(method: str) -> None:
    truth = SCENE.truth[0]
    start = truth[0]
    assert start is not None
    proposals = list(follow(SCENE.frames[0], start, SCENE.frames[1:40], method))  # type: ignore[arg-type]
    assert len(proposals) == 39
    ious = [box_iou(p, t) for p, t in zip(proposals, truth[1:40], strict=True)]
    assert min(ious) > 0.5
    assert float(np.mean(ious)) > 0.7


def test_the_tracker_refuses_a_box_too_small_or_outside_the_frame() -> None:
    with pytest.raises(ValueError, match="too small"):
        list(follow(SCENE.frames[0], (10, 10, 1, 1), SCENE.frames[1:3]))
    with pytest.raises(ValueError, match="too small"):
        list(follow(SCENE.frames[0], (400, 10, 30, 30), SCENE.frames[1:3]))


@pytest.mark.parametrize("method", ["csrt", "kcf"])
def test_the_tracker_stops_when_the_object_is_lost(method: str) -> None:
    blank = np.zeros_like(SCENE.frames[0])
    start = SCENE.truth[0][0]
    assert start is not None
    # The picture goes dark for good: proposals end with None instead of wandering on.
    proposals = list(follow(SCENE.frames[0], start, [blank] * 50, method))  # type: ignore[arg-type]
    assert len(proposals) < 10
    assert proposals[-1] is None


def test_keyframes_for_a_straight_path_are_its_ends() -> None:
    boxes = {f: (10.0 + 2 * f, 20.0, 30.0, 30.0) for f in range(50)}
    track = keyframes_for(boxes, class_id=1, track_id="t")
    assert [k.frame for k in track.keyframes] == [0, 49]
    at_20 = shape_at(track, 20)
    assert at_20 is not None and at_20.shape.bbox == pytest.approx((50, 20, 30, 30))  # type: ignore[union-attr]


def test_keyframes_for_a_turn_keep_the_corner() -> None:
    boxes = {f: (10.0 + 2 * min(f, 25), 20.0 + 2 * max(0, f - 25), 30.0, 30.0) for f in range(51)}
    frames = [k.frame for k in keyframes_for(boxes, 1, "t").keyframes]
    assert frames[0] == 0 and frames[-1] == 50 and any(20 <= f <= 30 for f in frames)


def test_help_takes_a_fraction_of_the_actions_and_stays_close_to_the_truth() -> None:
    effort, track = with_help(SCENE, 0, random.Random(1), "kcf")
    hand = by_hand(SCENE.truth[0])
    assert hand.actions == 90
    assert effort.actions * 5 <= hand.actions
    assert effort.mean_iou > 0.75
    assert track.keyframes[0].frame == 0 and track.keyframes[-1].frame == 89
