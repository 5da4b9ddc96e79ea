"""Video files in (services/ingest/video.py): real files, encoded here, decoded by PyAV."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from aviary_devkit.media.video import MovingBox, render
from services.ingest.video import (
    PREVIEW_PX,
    Frame,
    Sampling,
    VideoInfo,
    VideoLimits,
    read_video,
)
from shared.errors import AppError

LIMITS = VideoLimits()


def read(
    tmp_path: Path,
    data: bytes,
    name: str = "clip.mp4",
    limits: VideoLimits = LIMITS,
    sampling: Sampling | None = None,
) -> tuple[VideoInfo, list[Frame]]:
    path = tmp_path / "upload"
    path.write_bytes(data)
    frames: list[Frame] = []
    info = read_video(path, name, limits, sampling or Sampling(), frames.append)
    return info, frames


def refusal(tmp_path: Path, data: bytes, name: str = "clip.mp4", **kw: object) -> AppError:
    with pytest.raises(AppError) as caught:
        read(tmp_path, data, name, **kw)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("kind", "name", "container", "codec"),
    [
        ("mp4", "a.mp4", "mp4", "h264"),
        ("webm", "a.webm", "matroska", "vp9"),
        ("mkv", "a.mkv", "matroska", "h264"),
    ],
)
def test_each_accepted_kind_decodes_to_every_frame(
    tmp_path: Path, kind: str, name: str, container: str, codec: str
) -> None:
    info, frames = read(tmp_path, render(kind, frames=24, fps=24), name)
    assert (info.container, info.codec) == (container, codec)
    assert (info.width, info.height, info.fps) == (320, 240, 24)
    assert info.decoded_frames == info.frames == len(frames) == 24
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert [f.index for f in frames] == list(range(24))
    assert len({f.sha256 for f in frames}) == 24  # the box moves: every frame differs
    first = Image.open(io.BytesIO(frames[0].jpeg))
    assert (first.format, first.size) == ("JPEG", (320, 240))
    preview = Image.open(io.BytesIO(frames[0].preview))
    assert preview.format == "WEBP" and max(preview.size) == PREVIEW_PX


def test_the_frames_show_what_was_filmed(tmp_path: Path) -> None:
    box = MovingBox(x=100, y=80, w=60, h=40, dx=2, dy=0, colour=(250, 20, 20))
    _, frames = read(tmp_path, render("mp4", frames=10, boxes=(box,)))
    image = np.asarray(Image.open(io.BytesIO(frames[5].jpeg)))
    x, y, w, h = (int(v) for v in box.at(5))
    inside = image[y + 5 : y + h - 5, x + 5 : x + w - 5].reshape(-1, 3).mean(axis=0)
    assert inside[0] > 200 and inside[1] < 80  # red where the box is in frame 5
    outside = image[5:20, 5:20].reshape(-1, 3).mean(axis=0)
    assert outside[0] < 180


def test_sampling_keeps_every_nth_frame_or_n_a_second(tmp_path: Path) -> None:
    data = render("mp4", frames=30, fps=30)
    _, every_third = read(tmp_path, data, sampling=Sampling(every=3))
    assert [f.source_index for f in every_third] == list(range(0, 30, 3))
    assert [f.index for f in every_third] == list(range(10))
    info, five_a_second = read(tmp_path, data, sampling=Sampling(per_second=5))
    assert [f.source_index for f in five_a_second] == [0, 6, 12, 18, 24]
    assert info.decoded_frames == 30 and info.frames == 5
    with pytest.raises(ValueError, match="sampling"):
        Sampling(every=0)


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"", "a.mp4", "not_a_video"),
        (b"just some text, not a video at all", "a.mp4", "not_a_video"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "a.mp4", "not_a_video"),
    ],
)
def test_what_is_no_video_is_refused(tmp_path: Path, data: bytes, name: str, code: str) -> None:
    error = refusal(tmp_path, data, name)
    assert (error.code, error.status_code) == (code, 415)


def test_a_file_named_for_another_kind_of_video_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, render("webm", frames=3), "holiday.mp4")
    assert (error.code, error.status_code) == ("media_mismatch", 415)
    assert "holiday.mp4" in error.message
    info, _ = read(tmp_path, render("webm", frames=3), "no-extension")
    assert info.container == "matroska"


def test_a_video_cut_short_is_refused(tmp_path: Path) -> None:
    webm = render("webm", frames=60)
    error = refusal(tmp_path, webm[: len(webm) * 9 // 10], "a.webm")
    assert error.code == "truncated_video"
    assert "of the 2.00 s its header declares" in error.message
    # Cut inside the first picture: not one frame decodes.
    assert refusal(tmp_path, webm[: len(webm) // 2], "a.webm").code == "corrupt_video"
    mp4 = render("mp4", frames=60)  # the index (moov) at the end: a cut loses it
    assert refusal(tmp_path, mp4[: len(mp4) // 2]).code == "corrupt_video"
    fast = render("mp4", frames=60, faststart=True)  # the index first: the frames go missing
    assert refusal(tmp_path, fast[: len(fast) // 2]).code in ("truncated_video", "corrupt_video")


def test_garbage_after_a_valid_header_is_refused(tmp_path: Path) -> None:
    mp4 = render("mp4", frames=30, faststart=True)
    damaged = mp4[:2000] + bytes(len(mp4) - 2000)
    assert refusal(tmp_path, damaged).code in ("corrupt_video", "truncated_video")


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (VideoLimits(max_side_px=300), "frame_too_large"),
        (VideoLimits(max_frame_pixels=320 * 239), "frame_too_large"),
        (VideoLimits(max_duration_s=0.5), "video_too_long"),
        (VideoLimits(max_frames=20), "too_many_frames"),
        (VideoLimits(max_decoded_pixels=320 * 240 * 10), "too_many_pixels"),
    ],
)
def test_each_limit_is_enforced(tmp_path: Path, limits: VideoLimits, code: str) -> None:
    error = refusal(tmp_path, render("mp4", frames=30), limits=limits)
    assert (error.code, error.status_code) == (code, 413)


def test_a_video_bomb_stops_decoding_at_the_limit(tmp_path: Path) -> None:
    # A flat 1080p picture for 60 frames compresses to a few kilobytes and decodes to 1.2e8
    # pixels: the header alone does not give it away.
    bomb = render("mp4", frames=60, width=1920, height=1080, boxes=(), textured=False)
    assert len(bomb) < 20_000
    frames: list[Frame] = []
    path = tmp_path / "bomb.mp4"
    path.write_bytes(bomb)
    limits = VideoLimits(max_decoded_pixels=1920 * 1080 * 12)
    with pytest.raises(AppError) as caught:
        read_video(path, "bomb.mp4", limits, Sampling(), frames.append)
    assert caught.value.code == "too_many_pixels"
    assert len(frames) <= 12  # decoding stopped at the limit, not at the end


def encode_other(tmp_path: Path, fmt: str, codec: str, audio: bool = False) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        if audio:
            stream = container.add_stream("aac", rate=16000)
            assert isinstance(stream, av.AudioStream)
            samples = np.zeros((1, 1024), dtype=np.float32)
            for _ in range(10):
                frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                frame.sample_rate = 16000
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        else:
            video = container.add_stream(codec, rate=10)
            assert isinstance(video, av.VideoStream)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            for _ in range(5):
                image = np.zeros((48, 64, 3), dtype=np.uint8)
                container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(video.encode(None))
    return out.getvalue()


def test_a_codec_that_is_not_read_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, encode_other(tmp_path, "mp4", "mpeg4"))
    assert (error.code, error.status_code) == ("unsupported_codec", 415)
    assert "mpeg4" in error.message


def test_a_file_without_pictures_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, encode_other(tmp_path, "mp4", "", audio=True), "voice.mp4")
    assert (error.code, error.status_code) == ("no_video_stream", 422)
