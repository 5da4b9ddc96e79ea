"""A detector model (ONNX) on a picture: the picture letterboxed into the model's input,
the model's boxes mapped back into the picture's pixels.

Shared by assist (operators' models that pre-label and propose) and ingest (an operator's
model that finds what redaction blurs), so that a model exported once reads the same in both.
The contract (docs/assist.md, "Task contracts"): input `images` [1, 3, H, W], RGB in 0..1;
outputs `boxes` [N, 4] (x1, y1, x2, y2 in input pixels), `scores` [N], `labels` [N].

Letterboxing: scaled to fit the input with its aspect ratio kept, centred, the borders grey
(114, as the YOLO family pads). Rather than a plain resize because objects keep their shape
(a detector trained on letterboxed images finds squashed ones less well), and it is what the
common detector exports expect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]  # ships no type hints

Rgb = npt.NDArray[np.uint8]  # (height, width, 3)
Floats = npt.NDArray[np.float32]
Array = npt.NDArray[Any]

PAD_GREY = 114
# Detections looked at per image, best first (after the score threshold).
MAX_DETECTIONS = 300


def execution_providers() -> list[str]:
    """CUDA first where this onnxruntime has it (falling back to the CPU per operator)."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(data: bytes, threads: int = 0, providers: Sequence[str] | None = None) -> Any:
    """A session over a model's bytes. Loaded from bytes, never a path: onnxruntime then
    refuses weights kept outside the file (external data), so a model cannot read files."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # exports' unused initialisers warn at every load
    return ort.InferenceSession(
        data, sess_options=options, providers=list(providers or execution_providers())
    )


@dataclass(frozen=True)
class Letterbox:
    """Where the image went in the model's input: scaled by `scale`, then offset by the pads."""

    width: int  # the image's
    height: int
    scale: float
    pad_x: int
    pad_y: int
    input_width: int
    input_height: int

    @property
    def inner(self) -> tuple[int, int]:
        """The scaled image's size inside the input (width, height)."""
        return (
            max(1, round(self.width * self.scale)),
            max(1, round(self.height * self.scale)),
        )


def letterbox(
    image: Rgb, input_size: tuple[int, int], size: tuple[int, int] | None = None
) -> tuple[Floats, Letterbox]:
    """The detector's `images` tensor [1, 3, H, W] and how to map back out of it. `size` is the
    image's own (width, height) when `image` is a reduced decode of it: boxes map back to it."""
    width, height = size if size is not None else (image.shape[1], image.shape[0])
    input_width, input_height = input_size
    scale = min(input_width / width, input_height / height)
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (input_width - inner_w) // 2, (input_height - inner_h) // 2
    box = Letterbox(width, height, scale, pad_x, pad_y, input_width, input_height)
    canvas = np.full((input_height, input_width, 3), PAD_GREY, np.uint8)
    canvas[pad_y : pad_y + inner_h, pad_x : pad_x + inner_w] = cv2.resize(
        image, (inner_w, inner_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    tensor = canvas.astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255)
    return np.ascontiguousarray(tensor), box


def box_to_image(
    box: Letterbox, x1: float, y1: float, x2: float, y2: float
) -> tuple[float, float, float, float]:
    """A box in input pixels as (left, top, width, height) in image pixels, inside the image."""

    def back(value: float, pad: int, limit: int) -> float:
        return float(min(max((value - pad) / box.scale, 0.0), limit))

    left, right = back(x1, box.pad_x, box.width), back(x2, box.pad_x, box.width)
    top, bottom = back(y1, box.pad_y, box.height), back(y2, box.pad_y, box.height)
    left, right = min(left, right), max(left, right)
    top, bottom = min(top, bottom), max(top, bottom)
    return left, top, right - left, bottom - top


@dataclass(frozen=True)
class Found:
    """One detection: its row in the model's outputs, the index of its label, its score
    (clamped to 0..1) and its box (left, top, width, height) in image pixels."""

    row: int
    label: int
    score: float
    box: tuple[float, float, float, float]


def batchless(array: Array, rank: int) -> Array:
    """Drop a leading batch dimension of 1 some exports keep."""
    return array[0] if array.ndim == rank + 1 and array.shape[0] == 1 else array


def read_boxes(outputs: Mapping[str, Array], box: Letterbox, threshold: float) -> list[Found]:
    """A detector's boxes in image pixels, the best first, those under `threshold` (or not
    finite) left out. Malformed outputs raise ValueError."""
    boxes = batchless(np.asarray(outputs["boxes"], np.float32), 2)
    scores = batchless(np.asarray(outputs["scores"], np.float32), 1).reshape(-1)
    labels = batchless(np.asarray(outputs["labels"]), 1).reshape(-1)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes) == len(scores) == len(labels):
        raise ValueError(
            f"outputs of mismatched shapes: boxes {boxes.shape}, scores {scores.shape}, "
            f"labels {labels.shape}"
        )
    keep = [i for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
    found = []
    for i in keep[:MAX_DETECTIONS]:
        score = float(scores[i])
        if score < threshold:
            break
        if not np.all(np.isfinite(boxes[i])):
            continue
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        image_box = box_to_image(box, x1, y1, x2, y2)
        found.append(Found(int(i), int(labels[i]), min(max(score, 0.0), 1.0), image_box))
    return found
