"""Videos rendered for tests and benchmarks: boxes moving over a floor, with their truth.

Encoding uses the encoders inside PyAV's wheels (libx264 for H.264, libvpx for VP9). Only the
development kit encodes, never a service: Aviary itself only decodes (docs/media.md).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

Picture = npt.NDArray[np.uint8]
# (container format, encoder) for each kind of file the tests send.
ENCODINGS = {
    "mp4": ("mp4", "libx264"),
    "webm": ("webm", "libvpx-vp9"),
    "mkv": ("matroska", "libx264"),
}


@dataclass(frozen=True)
class MovingBox:
    """A box that starts at (x, y) and moves (dx, dy) pixels a frame."""

    x: float
    y: float
    w: float
    h: float
    dx: float
    dy: float
    colour: tuple[int, int, int] = (230, 60, 40)

    def at(self, frame: int) -> tuple[float, float, float, float]:
        return (self.x + self.dx * frame, self.y + self.dy * frame, self.w, self.h)


def render(
    kind: str = "mp4",
    frames: int = 30,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    boxes: tuple[MovingBox, ...] = (MovingBox(10, 20, 40, 30, 3, 1),),
    faststart: bool = False,
    textured: bool = True,
) -> bytes:
    """A video of `frames` frames: a floor (textured, or flat grey, which compresses to almost
    nothing) with `boxes` moving over it. `faststart` puts an MP4's index before its frames."""
    if textured:
        floor = np.random.default_rng(7).integers(90, 140, (height, width, 3), dtype=np.uint8)
    else:
        floor = np.full((height, width, 3), 115, dtype=np.uint8)

    def pictures() -> Iterator[Picture]:
        for i in range(frames):
            image = floor.copy()
            for box in boxes:
                x, y, w, h = (round(v) for v in box.at(i))
                image[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = box.colour
            yield image

    return encode(pictures(), width, height, fps, kind, faststart)


def encode(
    pictures: Iterable[Picture],
    width: int,
    height: int,
    fps: int,
    kind: str = "mp4",
    faststart: bool = False,
    order: str = "rgb24",
) -> bytes:
    """A video file of the pictures (height x width x 3 arrays, RGB or `order` "bgr24")."""
    fmt, encoder = ENCODINGS[kind]
    # Moving the index to the front reopens the output by name: only a file will do.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"video.{kind}"
        options = {"movflags": "faststart"} if faststart and fmt == "mp4" else {}
        with av.open(str(path), "w", format=fmt, options=options) as container:
            stream = container.add_stream(encoder, rate=fps)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for picture in pictures:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format=order)))
            container.mux(stream.encode(None))
        return path.read_bytes()
