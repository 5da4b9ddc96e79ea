"""The image header reader of the YOLO importer (client/aviary/interop/imagesize.py): the size
it reads must be the displayed size ingest stores (Pillow, EXIF orientation applied), for every
format ingest accepts."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from aviary.interop.imagesize import ImageSizeError, exif_orientation, image_size
from services.ingest.domain import inspect_image

W, H = 37, 21  # odd sizes: a swap, or an off-by-one, shows


def picture(fmt: str, orientation: int | None = None, **options: object) -> bytes:
    image = Image.new("RGB", (W, H), (200, 30, 30))
    image.putpixel((0, 0), (0, 0, 255))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def size_of(data: bytes, tmp_path: Path) -> tuple[int, int]:
    path = tmp_path / "image"
    path.write_bytes(data)
    return image_size(path)


CASES = [
    ("JPEG", {}),
    ("JPEG", {"progressive": True}),
    ("PNG", {}),
    ("WEBP", {"quality": 80}),
    ("WEBP", {"lossless": True}),
]


@pytest.mark.parametrize(("fmt", "options"), CASES)
@pytest.mark.parametrize("orientation", [None, 1, 3, 5, 6, 7, 8])
def test_the_size_is_the_one_ingest_stores(
    fmt: str, options: dict[str, object], orientation: int | None, tmp_path: Path
) -> None:
    data = picture(fmt, orientation, **options)
    info = inspect_image(data, max_pixels=10_000)
    got = size_of(data, tmp_path)
    assert got == (info.width, info.height)
    turned = orientation in (5, 6, 7, 8)
    assert got == ((H, W) if turned else (W, H))


def test_a_webp_without_exif_in_each_encoding(tmp_path: Path) -> None:
    lossy = picture("WEBP", quality=50)
    assert lossy[12:16] == b"VP8 "
    lossless = picture("WEBP", lossless=True)
    assert lossless[12:16] == b"VP8L"
    extended = picture("WEBP", 6, quality=50)
    assert extended[12:16] == b"VP8X"
    assert size_of(lossy, tmp_path) == size_of(lossless, tmp_path) == (W, H)
    assert size_of(extended, tmp_path) == (H, W)


def jpeg_with_segments(*segments: bytes) -> bytes:
    """A real JPEG with `segments` put right after its SOI marker."""
    data = picture("JPEG")
    return data[:2] + b"".join(segments) + data[2:]


def app1(body: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def big_endian_exif(orientation: int) -> bytes:
    # TIFF header "MM", IFD0 at 8 with one entry: Orientation, SHORT, count 1, value
    ifd = struct.pack(">H", 1) + struct.pack(">HHIH2x", 0x0112, 3, 1, orientation)
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + ifd + b"\x00\x00\x00\x00"


def test_big_endian_exif_and_fill_bytes(tmp_path: Path) -> None:
    data = jpeg_with_segments(b"\xff\xff", app1(big_endian_exif(6)))
    assert inspect_image(data, 10_000).width == H
    assert size_of(data, tmp_path) == (H, W)


def test_only_the_first_exif_segment_counts_as_in_pillow(tmp_path: Path) -> None:
    data = jpeg_with_segments(app1(big_endian_exif(1)), app1(big_endian_exif(6)))
    assert inspect_image(data, 10_000).width == W
    assert size_of(data, tmp_path) == (W, H)


def test_an_xmp_app1_segment_is_not_exif(tmp_path: Path) -> None:
    data = jpeg_with_segments(app1(b"http://ns.adobe.com/xap/1.0/\x00<x/>"))
    assert size_of(data, tmp_path) == (W, H)


@pytest.mark.parametrize(
    "block",
    [b"", b"Exif\x00\x00", b"Exif\x00\x00XX\x00*", b"Exif\x00\x00II*\x00\xff\xff\x00\x00"],
)
def test_an_unreadable_exif_block_means_no_rotation(block: bytes) -> None:
    assert exif_orientation(block) == 1


def test_an_orientation_out_of_range_means_no_rotation() -> None:
    assert exif_orientation(big_endian_exif(9)) == 1
    assert exif_orientation(big_endian_exif(8)) == 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\x00" * 20, "not a JPEG, PNG or WebP image"),
        (b"", "not a JPEG, PNG or WebP image"),
        (b"\xff\xd8\xff\xe0\x00", "the file ends inside its header"),
        (b"\xff\xd8\x00", "a JPEG segment does not start with a marker"),
        (b"\xff\xd8\xff\xe0\x00\x01", "a JPEG segment has a length of 1"),
        (b"\xff\xd8\xff\xda\x00\x08", "no JPEG frame header before the image data"),
        (b"\xff\xd8\xff\xc0\x00\x04\x08\x00", "a JPEG frame header is too short"),
        (
            b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 0, b"IDAT"),
            "a PNG without its IHDR chunk first",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 0, 5) + b"\x00" * 9,
            "the header gives an empty size 0x5",
        ),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 \x0a\x00\x00\x00" + b"\x00" * 10, "VP8 start code"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8L\x05\x00\x00\x00" + b"\x00" * 5, "VP8L signature"),
        (b"RIFF\x00\x00\x00\x00WEBPALPH\x00\x00\x00\x00", "not VP8, VP8L or VP8X"),
    ],
)
def test_refusals(data: bytes, message: str, tmp_path: Path) -> None:
    with pytest.raises(ImageSizeError, match=message):
        size_of(data, tmp_path)


def test_a_truncated_image_body_still_has_its_size(tmp_path: Path) -> None:
    # Only the header is read: a cut-off body is for ingest to refuse.
    data = picture("PNG")
    assert size_of(data[:40], tmp_path) == (W, H)
