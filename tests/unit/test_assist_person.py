"""The simulated person of the assist benchmark: where corrective clicks go, what time counts."""

from __future__ import annotations

import asyncio

import numpy as np

from aviary_devkit.sim.assist_person import (
    ActionCosts,
    Box,
    Click,
    Mask,
    Tally,
    Window,
    corrective_click,
    iou,
    outline_with_help,
    tight_box,
)


def square(top: int, left: int, side: int, size: int = 100) -> Mask:
    mask = np.zeros((size, size), dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_the_box_from_extreme_clicks_is_the_objects_outermost_pixels() -> None:
    assert tight_box(square(10, 20, 30)) == (20.0, 10.0, 30.0, 30.0)


def test_a_missed_part_gets_a_positive_click_inside_it() -> None:
    truth = square(10, 10, 40)
    outline = truth.copy()
    outline[10:50, 30:50] = False  # the right half missed
    click = corrective_click(outline, truth)
    assert click is not None
    x, y, inside = click
    assert inside and 30 <= x < 50 and 10 <= y < 50


def test_a_spill_gets_a_negative_click_outside_the_object() -> None:
    truth = square(10, 10, 20)
    outline = truth | square(60, 60, 30)
    click = corrective_click(outline, truth)
    assert click is not None
    x, y, inside = click
    assert not inside and truth[int(y), int(x)] == 0 and outline[int(y), int(x)]


def test_a_right_outline_needs_no_click() -> None:
    truth = square(10, 10, 20)
    assert corrective_click(truth, truth) is None


def test_the_window_scores_an_outline_as_the_whole_image_does() -> None:
    truth = square(30, 30, 20)
    window = Window.around(tight_box(truth), truth.shape)
    cases = [
        truth,
        square(35, 30, 20),  # shifted down
        square(30, 30, 10),  # a quarter
        truth | square(80, 80, 15),  # spilling far beyond the window
        np.zeros_like(truth),
    ]
    for outline in cases:
        assert window.iou(outline, truth) == iou(outline, truth)


def test_a_click_in_the_window_is_placed_in_image_coordinates() -> None:
    truth = square(40, 40, 40)
    outline = truth.copy()
    outline[40:80, 60:80] = False  # the right half missed
    click = Window.around(tight_box(truth), truth.shape).click(outline, truth)
    assert click is not None
    x, y, inside = click
    assert inside and 60 <= x < 80 and 40 <= y < 80 and truth[int(y), int(x)]


def outline_from(masks: list[Mask]):  # type: ignore[no-untyped-def]
    """A segmenter that answers with the next of `masks` on each call."""
    answers = iter(masks)

    async def segment(box: Box, clicks: list[Click]) -> Mask:
        return next(answers)

    return segment


def test_a_good_first_outline_costs_the_box_and_a_look() -> None:
    truth = square(10, 10, 40)
    done = asyncio.run(outline_with_help(truth, outline_from([truth])))
    costs = ActionCosts()
    assert done.first_iou == 1.0 and done.clicks == 0 and not done.by_hand
    assert done.seconds == costs.box_by_extreme_clicks_s + costs.verify_s


def test_clicks_that_do_not_help_end_in_drawing_by_hand() -> None:
    truth = square(10, 10, 40)
    wrong = square(60, 60, 30)
    done = asyncio.run(outline_with_help(truth, outline_from([wrong] * 5), max_clicks=4))
    costs = ActionCosts()
    assert done.by_hand and done.clicks == 4 and done.final_iou == 1.0
    assert done.seconds == (
        costs.box_by_extreme_clicks_s
        + costs.verify_s
        + 4 * costs.corrective_click_s
        + costs.polygon_by_hand_s
    )
    assert iou(wrong, truth) == 0.0
    assert Tally([done]).ratio(costs) < 1  # help that fails costs more than none
