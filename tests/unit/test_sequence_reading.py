"""Image sequences in (services/ingest/sequence.py): a zip of frames read like a video."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from services.ingest.sequence import read_sequence
from services.ingest.video import Frame, Sampling, VideoLimits
from shared.errors import AppError


def picture(n: int, size: tuple[int, int] = (64, 48), fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (n * 20 % 255, 80, 120)).save(out, fmt)
    return out.getvalue()


def zipped(tmp_path: Path, entries: dict[str, bytes]) -> Path:
    path = tmp_path / "frames.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def read(
    path: Path, sampling: Sampling | None = None, limits: VideoLimits | None = None
) -> list[Frame]:
    frames: list[Frame] = []
    read_sequence(path, limits or VideoLimits(), sampling or Sampling(), frames.append, 10.0)
    return frames


def refusal(path: Path, limits: VideoLimits | None = None) -> AppError:
    with pytest.raises(AppError) as caught:
        read(path, limits=limits)
    return caught.value


def test_frames_come_in_the_natural_order_of_their_names(tmp_path: Path) -> None:
    names = [
        "seq/frame_10.jpg",
        "seq/frame_2.jpg",
        "seq/frame_1.jpg",
        ".DS_Store",
        "__MACOSX/x.jpg",
    ]
    data = {name: picture(i) for i, name in enumerate(names)}
    frames = read(zipped(tmp_path, data))
    order = [data["seq/frame_1.jpg"], data["seq/frame_2.jpg"], data["seq/frame_10.jpg"]]
    assert [f.jpeg for f in frames] == order  # JPEGs kept byte for byte
    assert [f.time_s for f in frames] == [0.0, 0.1, 0.2]
    assert all(f.sha256 == hashlib.sha256(f.jpeg).hexdigest() for f in frames)


def test_png_and_webp_frames_become_jpegs(tmp_path: Path) -> None:
    frames = read(
        zipped(tmp_path, {"a.png": picture(1, fmt="PNG"), "b.webp": picture(2, fmt="WEBP")})
    )
    assert [Image.open(io.BytesIO(f.jpeg)).format for f in frames] == ["JPEG", "JPEG"]
    assert Image.open(io.BytesIO(frames[0].preview)).format == "WEBP"


def test_sampling_keeps_every_nth_frame(tmp_path: Path) -> None:
    path = zipped(tmp_path, {f"{i:03d}.jpg": picture(i) for i in range(9)})
    assert [f.source_index for f in read(path, Sampling(every=3))] == [0, 3, 6]


@pytest.mark.parametrize(
    ("entries", "code", "status"),
    [
        ({}, "empty_sequence", 422),
        ({"notes.txt": b"hello"}, "unsupported_format", 415),
        ({"a.jpg": picture(1), "b.jpg": picture(2, (65, 48))}, "sequence_size_mismatch", 422),
        ({"a.jpg": picture(1), "b.jpg": picture(2)[:300]}, "corrupt_image", 422),
        ({"a.jpg": b"not a picture at all"}, "not_an_image", 415),
    ],
)
def test_what_is_no_whole_sequence_is_refused(
    tmp_path: Path, entries: dict[str, bytes], code: str, status: int
) -> None:
    error = refusal(zipped(tmp_path, entries))
    assert (error.code, error.status_code) == (code, status)


def test_a_broken_zip_and_a_zip_bomb_are_refused(tmp_path: Path) -> None:
    good = zipped(tmp_path, {"a.jpg": picture(1), "b.jpg": picture(2)}).read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(good[:40])
    assert refusal(broken).code == "corrupt_sequence"
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", b"\0" * 10_000_000)
    assert refusal(bomb).code == "too_many_pixels"


def test_the_limits_hold(tmp_path: Path) -> None:
    path = zipped(tmp_path, {f"{i}.jpg": picture(i) for i in range(5)})
    assert refusal(path, VideoLimits(max_frames=4)).code == "too_many_frames"
    assert refusal(path, VideoLimits(max_decoded_pixels=64 * 48 * 3)).code == "too_many_pixels"
    assert refusal(path, VideoLimits(max_side_px=32)).code == "frame_too_large"
