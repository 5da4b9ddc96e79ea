"""The displayed size of a JPEG, PNG or WebP image, read from its header in pure Python.

YOLO labels are normalised by the image's size, and the client package has no image library:
this reads only the few bytes that say how big the image is. The size is the one Aviary's ingest
stores (services/ingest/domain.py): the size after the EXIF orientation is applied, so
orientations 5 to 8 (a quarter turn) swap width and height. The orientation is read where
Pillow, which ingest uses, finds it: the first `Exif` APP1 segment of a JPEG (before its scan),
the `eXIf` chunk of a PNG (before its image data), the `EXIF` chunk of an extended WebP.
Nothing is decoded, so a truncated or corrupt image body is not noticed here.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

# Orientations 5-8 turn the picture a quarter: the displayed size swaps width and height.
SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
EXIF_ORIENTATION = 0x0112
# JPEG start-of-frame markers: C0..CF but for DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM and the restart markers.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageSizeError(ValueError):
    """The file is not a JPEG, PNG or WebP image whose header says its size."""


def image_size(path: Path) -> tuple[int, int]:
    """The displayed (width, height) of the image at `path`."""
    with path.open("rb") as f:
        head = f.read(12)
        f.seek(0)
        if head.startswith(b"\xff\xd8"):
            width, height, orientation = _jpeg(f)
        elif head.startswith(_PNG_SIGNATURE):
            width, height, orientation = _png(f)
        elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            width, height, orientation = _webp(f)
        else:
            raise ImageSizeError("not a JPEG, PNG or WebP image")
    if width <= 0 or height <= 0:
        raise ImageSizeError(f"the header gives an empty size {width}x{height}")
    if orientation in SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ImageSizeError("the file ends inside its header")
    return data


def exif_orientation(data: bytes) -> int:
    """The Orientation tag of IFD0 of an EXIF block (a TIFF header, optionally after
    `Exif\\0\\0`); 1 when there is none or the block cannot be read."""
    while data.startswith(b"Exif\x00\x00"):
        data = data[6:]
    if data[:4] == b"II*\x00":
        endian = "<"
    elif data[:4] == b"MM\x00*":
        endian = ">"
    else:
        return 1
    try:
        (ifd,) = struct.unpack_from(endian + "I", data, 4)
        (entries,) = struct.unpack_from(endian + "H", data, ifd)
        for i in range(entries):
            tag, kind, count = struct.unpack_from(endian + "HHI", data, ifd + 2 + 12 * i)
            if tag == EXIF_ORIENTATION and count >= 1:
                # SHORT (3) as the standard says; LONG (4) from some writers
                fmt = {3: "H", 4: "I"}.get(kind)
                if fmt is None:
                    return 1
                (value,) = struct.unpack_from(endian + fmt, data, ifd + 2 + 12 * i + 8)
                return int(value) if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def _jpeg(f: BinaryIO) -> tuple[int, int, int]:
    _read(f, 2)  # SOI
    size: tuple[int, int] | None = None
    orientation: int | None = None
    while True:
        byte = _read(f, 1)
        if byte != b"\xff":
            raise ImageSizeError("a JPEG segment does not start with a marker")
        marker = _read(f, 1)[0]
        while marker == 0xFF:  # fill bytes before the marker
            marker = _read(f, 1)[0]
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI, or SOS: the scan starts, no more headers
            break
        (length,) = struct.unpack(">H", _read(f, 2))
        if length < 2:
            raise ImageSizeError(f"a JPEG segment has a length of {length}")
        if marker in _SOF and size is None:
            body = _read(f, min(length - 2, 5))
            if len(body) < 5:
                raise ImageSizeError("a JPEG frame header is too short")
            height, width = struct.unpack(">HH", body[1:5])
            size = (width, height)
            f.seek(length - 2 - 5, 1)
        elif marker == 0xE1 and orientation is None and length >= 8:
            body = _read(f, length - 2)
            if body.startswith(b"Exif\x00\x00"):
                orientation = exif_orientation(body)
        else:
            f.seek(length - 2, 1)
    if size is None:
        raise ImageSizeError("no JPEG frame header before the image data")
    return size[0], size[1], orientation or 1


def _png(f: BinaryIO) -> tuple[int, int, int]:
    _read(f, 8)
    length, kind = struct.unpack(">I4s", _read(f, 8))
    if kind != b"IHDR" or length < 8:
        raise ImageSizeError("a PNG without its IHDR chunk first")
    width, height = struct.unpack(">II", _read(f, 8))
    f.seek(length - 8 + 4, 1)  # the rest of IHDR, and its CRC
    orientation = 1
    # eXIf comes before the image data (PNG 1.2 extensions): stop at the first IDAT.
    while header := f.read(8):
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header)
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            orientation = exif_orientation(_read(f, length))
            break
        f.seek(length + 4, 1)
    return width, height, orientation


def _webp(f: BinaryIO) -> tuple[int, int, int]:
    _read(f, 12)
    kind, length = struct.unpack("<4sI", _read(f, 8))
    if kind == b"VP8 ":
        body = _read(f, 10)
        if body[3:6] != b"\x9d\x01\x2a":
            raise ImageSizeError("a lossy WebP without the VP8 start code")
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF, 1
    if kind == b"VP8L":
        body = _read(f, 5)
        if body[0] != 0x2F:
            raise ImageSizeError("a lossless WebP without the VP8L signature")
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if kind == b"VP8X":
        body = _read(f, 10)
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        orientation = 1
        # The EXIF chunk is looked for whatever VP8X's flag says, as libwebp's demuxer does.
        f.seek(length - 10 + (length & 1), 1)
        while header := f.read(8):
            if len(header) < 8:
                break
            kind, length = struct.unpack("<4sI", header)
            if kind == b"EXIF":
                orientation = exif_orientation(_read(f, length))
                break
            f.seek(length + (length & 1), 1)  # chunks are padded to even sizes
        return width, height, orientation
    raise ImageSizeError(f"a WebP whose first chunk is {kind!r}, not VP8, VP8L or VP8X")
