"""Tests for the synthetic street-scene generator (aviary_devkit.sim.scenes)."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from aviary_devkit.sim.scenes import (
    CLASSES,
    Scene,
    TrueBox,
    generate_scene,
    generate_scenes,
    object_masks,
)

SEEDS = range(60)


def _edges(box: TrueBox) -> tuple[float, float, float, float]:
    return (box.x, box.y, box.x + box.w, box.y + box.h)


def test_same_seed_gives_identical_scene_and_bytes() -> None:
    for seed in (0, 7, 12345, -3):
        a = generate_scene(seed)
        b = generate_scene(seed)
        assert a == b
        assert a.render().tobytes() == b.render().tobytes()
        assert a.jpeg_bytes() == b.jpeg_bytes()


def test_render_is_repeatable_on_one_scene() -> None:
    scene = generate_scene(42)
    assert scene.render().tobytes() == scene.render().tobytes()


def test_different_seeds_differ() -> None:
    scenes = generate_scenes(20)
    assert len({s.boxes for s in scenes}) == 20
    assert len({s.jpeg_bytes() for s in scenes[:5]}) == 5


def test_generate_scenes_uses_consecutive_seeds() -> None:
    scenes = generate_scenes(4, first_seed=10, width=320, height=240)
    assert [s.seed for s in scenes] == [10, 11, 12, 13]
    assert scenes[2] == generate_scene(12, 320, 240)
    assert all((s.width, s.height) == (320, 240) for s in scenes)
    assert generate_scenes(0) == []


def test_boxes_are_whole_pixels_inside_the_image_and_labelled() -> None:
    for seed in SEEDS:
        scene = generate_scene(seed)
        assert 2 <= len(scene.boxes) <= 7
        for box in scene.boxes:
            assert box.label in CLASSES
            for v in (box.x, box.y, box.w, box.h):
                assert v == int(v)
            assert box.w >= 8 and box.h >= 8
            assert box.x >= 0 and box.y >= 0
            assert box.x + box.w <= scene.width and box.y + box.h <= scene.height


def test_boxes_do_not_overlap() -> None:
    for seed in SEEDS:
        for a, b in itertools.combinations(generate_scene(seed).boxes, 2):
            ax0, ay0, ax1, ay1 = _edges(a)
            bx0, by0, bx1, by1 = _edges(b)
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (seed, a, b)


def test_every_class_appears() -> None:
    seen = {box.label for scene in generate_scenes(40) for box in scene.boxes}
    assert seen == set(CLASSES)


@pytest.mark.parametrize("size", [(640, 480), (320, 240), (64, 64), (1280, 720), (480, 640)])
def test_boxes_are_tight_around_the_drawn_pixels(size: tuple[int, int]) -> None:
    width, height = size
    for seed in range(40):
        scene = generate_scene(seed, width, height)
        masks = object_masks(scene)
        assert len(masks) == len(scene.boxes)
        for box, mask in zip(scene.boxes, masks, strict=True):
            assert mask.size == size
            assert mask.getbbox() == _edges(box), (seed, box)


def test_objects_are_solid_shapes_not_specks() -> None:
    # Each object's own pixels fill a good part of its box (no stray far-away pixel).
    for seed in range(10):
        scene = generate_scene(seed)
        for box, mask in zip(scene.boxes, object_masks(scene), strict=True):
            filled = mask.histogram()[255]
            assert 0.3 * box.w * box.h <= filled <= box.w * box.h, (seed, box)


def test_closer_objects_are_larger() -> None:
    # Over many scenes, an object's height grows with how low its bottom edge sits.
    for label in ("car", "pedestrian"):
        pairs = [
            (b.y + b.h, b.h) for s in generate_scenes(150) for b in s.boxes if b.label == label
        ]
        assert len(pairs) > 30
        near = [h for bottom, h in pairs if bottom > 420]
        far = [h for bottom, h in pairs if bottom < 300]
        assert near and far
        assert min(near) > max(far)


def test_jpeg_size_and_decoding() -> None:
    for seed in range(10):
        scene = generate_scene(seed)
        data = scene.jpeg_bytes()
        assert 40_000 <= len(data) <= 80_000, (seed, len(data))
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG"
            assert img.size == (640, 480)
            assert img.mode == "RGB"
    small = generate_scene(0).jpeg_bytes(quality=30)
    assert len(small) < len(generate_scene(0).jpeg_bytes(quality=85))


def test_render_size_and_mode() -> None:
    img = generate_scene(5, 320, 200).render()
    assert img.size == (320, 200)
    assert img.mode == "RGB"


def test_scene_is_frozen() -> None:
    scene = generate_scene(1)
    with pytest.raises(AttributeError):
        scene.seed = 2  # type: ignore[misc]
    assert isinstance(scene, Scene)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        generate_scene(0, 10, 10)
    with pytest.raises(ValueError):
        generate_scenes(-1)
    with pytest.raises(ValueError):
        generate_scene(0).jpeg_bytes(quality=0)
