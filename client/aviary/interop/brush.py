"""Label Studio's brush RLE (label-studio-converter's `brush.py` encoding of an RGBA image),
decoded to the mask its alpha channel draws. Pure Python: the client package has no numpy.
"""

from __future__ import annotations

from aviary.interop.foreign import ForeignFormatError


def decode_brush(rle: list[int], width: int, height: int, where: str = "") -> bytearray:
    """The alpha channel of a Label Studio brush RLE as a row-major 0/1 mask (`width` x
    `height` bytes). The stream: 32 bits of value count, 5 bits word size - 1, four 4-bit
    run-length sizes - 1; then per run one bit (1: a run of one value, 0: literals), 2 bits
    choosing the length's size, the length - 1, and the value(s) in `word size` bits."""
    try:
        data = bytes(rle)
    except (TypeError, ValueError) as exc:
        raise ForeignFormatError("a brush's `rle` is not a list of bytes", where) from exc
    total = len(data) * 8
    bits = bin(int.from_bytes(data, "big"))[2:].zfill(total) if data else ""
    pos = 0

    def take(size: int) -> int:
        nonlocal pos
        end = pos + size
        if end > total:
            raise ForeignFormatError("a brush's `rle` ends in the middle of a run", where)
        value = int(bits[pos:end], 2)
        pos = end
        return value

    count = take(32)
    word = take(5) + 1
    sizes = [take(4) + 1 for _ in range(4)]
    if count != width * height * 4:
        raise ForeignFormatError(
            f"a brush's `rle` holds {count} values; a {width}x{height} RGBA image has "
            f"{width * height * 4}",
            where,
        )
    mask = bytearray(width * height)
    short = "a brush's `rle` ends in the middle of a run"
    i = 0
    # The loop reads the bit string in place (no calls per value): a brush painted in Label
    # Studio's canvas is mostly short runs and literals, a few per pixel.
    while i < count:
        if pos + 3 > total:
            raise ForeignFormatError(short, where)
        repeated = bits[pos] == "1"
        size = sizes[int(bits[pos + 1 : pos + 3], 2)]
        pos += 3
        if pos + size > total:
            raise ForeignFormatError(short, where)
        j = i + 1 + int(bits[pos : pos + size], 2)
        pos += size
        if j > count:
            raise ForeignFormatError("a brush's `rle` runs past the image", where)
        end = pos + (word if repeated else (j - i) * word)
        if end > total:
            raise ForeignFormatError(short, where)
        if repeated:
            if "1" in bits[pos:end]:
                # the pixels whose alpha byte (every 4th value, from index 3) lies in [i, j)
                first, last = -(-(i - 3) // 4), (j - 4) // 4
                if last >= first:
                    mask[first : last + 1] = b"\x01" * (last - first + 1)
        else:
            # literals: only the alpha bytes among them matter
            for k in range(i + ((3 - i) & 3), j, 4):
                at = pos + (k - i) * word
                if "1" in bits[at : at + word]:
                    mask[k >> 2] = 1
        pos = end
        i = j
    return mask
