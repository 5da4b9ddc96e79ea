"""Images into model tensors and model outputs back into image pixels.

Detectors get the image letterboxed (shared/vision/detector_model.py, which ingest's
redaction shares); boxes and masks come back through the inverse: shift by the padding,
divide by the scale.

Promptable segmenters get what SAM's own code gives its encoder (samexporter's inference does
the same): the long side scaled to the encoder's size, then, for an encoder that takes NCHW,
normalised with SAM's pixel mean and deviation and padded at the bottom and right.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from shared.vision.detector_model import Floats, Letterbox, Rgb, letterbox

BoolMask = npt.NDArray[np.bool_]

SAM_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
SAM_STD = np.array([58.395, 57.12, 57.375], np.float32)


# OpenCV's reduced decodes: a JPEG's DCT scaled to 1/2, 1/4 or 1/8 while it is decoded, several
# times faster than decoding it whole and scaling it down (other formats are scaled after).
REDUCED_MODES = {
    8: cv2.IMREAD_REDUCED_COLOR_8,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    1: cv2.IMREAD_COLOR,
}


def decode_rgb(data: bytes, reduce: int = 1) -> Rgb:
    """An uploaded image as RGB pixels, upright (EXIF orientation applied, as ingest measures
    width and height and as people see it), at 1/`reduce` of its size (a key of REDUCED_MODES).
    Decoded as the segment route decodes (OpenCV), so an embedding made ahead from these pixels
    is the one a click would have made."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), REDUCED_MODES[reduce])
    if decoded is None:
        raise ValueError("the image could not be decoded")
    return np.ascontiguousarray(decoded[..., ::-1], dtype=np.uint8)


def detector_input(
    data: bytes, size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[Floats, Letterbox]:
    """An encoded image of `size` (width, height, upright) as a detector's tensor, decoded at
    the smallest reduction that still has at least the pixels the letterbox keeps (so the
    tensor is as sharp as from a full decode). Pure CPU: run it off the event loop."""
    width, height = size
    scale = min(input_size[0] / width, input_size[1] / height)
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    reduce = max(f for f in REDUCED_MODES if width // f >= inner_w and height // f >= inner_h)
    image = decode_rgb(data, reduce)
    got_h, got_w = image.shape[:2]
    off = abs(got_w * reduce - width) > reduce or abs(got_h * reduce - height) > reduce
    if reduce > 1 and off:
        image = decode_rgb(data)  # not the size ingest measured: map from what is there
        size = (image.shape[1], image.shape[0])
    elif reduce == 1:
        size = (got_w, got_h)
    return letterbox(image, input_size, size)


def mask_to_image(box: Letterbox, probabilities: Floats, threshold: float = 0.5) -> BoolMask:
    """A mask over the model's whole input (any resolution: it is scaled to the input first)
    as a mask of the image."""
    mask_h, mask_w = probabilities.shape
    sx, sy = mask_w / box.input_width, mask_h / box.input_height
    inner_w, inner_h = box.inner
    x0, y0 = round(box.pad_x * sx), round(box.pad_y * sy)
    x1 = max(x0 + 1, round((box.pad_x + inner_w) * sx))
    y1 = max(y0 + 1, round((box.pad_y + inner_h) * sy))
    crop = np.ascontiguousarray(probabilities[y0:y1, x0:x1], dtype=np.float32)
    full = cv2.resize(crop, (box.width, box.height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(full > threshold)


def sam_resized_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """The image's size once its long side is `long_side` (SAM's ResizeLongestSide)."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def sam_encoder_input(image: Rgb, long_side: int, rank: int) -> Floats:
    """The encoder's input: HWC RGB 0..255 for an encoder with its preprocessing inside
    (rank 3), else normalised NCHW padded to a `long_side` square (rank 4)."""
    height, width = image.shape[:2]
    new_h, new_w = sam_resized_size(height, width, long_side)
    resized = np.asarray(
        Image.fromarray(image).resize((new_w, new_h), resample=Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    if rank == 3:
        return np.ascontiguousarray(resized)
    normalised = ((resized - SAM_MEAN) / SAM_STD).transpose(2, 0, 1)
    padded = np.pad(normalised, ((0, 0), (0, long_side - new_h), (0, long_side - new_w)))
    return np.ascontiguousarray(padded[None], dtype=np.float32)


def sam_mask_to_image(
    logits: Floats,
    height: int,
    width: int,
    long_side: int,
    low_res: bool,
) -> BoolMask:
    """A decoder's mask logits as a mask of the image (inside where > 0). Masks at the image's
    size are taken as they are; SAM's low-resolution masks cover the padded input square and
    are cropped to the image's part first; any other size is scaled to the image."""
    if logits.shape == (height, width):
        return np.asarray(logits > 0)
    if low_res:
        new_h, new_w = sam_resized_size(height, width, long_side)
        square = cv2.resize(logits, (long_side, long_side), interpolation=cv2.INTER_LINEAR)
        logits = np.ascontiguousarray(square[:new_h, :new_w])
    full = cv2.resize(logits, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(full > 0)
