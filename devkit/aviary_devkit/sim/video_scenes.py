"""Scenes with known truth for the video simulation: textured objects moving over a floor (a
robot vacuum's view) or along a street (a car's dashboard camera).

Objects drift and sway (a foot swinging, a cyclist weaving), so a straight line between two
keyframes is not enough and a tracker has work to do. Frames are BGR arrays in memory, as a
decoder gives them; `truth[n][f]` is object n's box in frame f, or None once it has left.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]
Picture = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Mover:
    """A textured w x h object starting at (x, y), drifting (dx, dy) a frame and swaying by
    `sway` pixels with a period of `period` frames."""

    x: float
    y: float
    w: int
    h: int
    dx: float
    dy: float
    sway: float = 0.0
    period: float = 40.0
    seed: int = 0
    label: str = "foot"

    def at(self, frame: int) -> Box:
        phase = 2 * math.pi * frame / self.period
        return (
            self.x + self.dx * frame + self.sway * math.sin(phase),
            self.y + self.dy * frame + 0.6 * self.sway * math.cos(phase),
            float(self.w),
            float(self.h),
        )


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    frames: list[Picture]
    truth: list[list[Box | None]]
    labels: tuple[str, ...] = ()  # each object's class


FLOOR = (
    Mover(40, 200, 70, 50, 1.6, -0.2, sway=25, period=45, seed=1, label="foot"),  # walking
    Mover(520, 220, 60, 45, -1.2, 0.1, sway=18, period=37, seed=2, label="foot"),  # the other
    Mover(300, 60, 30, 120, 0.15, 0.1, sway=3, period=90, seed=3, label="table leg"),
)


STREET = (
    Mover(20, 210, 96, 48, 2.4, 0.0, sway=4, period=60, seed=4, label="car"),  # near lane
    Mover(560, 150, 80, 40, -1.8, 0.0, sway=3, period=70, seed=5, label="car"),  # far lane
    Mover(300, 40, 24, 64, 0.2, 1.1, sway=6, period=30, seed=6, label="pedestrian"),
    Mover(120, 120, 44, 40, 1.2, 0.05, sway=10, period=35, seed=7, label="cyclist"),
)


def _moved(movers: tuple[Mover, ...], seed: int) -> tuple[Mover, ...]:
    """Another `seed` moves everything a little and changes the textures."""
    if seed == 0:
        return movers
    rng = random.Random(seed)
    return tuple(
        replace(
            m,
            x=m.x + rng.uniform(-20, 20),
            y=m.y + rng.uniform(-20, 20),
            period=m.period * rng.uniform(0.8, 1.2),
            seed=m.seed + 10 * seed,
        )
        for m in movers
    )


def floor_scene(frames: int = 300, width: int = 640, height: int = 360, seed: int = 0) -> Scene:
    """Robot-vacuum footage, more or less: two feet and a table leg seen from the floor."""
    return render_scene(_moved(FLOOR, seed), frames, width, height)


def street_scene(frames: int = 300, width: int = 640, height: int = 360, seed: int = 0) -> Scene:
    """A dashboard camera's street, more or less: two cars in opposite lanes, a pedestrian
    crossing and a cyclist weaving, over asphalt with lane markings."""
    return render_scene(_moved(STREET, seed), frames, width, height, _street(width, height))


def _floor(width: int, height: int) -> Picture:
    return np.random.default_rng(11).integers(70, 150, (height, width, 3), dtype=np.uint8)


def _street(width: int, height: int) -> Picture:
    road = np.random.default_rng(12).integers(55, 85, (height, width, 3), dtype=np.uint8)
    road[: height // 8] = (150, 140, 120)  # the far pavement
    middle = height // 2 + 10
    for x in range(0, width, 60):  # the centre line, dashed
        road[middle : middle + 4, x : x + 30] = 235
    road[height - 12 : height - 8] = 235  # the kerb line
    return road


def render_scene(
    movers: tuple[Mover, ...],
    frames: int,
    width: int,
    height: int,
    background: Picture | None = None,
) -> Scene:
    ground = _floor(width, height) if background is None else background
    textures = [
        np.random.default_rng(100 + m.seed).integers(0, 255, (m.h, m.w, 3), dtype=np.uint8)
        for m in movers
    ]
    pictures: list[Picture] = []
    truth: list[list[Box | None]] = [[] for _ in movers]
    for f in range(frames):
        picture = ground.copy()
        for n, (mover, texture) in enumerate(zip(movers, textures, strict=True)):
            x, y, _, _ = mover.at(f)
            truth[n].append(_paste(picture, texture, round(x), round(y)))
        pictures.append(picture)
    return Scene(width, height, pictures, truth, tuple(m.label for m in movers))


def _paste(picture: Picture, texture: Picture, left: int, top: int) -> Box | None:
    """Draw the texture with its corner at (left, top); the visible part's box, or None."""
    height, width = picture.shape[:2]
    th, tw = texture.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + tw), min(height, top + th)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    picture[y0:y1, x0:x1] = texture[y0 - top : y1 - top, x0 - left : x1 - left]
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
