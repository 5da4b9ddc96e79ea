"""Video files in: refuse what is not a whole, decodable, bounded video; turn what is into
frames at the project's rate, each a JPEG with a small preview for the timeline.

Decoding is PyAV's (FFmpeg inside its wheels). Those wheels also carry GPL encoders (x264,
x265); Aviary only decodes, and the project's own code never opens an encoder (see
docs/media.md for the licence position).

The container's header may lie (a few kilobytes can claim hours of 8K frames), so every limit
is checked twice: on what the header declares, before decoding, and on what is decoded, frame
by frame, so that decoding stops as soon as a limit is passed.
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from PIL import Image

from shared.errors import AppError

if TYPE_CHECKING:
    import av

    from shared.vision.redaction import Finder

# FFmpeg's demuxer names, and what Aviary calls them.
CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "matroska"}
CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1"})
EXTENSIONS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mp4",
    ".mkv": "matroska",
    ".webm": "matroska",
}
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
JPEG_QUALITY = 90
ENCODERS = 2  # threads turning decoded frames into JPEGs
ENCODE_AHEAD = 8  # frames decoded but not yet handed on, at most
PREVIEW_PX = 160
# A stream that decodes to less than this share of the duration its header declares was cut
# short (less one frame for rounding).
WHOLE_SHARE = 0.98


def invalid(code: str, message: str, status: int = 422) -> AppError:
    return AppError(code, message, status_code=status)


@dataclass(frozen=True)
class VideoLimits:
    max_duration_s: float = 3600.0
    max_side_px: int = 4096
    max_frame_pixels: int = 3840 * 2160
    max_frames: int = 216_000  # decoded, before sampling: an hour at 60 fps
    # Decoded pixels in all (frames x width x height): what decoding costs, whatever the file's
    # size; an hour of 1080p at 30 fps is 2.2e11.
    max_decoded_pixels: int = 250_000_000_000


@dataclass(frozen=True)
class Sampling:
    """Which decoded frames become the item's frames: every `every`-th, or `per_second` a
    second of video time (the first frame at or after each tick)."""

    every: int = 1
    per_second: float | None = None

    def __post_init__(self) -> None:
        if self.every < 1 or (self.per_second is not None and self.per_second <= 0):
            raise ValueError("sampling needs every >= 1 and per_second > 0")

    def picker(self) -> Callable[[int, float], bool]:
        if self.per_second is None:
            return lambda index, _time: index % self.every == 0
        step = 1.0 / self.per_second
        next_tick = [0.0]

        def pick(_index: int, time_s: float) -> bool:
            if time_s + 1e-6 < next_tick[0]:
                return False
            while next_tick[0] <= time_s + 1e-6:
                next_tick[0] += step
            return True

        return pick


@dataclass(frozen=True)
class Frame:
    """One of the item's frames: `index` in the item's frames, `source_index` in the video's."""

    index: int
    source_index: int
    time_s: float
    sha256: str
    jpeg: bytes = field(repr=False)
    preview: bytes = field(repr=False)
    blurred: tuple[str, ...] = ()  # the kind of each region blurred out of it (redaction)


@dataclass(frozen=True)
class VideoInfo:
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    decoded_frames: int
    frames: int


def container_of(head: bytes) -> str | None:
    """What the first bytes say the file is: `mp4` (an ISO BMFF `ftyp` box), `matroska`."""
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(EBML_MAGIC):
        return "matroska"
    return None


def check_name(head: bytes, file_name: str | None) -> str:
    """The container the bytes are; refused when they are no video we read, or when the file's
    name says another kind of video than its bytes."""
    actual = container_of(head)
    if actual is None:
        raise invalid("not_a_video", "the upload is not an MP4, WebM or Matroska video", 415)
    named = EXTENSIONS.get(PurePath(file_name or "").suffix.lower())
    if named is not None and named != actual:
        raise invalid(
            "media_mismatch",
            f"the file is named {PurePath(file_name or '').name!r} but its bytes are {actual}",
            415,
        )
    return actual


def read_video(
    path: Path,
    file_name: str | None,
    limits: VideoLimits,
    sampling: Sampling,
    on_frame: Callable[[Frame], None],
    redact: Finder | None = None,
) -> VideoInfo:
    """Validate and decode the video at `path`, handing each sampled frame to `on_frame`
    (with what `redact` finds, faces and plates, blurred out of it).

    Raises AppError with a machine code for every refusal; `on_frame` may already have seen
    frames by then, so the caller keeps them aside until this returns.
    """
    import av  # here, not at the top: see audio.py
    import av.error

    with path.open("rb") as f:
        check_name(f.read(16), file_name)
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise invalid("corrupt_video", f"the video could not be opened: {exc}") from exc
    with container:
        return _decode(container, limits, sampling, on_frame, redact)


def _decode(
    container: av.container.InputContainer,
    limits: VideoLimits,
    sampling: Sampling,
    on_frame: Callable[[Frame], None],
    redact: Finder | None,
) -> VideoInfo:
    import av
    import av.error

    kind = CONTAINERS.get(container.format.name)
    if kind is None:
        raise invalid("unsupported_container", f"{container.format.name} is not read", 415)
    if not container.streams.video:
        raise invalid("no_video_stream", "the file has no video stream")
    stream = container.streams.video[0]
    codec = stream.codec_context.name
    if codec not in CODECS:
        raise invalid(
            "unsupported_codec",
            f"codec {codec} is not read; send H.264, HEVC, VP8, VP9 or AV1",
            415,
        )
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    declared_s = container.duration / av.time_base if container.duration else 0.0
    _check_frame_size(limits, stream.width, stream.height)
    if declared_s > limits.max_duration_s:
        raise _too_long(limits)
    if fps and declared_s * fps > limits.max_frames * 1.01:
        raise _too_many_frames(limits)
    stream.thread_type = "AUTO"  # frame threads: decoding keeps up with the JPEG encoder
    pick = sampling.picker()
    decoded = pixels = kept = 0
    last_s = 0.0
    # Frames are encoded on a few threads (Pillow's encoders and FFmpeg's scaler run without
    # the GIL) while this one decodes; they reach `on_frame` in order.
    encoding: deque[Future[Frame]] = deque()
    try:
        with ThreadPoolExecutor(ENCODERS, thread_name_prefix="frame-encode") as encoders:
            for frame in container.decode(stream):
                _check_frame_size(limits, frame.width, frame.height)
                pixels += frame.width * frame.height
                time_s = float(frame.time) if frame.time is not None else decoded / (fps or 1)
                if decoded >= limits.max_frames:
                    raise _too_many_frames(limits)
                if pixels > limits.max_decoded_pixels:
                    raise invalid(
                        "too_many_pixels",
                        f"decoding exceeds the limit of {limits.max_decoded_pixels:,} pixels",
                        413,
                    )
                if time_s > limits.max_duration_s:
                    raise _too_long(limits)
                if pick(decoded, time_s):
                    encoding.append(encoders.submit(_encode, frame, kept, decoded, time_s, redact))
                    kept += 1
                    while len(encoding) > ENCODE_AHEAD or (encoding and encoding[0].done()):
                        on_frame(encoding.popleft().result())
                decoded += 1
                last_s = time_s
            while encoding:
                on_frame(encoding.popleft().result())
    except av.error.FFmpegError as exc:
        raise invalid("corrupt_video", f"the video stream is damaged: {exc}") from exc
    if decoded == 0:
        raise invalid("corrupt_video", "no frame of the video could be decoded")
    frame_s = 1 / fps if fps else 0.0
    if declared_s and last_s + frame_s < declared_s * WHOLE_SHARE - frame_s:
        raise invalid(
            "truncated_video",
            f"the stream ends at {last_s + frame_s:.2f} s of the {declared_s:.2f} s its "
            "header declares: the file was cut short",
        )
    return VideoInfo(
        container=kind,
        codec=codec,
        width=stream.width,
        height=stream.height,
        fps=fps,
        duration_s=max(declared_s, last_s + frame_s),
        decoded_frames=decoded,
        frames=kept,
    )


def _check_frame_size(limits: VideoLimits, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise invalid("corrupt_video", "the video stream has no frame size")
    if max(width, height) > limits.max_side_px or width * height > limits.max_frame_pixels:
        raise invalid(
            "frame_too_large",
            f"frames of {width}x{height} exceed the limit of {limits.max_side_px} px a side "
            f"and {limits.max_frame_pixels:,} pixels",
            413,
        )


def _too_long(limits: VideoLimits) -> AppError:
    return invalid("video_too_long", f"the video is longer than {limits.max_duration_s:g} s", 413)


def _too_many_frames(limits: VideoLimits) -> AppError:
    return invalid("too_many_frames", f"the video has more than {limits.max_frames:,} frames", 413)


def _encode(
    frame: av.VideoFrame, index: int, source_index: int, time_s: float, redact: Finder | None
) -> Frame:
    image = Image.fromarray(frame.to_ndarray(format="rgb24"))
    return frame_of(image, index, source_index, time_s, redact=redact)


def frame_of(
    image: Image.Image,
    index: int,
    source_index: int,
    time_s: float,
    jpeg: bytes | None = None,
    *,
    redact: Finder | None = None,
) -> Frame:
    """A kept frame from its RGB picture: the JPEG (`jpeg` when the bytes are one already)
    and a WebP preview at most PREVIEW_PX on its long side, both with what `redact` finds
    blurred (docs/privacy.md; the frame's own JPEG is then not used)."""
    blurred: tuple[str, ...] = ()
    if redact is not None:
        image, blurred = _redacted(image, redact)
        jpeg = None
    if jpeg is None:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY)
        jpeg = out.getvalue()
    scale = PREVIEW_PX / max(image.width, image.height)
    small = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
        Image.Resampling.BILINEAR,
    )
    preview = io.BytesIO()
    small.save(preview, "WEBP", quality=70, method=0)
    return Frame(
        index=index,
        source_index=source_index,
        time_s=time_s,
        sha256=hashlib.sha256(jpeg).hexdigest(),
        jpeg=jpeg,
        preview=preview.getvalue(),
        blurred=blurred,
    )


def _redacted(image: Image.Image, finder: Finder) -> tuple[Image.Image, tuple[str, ...]]:
    # OpenCV is loaded by the first frame that needs it, not by every replica.
    import numpy as np

    from shared.vision.redaction import redact_rgb

    pixels, regions = redact_rgb(np.asarray(image), detector=finder)
    return (Image.fromarray(pixels) if regions else image), tuple(r.kind for r in regions)
