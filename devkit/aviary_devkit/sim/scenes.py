"""Deterministic synthetic street scenes with exactly known bounding boxes.

Every scene is a pure function of ``(seed, width, height)``: a sky gradient, a skyline of
building silhouettes, a road in perspective with lane markings, sidewalks, and 2-7
non-overlapping objects (cars, trucks, pedestrians, traffic lights) drawn with
:mod:`PIL.ImageDraw`, plus a little sensor noise.  The ground-truth :class:`TrueBox` of each
object is the tight bounding box of every pixel drawn for it, so simulated annotators can be
exactly right, or wrong by a known amount.

Only ``random.Random(seed)`` is used (never the global generator), so the same seed always
gives byte-identical images and identical boxes.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from PIL import Image, ImageChops, ImageDraw

__all__ = ["CLASSES", "Scene", "TrueBox", "generate_scene", "generate_scenes", "object_masks"]

CLASSES: tuple[str, ...] = ("car", "pedestrian", "traffic_light", "truck")

RGB: TypeAlias = tuple[int, int, int]
_Ink: TypeAlias = int | tuple[int, int, int]
_Paint: TypeAlias = Callable[[RGB], _Ink]

_MIN_SIDE = 64  # smallest image side we can lay a street out on
_MIN_BOX = 8  # smallest object width/height in pixels
_GAP = 3  # minimum free pixels between two object boxes
_TRIES_PER_OBJECT = 40
_NOISE = 7  # additive sensor noise amplitude, +/- grey levels per channel

# Relative frequency of each class, and (height as a fraction of image height at the
# bottom edge, aspect ratio range) used to size objects.
_WEIGHTS: dict[str, float] = {"car": 0.40, "pedestrian": 0.30, "traffic_light": 0.15, "truck": 0.15}
_SIZES: dict[str, tuple[float, float, float]] = {
    "car": (0.16, 2.0, 2.4),
    "pedestrian": (0.20, 0.32, 0.40),
    "traffic_light": (0.34, 0.17, 0.21),
    "truck": (0.26, 1.9, 2.3),
}

_CAR_COLOURS: tuple[RGB, ...] = (
    (196, 32, 36),
    (32, 64, 160),
    (226, 226, 222),
    (24, 24, 28),
    (122, 124, 130),
    (206, 170, 44),
    (40, 110, 64),
    (170, 92, 34),
    (90, 30, 110),
)
_SKIN: tuple[RGB, ...] = ((241, 200, 170), (224, 172, 130), (176, 120, 84), (120, 80, 56))
_SKIES: tuple[tuple[RGB, RGB], ...] = (
    ((70, 130, 210), (190, 220, 245)),  # clear day
    ((128, 138, 150), (200, 204, 210)),  # overcast
    ((60, 70, 140), (246, 170, 110)),  # dusk
)


@dataclass(frozen=True)
class TrueBox:
    """Ground-truth bounding box of one object, in pixels (whole numbers)."""

    label: str  # one of CLASSES
    x: float  # left
    y: float  # top
    w: float  # width
    h: float  # height


@dataclass(frozen=True)
class Scene:
    """A synthetic street scene; the image is re-rendered deterministically from ``seed``."""

    seed: int
    width: int
    height: int
    boxes: tuple[TrueBox, ...]

    def render(self) -> Image.Image:
        """Render the scene as an RGB image of ``width`` x ``height`` pixels."""
        return _render(self.seed, self.width, self.height)

    def jpeg_bytes(self, quality: int = 85) -> bytes:
        """Render the scene and encode it as a baseline JPEG."""
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be in 1..100, got {quality}")
        buf = io.BytesIO()
        self.render().save(buf, format="JPEG", quality=quality)
        return buf.getvalue()


def generate_scene(seed: int, width: int = 640, height: int = 480) -> Scene:
    """Lay out the scene for ``seed`` and return it with its ground-truth boxes."""
    layout = _layout(random.Random(seed), width, height)
    return Scene(seed, width, height, tuple(obj.true_box() for obj in layout.objects))


def generate_scenes(
    count: int, first_seed: int = 0, width: int = 640, height: int = 480
) -> list[Scene]:
    """Return ``count`` scenes with consecutive seeds starting at ``first_seed``."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return [generate_scene(first_seed + i, width, height) for i in range(count)]


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Street:
    """Road geometry: everything below the horizon converges on ``(vp_x, horizon)``."""

    width: int
    height: int
    horizon: int
    vp_x: float  # vanishing point x
    road_cx: float  # road centre at the bottom edge
    road_half: float  # road half width at the bottom edge
    walk: float  # sidewalk width at the bottom edge

    def depth(self, y: float) -> float:
        """0 at the horizon, 1 at the bottom edge of the image."""
        return (y - self.horizon) / (self.height - 1 - self.horizon)

    def centre(self, s: float) -> float:
        return self.vp_x + (self.road_cx - self.vp_x) * s


@dataclass(frozen=True)
class _Object:
    label: str
    x0: int  # inclusive pixel bounds
    y0: int
    x1: int
    y1: int
    flip: bool  # mirror left/right
    colours: tuple[RGB, ...]
    variant: int

    def true_box(self) -> TrueBox:
        return TrueBox(
            self.label,
            float(self.x0),
            float(self.y0),
            float(self.x1 - self.x0 + 1),
            float(self.y1 - self.y0 + 1),
        )

    def clashes(self, other: _Object) -> bool:
        return (
            self.x0 - _GAP <= other.x1
            and other.x0 - _GAP <= self.x1
            and self.y0 - _GAP <= other.y1
            and other.y0 - _GAP <= self.y1
        )


@dataclass(frozen=True)
class _Layout:
    street: _Street
    objects: tuple[_Object, ...]


def _layout(rng: random.Random, width: int, height: int) -> _Layout:
    """Draw the road geometry and the objects; consumes ``rng`` in a fixed order."""
    if width < _MIN_SIDE or height < _MIN_SIDE:
        raise ValueError(f"scene must be at least {_MIN_SIDE}x{_MIN_SIDE}, got {width}x{height}")
    street = _Street(
        width=width,
        height=height,
        horizon=round(height * rng.uniform(0.36, 0.46)),
        vp_x=width * rng.uniform(0.40, 0.60),
        road_cx=width * rng.uniform(0.42, 0.58),
        road_half=width * rng.uniform(0.30, 0.40),
        walk=width * rng.uniform(0.12, 0.18),
    )
    labels = list(_WEIGHTS)
    weights = list(_WEIGHTS.values())
    wanted = rng.randint(2, 7)
    placed: list[_Object] = []
    attempts = 0
    while len(placed) < wanted:
        label = rng.choices(labels, weights)[0]
        for _ in range(_TRIES_PER_OBJECT):
            obj = _propose(rng, street, label)
            if obj is not None and not any(obj.clashes(other) for other in placed):
                placed.append(obj)
                break
        attempts += 1
        if attempts >= wanted and len(placed) >= 2:
            break  # the rest did not fit: settle for fewer objects
        if attempts > 100:
            raise RuntimeError(f"could not place two objects in a {width}x{height} scene")
    placed.sort(key=lambda o: (o.y1, o.x0))  # back to front
    return _Layout(street, tuple(placed))


def _propose(rng: random.Random, street: _Street, label: str) -> _Object | None:
    """One random candidate for ``label``, or None if it cannot stand where it was put."""
    top_row = street.horizon + max(2, round(0.15 * (street.height - street.horizon)))
    y1 = rng.randint(top_row, street.height - 1)
    s = street.depth(y1)
    scale = 0.3 + 0.7 * s  # a light touch of perspective: closer is larger
    rel_h, aspect_lo, aspect_hi = _SIZES[label]
    h = max(_MIN_BOX, round(rel_h * street.height * scale * rng.uniform(0.9, 1.1)))
    w = max(_MIN_BOX, round(h * rng.uniform(aspect_lo, aspect_hi)))
    y0 = y1 - h + 1
    centre = street.centre(s)
    half = street.road_half * s
    if label in ("car", "truck"):
        lo, hi = centre - 0.85 * half, centre + 0.85 * half  # wheels on the road
    else:
        walk = street.walk * s  # feet (or pole) on one of the sidewalks
        side = rng.choice((-1, 1))
        edge = centre + side * half
        lo, hi = sorted((edge + side * 0.15 * walk, edge + side * 0.85 * walk))
    cx = rng.uniform(lo, hi)
    x0 = round(cx - w / 2)
    flip = rng.random() < 0.5
    colours, variant = _colours(rng, label)
    if y0 < 0 or x0 < 0 or x0 + w > street.width:
        return None
    return _Object(label, x0, y0, x0 + w - 1, y1, flip, colours, variant)


def _jitter(rng: random.Random, colour: RGB, amount: int) -> RGB:
    r, g, b = (min(255, max(0, c + rng.randint(-amount, amount))) for c in colour)
    return (r, g, b)


def _colours(rng: random.Random, label: str) -> tuple[tuple[RGB, ...], int]:
    """Random palette for one object, and a small integer picking a shape variant."""
    if label == "car":
        body = _jitter(rng, rng.choice(_CAR_COLOURS), 14)
        glass = _jitter(rng, (70, 92, 112), 10)
        return (body, glass, (22, 22, 24), (150, 152, 156), (250, 236, 170), (190, 20, 20)), 0
    if label == "truck":
        cab = _jitter(rng, rng.choice(_CAR_COLOURS), 14)
        cargo = _jitter(rng, rng.choice(((232, 232, 228), (180, 184, 190), (200, 80, 40))), 12)
        glass = _jitter(rng, (70, 92, 112), 10)
        return (cab, cargo, glass, (22, 22, 24), (150, 152, 156), (60, 60, 64)), 0
    if label == "pedestrian":
        skin = _jitter(rng, rng.choice(_SKIN), 8)
        shirt = (rng.randint(30, 240), rng.randint(30, 240), rng.randint(30, 240))
        legs = _jitter(rng, rng.choice(((40, 50, 90), (40, 40, 44), (110, 96, 80))), 12)
        hair = _jitter(rng, rng.choice(((30, 22, 16), (90, 60, 30), (200, 170, 90))), 8)
        return (skin, shirt, legs, hair, (26, 24, 24)), rng.randint(0, 2)
    housing = _jitter(rng, rng.choice(((34, 36, 34), (40, 54, 40), (196, 160, 30))), 6)
    return (housing, (92, 96, 102)), rng.randint(0, 2)


# --------------------------------------------------------------------------- drawing


class _Pen:
    """Draws an object's parts in its own box; x is mirrored when the object faces left.

    Every coordinate is clamped into the box, so nothing an object draws can leave it; each
    drawing routine then makes sure some part touches each of the four box edges.
    """

    def __init__(self, draw: ImageDraw.ImageDraw, obj: _Object, paint: _Paint) -> None:
        self.draw = draw
        self.obj = obj
        self.paint = paint
        self.w = obj.x1 - obj.x0
        self.h = obj.y1 - obj.y0

    def x(self, fraction: float) -> int:
        """Column at ``fraction`` of the width, measured from the object's back."""
        o = self.obj
        dx = min(self.w, max(0, round(fraction * self.w)))
        return o.x1 - dx if o.flip else o.x0 + dx

    def y(self, fraction: float) -> int:
        return self.obj.y0 + min(self.h, max(0, round(fraction * self.h)))

    def _clamp(self, xa: int, ya: int, xb: int, yb: int) -> list[int]:
        o = self.obj
        xa, xb = sorted((min(o.x1, max(o.x0, xa)), min(o.x1, max(o.x0, xb))))
        ya, yb = sorted((min(o.y1, max(o.y0, ya)), min(o.y1, max(o.y0, yb))))
        return [xa, ya, xb, yb]

    def rect(self, xa: int, ya: int, xb: int, yb: int, colour: RGB) -> None:
        self.draw.rectangle(self._clamp(xa, ya, xb, yb), fill=self.paint(colour))

    def ellipse(self, xa: int, ya: int, xb: int, yb: int, colour: RGB) -> None:
        box = self._clamp(xa, ya, xb, yb)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:  # Pillow skips 1-pixel ellipses
            self.draw.rectangle(box, fill=self.paint(colour))
        else:
            self.draw.ellipse(box, fill=self.paint(colour))

    def polygon(self, points: Sequence[tuple[int, int]], colour: RGB) -> None:
        o = self.obj
        clamped = [(min(o.x1, max(o.x0, px)), min(o.y1, max(o.y0, py))) for px, py in points]
        self.draw.polygon(clamped, fill=self.paint(colour))


def _draw_car(pen: _Pen) -> None:
    body, glass, tyre, hub, head, tail = pen.obj.colours
    o = pen.obj
    r = max(1, round(0.22 * (pen.h + 1)))
    cabin = pen.y(0.40)
    sill = max(cabin, o.y1 - r)
    # Cabin and roof (the roof rectangle touches the top edge), then the windows.
    pen.polygon(
        [(pen.x(0.14), cabin), (pen.x(0.30), o.y0), (pen.x(0.64), o.y0), (pen.x(0.80), cabin)],
        body,
    )
    pen.rect(pen.x(0.30), o.y0, pen.x(0.64), pen.y(0.06), body)
    pen.polygon(
        [
            (pen.x(0.20), cabin),
            (pen.x(0.32), pen.y(0.08)),
            (pen.x(0.46), pen.y(0.08)),
            (pen.x(0.46), cabin),
        ],
        glass,
    )
    pen.polygon(
        [
            (pen.x(0.50), cabin),
            (pen.x(0.50), pen.y(0.08)),
            (pen.x(0.62), pen.y(0.08)),
            (pen.x(0.74), cabin),
        ],
        glass,
    )
    # Body spans the full width (left and right edges).
    pen.rect(pen.x(0.0), cabin, pen.x(1.0), sill, body)
    pen.rect(pen.x(0.96), pen.y(0.50), pen.x(1.0), pen.y(0.62), head)
    pen.rect(pen.x(0.0), pen.y(0.50), pen.x(0.03), pen.y(0.62), tail)
    # Wheels touch the bottom edge.
    for f in (0.2, 0.8):
        cx = pen.x(f)
        pen.ellipse(cx - r, o.y1 - 2 * r, cx + r, o.y1, tyre)
        k = max(1, r // 2)
        pen.ellipse(cx - k, o.y1 - r - k, cx + k, o.y1 - r + k, hub)


def _draw_truck(pen: _Pen) -> None:
    cab, cargo, glass, tyre, hub, chassis = pen.obj.colours
    o = pen.obj
    r = max(1, round(0.17 * (pen.h + 1)))
    frame = max(o.y0, o.y1 - r - max(1, round(0.05 * pen.h)))
    # Cargo box at the back touches the top and back edges; the cab touches the front edge.
    pen.rect(pen.x(0.0), o.y0, pen.x(0.68), frame - 1, cargo)
    pen.rect(pen.x(0.03), pen.y(0.08), pen.x(0.65), pen.y(0.12), chassis)
    pen.rect(pen.x(0.0), frame, pen.x(0.98), o.y1 - r, chassis)
    pen.polygon(
        [
            (pen.x(0.71), pen.y(0.28)),
            (pen.x(0.90), pen.y(0.28)),
            (pen.x(1.0), pen.y(0.50)),
            (pen.x(1.0), o.y1 - r),
            (pen.x(0.71), o.y1 - r),
        ],
        cab,
    )
    pen.polygon(
        [
            (pen.x(0.78), pen.y(0.34)),
            (pen.x(0.89), pen.y(0.34)),
            (pen.x(0.96), pen.y(0.50)),
            (pen.x(0.78), pen.y(0.50)),
        ],
        glass,
    )
    for f in (0.12, 0.27, 0.86):
        cx = pen.x(f)
        pen.ellipse(cx - r, o.y1 - 2 * r, cx + r, o.y1, tyre)
        k = max(1, r // 2)
        pen.ellipse(cx - k, o.y1 - r - k, cx + k, o.y1 - r + k, hub)


def _draw_pedestrian(pen: _Pen) -> None:
    skin, shirt, legs, hair, shoes = pen.obj.colours
    o = pen.obj
    cx = (o.x0 + o.x1) // 2
    d = max(2, min(round(0.6 * (pen.w + 1)), round(0.17 * (pen.h + 1))))
    hx = cx - d // 2
    # Head touches the top edge; arms touch the sides; legs touch the bottom.
    pen.ellipse(hx, o.y0, hx + d - 1, o.y0 + d - 1, skin)
    pen.rect(hx, o.y0, hx + d - 1, o.y0 + max(0, d // 4), hair)
    neck = o.y0 + d
    hip = pen.y(0.56)
    pen.rect(pen.x(0.20), neck, pen.x(0.80), hip, shirt)
    arm_end = pen.y(0.50 + 0.04 * pen.obj.variant)
    pen.rect(pen.x(0.0), neck + 1, pen.x(0.18), arm_end, shirt)
    pen.rect(pen.x(0.82), neck + 1, pen.x(1.0), arm_end, shirt)
    pen.rect(pen.x(0.0), arm_end, pen.x(0.18), arm_end + 1, skin)
    pen.rect(pen.x(0.82), arm_end, pen.x(1.0), arm_end + 1, skin)
    stride = 0.06 * pen.obj.variant
    pen.polygon(
        [
            (pen.x(0.22), hip),
            (cx - 1, hip),
            (pen.x(0.48 - stride), o.y1),
            (pen.x(0.22 - stride), o.y1),
        ],
        legs,
    )
    pen.polygon(
        [
            (cx + 1, hip),
            (pen.x(0.78), hip),
            (pen.x(0.78 + stride), o.y1),
            (pen.x(0.52 + stride), o.y1),
        ],
        legs,
    )
    foot = max(o.y0, o.y1 - max(1, round(0.03 * pen.h)))
    pen.rect(pen.x(0.16 - stride), foot, pen.x(0.46 - stride), o.y1, shoes)
    pen.rect(pen.x(0.54 + stride), foot, pen.x(0.84 + stride), o.y1, shoes)


def _draw_traffic_light(pen: _Pen) -> None:
    housing, pole = pen.obj.colours
    o = pen.obj
    cx = (o.x0 + o.x1) // 2
    box_h = min(pen.h // 2, round(2.7 * (pen.w + 1)))
    # Housing spans the full width and touches the top; the pole and foot reach the bottom.
    pen.rect(o.x0, o.y0, o.x1, o.y0 + box_h, housing)
    pw = max(1, round(0.12 * (pen.w + 1)))
    pen.rect(cx - pw // 2, o.y0 + box_h, cx - pw // 2 + pw, o.y1, pole)
    pen.rect(pen.x(0.2), o.y1 - max(1, round(0.02 * pen.h)), pen.x(0.8), o.y1, pole)
    lit = pen.obj.variant
    bright = ((255, 40, 30), (255, 190, 20), (40, 230, 90))
    dim = ((90, 22, 20), (90, 70, 16), (20, 80, 36))
    d = max(2, round(0.6 * (pen.w + 1)))
    lx = cx - d // 2
    for i in range(3):
        ly = o.y0 + round((i + 0.5) * (box_h + 1) / 3) - d // 2
        pen.ellipse(lx, ly, lx + d - 1, ly + d - 1, bright[i] if i == lit else dim[i])


_DRAWERS: dict[str, Callable[[_Pen], None]] = {
    "car": _draw_car,
    "pedestrian": _draw_pedestrian,
    "traffic_light": _draw_traffic_light,
    "truck": _draw_truck,
}


def _draw_object(draw: ImageDraw.ImageDraw, obj: _Object, paint: _Paint) -> None:
    _DRAWERS[obj.label](_Pen(draw, obj, paint))


def _draw_street(img: Image.Image, street: _Street, rng: random.Random) -> None:
    """Sky, skyline, ground, sidewalks, road and lane markings."""
    w, h, hz = street.width, street.height, street.horizon
    top, bottom = rng.choice(_SKIES)
    top, bottom = _jitter(rng, top, 10), _jitter(rng, bottom, 10)
    column = Image.new("RGB", (1, hz))
    column.putdata(
        [
            tuple(round(a + (b - a) * i / max(1, hz - 1)) for a, b in zip(top, bottom, strict=True))
            for i in range(hz)
        ]
    )
    img.paste(column.resize((w, hz), Image.Resampling.NEAREST), (0, 0))
    draw = ImageDraw.Draw(img)
    unit = h / 480

    # Skyline: a pale far layer, then a darker near layer with windows.
    for layer in range(2):
        x = -rng.randint(0, round(40 * unit))
        while x < w:
            bw = rng.randint(round(0.04 * w), round(0.12 * w))
            bh = rng.randint(round(0.04 * h), round((0.14 + 0.10 * layer) * h))
            tone = rng.randint(150, 190) if layer == 0 else rng.randint(70, 130)
            colour = _jitter(rng, (tone - 6, tone - 2, tone + 8 - 12 * layer), 12)
            draw.rectangle([x, hz - bh, x + bw - 1, hz], fill=colour)
            if layer == 1:
                _draw_windows(draw, rng, x, hz - bh, x + bw - 1, hz, unit)
            x += bw + rng.randint(-round(6 * unit), round(10 * unit))

    # Ground, sidewalks and road all converge on the vanishing point.
    vp = (street.vp_x, float(hz))
    draw.rectangle([0, hz, w, h], fill=_jitter(rng, (104, 112, 92), 10))
    left = street.road_cx - street.road_half
    right = street.road_cx + street.road_half
    walk = _jitter(rng, (168, 164, 156), 8)
    curb = _jitter(rng, (206, 204, 198), 6)
    draw.polygon([vp, (left - street.walk, h), (right + street.walk, h)], fill=walk)
    draw.polygon([vp, (left - 0.02 * w, h), (right + 0.02 * w, h)], fill=curb)
    draw.polygon([vp, (left, h), (right, h)], fill=_jitter(rng, (72, 72, 76), 6))

    # Lane markings: solid edge lines, dashed dividers spaced evenly in depth.
    lanes = rng.randint(2, 4)
    paint: RGB = (236, 236, 230)
    line_w = 0.008 * w
    for u in (-0.94, 0.94):
        _stripe(draw, street, u, 0.0, 1.0, line_w, paint)
    phase = rng.uniform(0.0, 1.6)
    for k in range(1, lanes):
        u = -1.0 + 2.0 * k / lanes
        z = 1.0 + phase - 1.6
        while z < 60.0:
            near, far = max(z, 1.0), z + 0.8
            if far > near:
                _stripe(draw, street, u, 1.0 / far, 1.0 / near, line_w, paint)
            z += 1.6


def _stripe(
    draw: ImageDraw.ImageDraw,
    street: _Street,
    u: float,
    s_far: float,
    s_near: float,
    half_width: float,
    colour: RGB,
) -> None:
    """A road marking at lateral position ``u`` (-1 left edge, 1 right edge) between depths."""
    points: list[tuple[float, float]] = []
    for s, sign in ((s_far, -1), (s_far, 1), (s_near, 1), (s_near, -1)):
        x = street.centre(s) + u * street.road_half * s
        y = street.horizon + s * (street.height - 1 - street.horizon)
        points.append((x + sign * half_width * s, y))
    draw.polygon(points, fill=colour)


def _draw_windows(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    x0: int,
    y0: int,
    x1: int,
    y1: int,
    unit: float,
) -> None:
    step_x = max(4, round(rng.uniform(9, 14) * unit))
    step_y = max(4, round(rng.uniform(11, 16) * unit))
    size_x, size_y = max(2, step_x // 2), max(2, step_y // 2)
    lit = (236, 214, 140)
    dark = _jitter(rng, (44, 52, 64), 8)
    for wy in range(y0 + step_y // 2, y1 - step_y, step_y):
        for wx in range(x0 + step_x // 2, x1 - size_x, step_x):
            colour = lit if rng.random() < 0.25 else dark
            draw.rectangle([wx, wy, wx + size_x - 1, wy + size_y - 1], fill=colour)


def _identity(colour: RGB) -> _Ink:
    return colour


def _solid(_colour: RGB) -> _Ink:
    return 255


def _render(seed: int, width: int, height: int) -> Image.Image:
    rng = random.Random(seed)
    layout = _layout(rng, width, height)  # same draws, in the same order, as generate_scene
    img = Image.new("RGB", (width, height))
    _draw_street(img, layout.street, rng)
    draw = ImageDraw.Draw(img)
    for obj in layout.objects:
        _draw_object(draw, obj, _identity)
    # Sensor noise: uniform, independent per pixel and channel, +/- _NOISE grey levels.
    table = bytes(v * (2 * _NOISE + 1) // 256 for v in range(256))
    noise = rng.randbytes(width * height * 3).translate(table)
    return ImageChops.add(img, Image.frombytes("RGB", (width, height), noise), 1.0, -_NOISE)


def object_masks(scene: Scene) -> list[Image.Image]:
    """Each object of ``scene`` drawn alone, white on a black full-size "L" canvas.

    The masks come in the order of ``scene.boxes``; ``mask.getbbox()`` is the pixel-exact
    footprint the box must equal.  Meant for tests and debugging.
    """
    layout = _layout(random.Random(scene.seed), scene.width, scene.height)
    masks: list[Image.Image] = []
    for obj in layout.objects:
        mask = Image.new("L", (scene.width, scene.height), 0)
        _draw_object(ImageDraw.Draw(mask), obj, _solid)
        masks.append(mask)
    return masks
