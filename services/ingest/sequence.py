"""Image sequences in: a zip of frames becomes one video item, read like a video file.

The frames are the zip's JPEG, PNG and WebP files, in the natural order of their names
(`frame_2` before `frame_10`); folders, hidden files and macOS's `__MACOSX` are skipped. Each
frame is decoded whole (a truncated or lying image is refused) and must have the first
frame's size; JPEGs are kept byte for byte, other formats become JPEGs, so a sequence's
frames are stored and shown exactly as a video's. The zip itself is checked before anything
is decoded: its entry count and the sizes it declares bound what reading it can cost.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from services.ingest.domain import ImageInfo, inspect_image
from services.ingest.video import Frame, Sampling, VideoInfo, VideoLimits, frame_of, invalid
from shared.errors import AppError

if TYPE_CHECKING:
    from shared.vision.redaction import Finder

ZIP_MAGIC = b"PK\x03\x04"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
MAX_RATIO = 200  # declared size over compressed size: past this an entry is a zip bomb


def natural_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_names(archive: zipfile.ZipFile, limits: VideoLimits) -> list[str]:
    """The zip's frames, in order, after checking what the zip declares."""
    names = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if info.is_dir() or path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise invalid(
                "unsupported_format",
                f"{info.filename!r} is not a JPEG, PNG or WebP frame",
                415,
            )
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise invalid("too_many_pixels", f"{info.filename!r} expands like a zip bomb", 413)
        names.append(info.filename)
    if not names:
        raise invalid("empty_sequence", "the zip holds no frames")
    if len(names) > limits.max_frames:
        raise invalid(
            "too_many_frames", f"the sequence has more than {limits.max_frames:,} frames", 413
        )
    return sorted(names, key=natural_key)


def read_sequence(
    path: Path,
    limits: VideoLimits,
    sampling: Sampling,
    on_frame: Callable[[Frame], None],
    fps: float,
    redact: Finder | None = None,
) -> VideoInfo:
    """Validate and read the zip of frames at `path`, handing each kept frame to `on_frame`
    (sampling every Nth frame; N a second counts frames at `fps`), with faces and plates
    blurred out of it by `redact`."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise invalid("corrupt_sequence", f"the zip could not be read: {exc}") from exc
    with archive:
        names = frame_names(archive, limits)
        pick = sampling.picker()
        size: tuple[int, int] | None = None
        pixels = kept = 0
        for index, name in enumerate(names):
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, OSError) as exc:
                raise invalid("corrupt_sequence", f"{name!r} could not be read: {exc}") from exc
            image = _inspected(name, data, limits)
            if size is None:
                size = (image.width, image.height)
                if max(size) > limits.max_side_px:
                    raise invalid(
                        "frame_too_large", f"frames of {size[0]}x{size[1]} are too large", 413
                    )
            elif (image.width, image.height) != size:
                raise invalid(
                    "sequence_size_mismatch",
                    f"{name!r} is {image.width}x{image.height}; the first frame is "
                    f"{size[0]}x{size[1]}",
                )
            pixels += image.width * image.height
            if pixels > limits.max_decoded_pixels:
                raise invalid(
                    "too_many_pixels", "the sequence exceeds the decoded-pixel limit", 413
                )
            if pick(index, index / fps):
                on_frame(_frame(data, image.format, kept, index, index / fps, redact))
                kept += 1
    assert size is not None
    return VideoInfo(
        container="sequence",
        codec="images",
        width=size[0],
        height=size[1],
        fps=fps,
        duration_s=len(names) / fps,
        decoded_frames=len(names),
        frames=kept,
    )


def _inspected(name: str, data: bytes, limits: VideoLimits) -> ImageInfo:
    """The frame decoded whole, as inspect_image does an upload (its size as shown: upright)."""
    try:
        return inspect_image(data, limits.max_frame_pixels)
    except AppError as exc:
        raise AppError(exc.code, f"{name!r}: {exc.message}", status_code=exc.status_code) from exc


def _frame(
    data: bytes, fmt: str, index: int, source_index: int, time_s: float, redact: Finder | None
) -> Frame:
    rgb = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    jpeg = data if fmt == "jpeg" else None
    return frame_of(rgb, index, source_index, time_s, jpeg, redact=redact)
