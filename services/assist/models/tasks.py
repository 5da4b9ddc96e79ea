"""What each model task must take and give (docs/assist.md), checked before a model is kept.

Pure rules over a model's declared inputs and outputs (as onnxruntime reports them), so the
refusals are the same whichever way a model was exported, and testable without one. A
dimension a model leaves dynamic is accepted; a fixed one must match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aviary.contracts.assist import ModelManifest, ModelTask

Dim = int | str | None

# Files each task comes as, by role.
ROLES: dict[ModelTask, tuple[str, ...]] = {
    "detect": ("model",),
    "segment": ("model",),
    "promptable-segment": ("encoder", "decoder"),
}
FLOAT32 = frozenset({"tensor(float)"})
FLOATS = frozenset({"tensor(float)", "tensor(float16)", "tensor(double)"})
INTEGERS = frozenset({"tensor(int64)", "tensor(int32)"})
# Input sizes a manifest may name (width and height): enough for any detector or SAM-class
# encoder, small enough that a tensor of it stays reasonable.
MIN_SIDE, MAX_SIDE = 16, 4096


@dataclass(frozen=True)
class Tensor:
    """One declared input or output: its name, onnxruntime's type (`tensor(float)`) and
    shape (a number, a symbolic name or None per dimension; None when the rank is unknown)."""

    name: str
    type: str
    shape: tuple[Dim, ...] | None


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]


@dataclass(frozen=True)
class Expect:
    """A tensor a task needs: its name, allowed ranks and types, and the dimensions that
    must have a given size when the model fixes them (negative: counted from the end)."""

    name: str
    ranks: tuple[int, ...]
    types: frozenset[str]
    dims: dict[int, int] = field(default_factory=dict)
    optional: bool = False


def detect_inputs(width: int, height: int) -> tuple[Expect, ...]:
    return (Expect("images", (4,), FLOAT32, {0: 1, 1: 3, 2: height, 3: width}),)


# Outputs may carry a leading batch dimension of 1 (`[1, N, 4]`): many exports keep it.
DETECT_OUTPUTS = (
    Expect("boxes", (2, 3), FLOATS, {-1: 4}),
    Expect("scores", (1, 2), FLOATS),
    Expect("labels", (1, 2), INTEGERS),
)
SEGMENT_OUTPUTS = (*DETECT_OUTPUTS, Expect("masks", (3, 4), FLOATS))
DECODER_INPUTS = (
    Expect("image_embeddings", (4,), FLOAT32, {0: 1}),
    Expect("point_coords", (3,), FLOAT32, {0: 1, 2: 2}),
    Expect("point_labels", (2,), FLOAT32, {0: 1}),
    Expect("mask_input", (4,), FLOAT32, {0: 1, 1: 1, 2: 256, 3: 256}, optional=True),
    Expect("has_mask_input", (1,), FLOAT32, {0: 1}, optional=True),
    Expect("orig_im_size", (1,), FLOAT32, {0: 2}, optional=True),
)
DECODER_OUTPUTS = (
    Expect("masks", (4,), FLOATS, {0: 1}),
    Expect("iou_predictions", (2,), FLOATS, {0: 1}),
)


def _tensor_problems(what: str, expect: Expect, tensor: Tensor) -> list[str]:
    problems = []
    if tensor.type not in expect.types:
        wanted = " or ".join(sorted(expect.types))
        problems.append(f"{what} {expect.name!r} is {tensor.type}, not {wanted}")
    if tensor.shape is None:
        return problems
    if len(tensor.shape) not in expect.ranks:
        ranks = " or ".join(str(r) for r in expect.ranks)
        return [
            *problems,
            f"{what} {expect.name!r} has {len(tensor.shape)} dimensions, not {ranks}",
        ]
    for index, size in expect.dims.items():
        if -len(tensor.shape) <= index < len(tensor.shape):
            declared = tensor.shape[index]
            if isinstance(declared, int) and declared > 0 and declared != size:
                problems.append(
                    f"{what} {expect.name!r} has size {declared} in dimension {index}, not {size}"
                )
    return problems


def match(
    what: str, expected: Sequence[Expect], declared: Sequence[Tensor], *, others: bool
) -> list[str]:
    """Problems of `declared` tensors against `expected` ones; `others`: may the model
    declare tensors the contract does not name (outputs: yes; inputs: nothing feeds them)."""
    by_name = {t.name: t for t in declared}
    problems = []
    for expect in expected:
        tensor = by_name.get(expect.name)
        if tensor is None:
            if not expect.optional:
                problems.append(f"no {what} named {expect.name!r}")
            continue
        problems += _tensor_problems(what, expect, tensor)
    if not others:
        known = {e.name for e in expected}
        problems += [f"unexpected {what} {t.name!r}" for t in declared if t.name not in known]
    return problems


def encoder_problems(signature: Signature) -> tuple[list[str], list[str]]:
    """A promptable segmenter's image encoder: one float32 image input, either HWC (SAM's
    export with its preprocessing inside) or NCHW (normalised and padded by us); its first
    output is the image embedding."""
    inputs = []
    if len(signature.inputs) != 1:
        inputs.append(f"the encoder takes {len(signature.inputs)} inputs, not 1 (the image)")
    else:
        image = signature.inputs[0]
        inputs = _tensor_problems("input", Expect(image.name, (3, 4), FLOAT32), image)
    outputs = [] if signature.outputs else ["the encoder has no output"]
    if signature.outputs:
        first = signature.outputs[0]
        outputs = _tensor_problems("output", Expect(first.name, (4,), FLOATS, {0: 1}), first)
    return inputs, outputs


def signature_problems(
    manifest: ModelManifest, role: str, signature: Signature
) -> tuple[list[str], list[str]]:
    """(input problems, output problems) of one file of a model against its task."""
    if manifest.task == "promptable-segment":
        if role == "encoder":
            return encoder_problems(signature)
        return (
            match("input", DECODER_INPUTS, signature.inputs, others=False),
            match("output", DECODER_OUTPUTS, signature.outputs, others=True),
        )
    width, height = manifest.input_size
    outputs = SEGMENT_OUTPUTS if manifest.task == "segment" else DETECT_OUTPUTS
    return (
        match("input", detect_inputs(width, height), signature.inputs, others=False),
        match("output", outputs, signature.outputs, others=True),
    )


def manifest_problems(manifest: ModelManifest) -> list[str]:
    """What a manifest gets wrong for its task, beyond its own schema."""
    problems = []
    if not all(MIN_SIDE <= side <= MAX_SIDE for side in manifest.input_size):
        problems.append(f"input_size sides must be from {MIN_SIDE} to {MAX_SIDE} pixels")
    if manifest.task in ("detect", "segment"):
        if not manifest.labels:
            problems.append("a detector's manifest lists its output classes in `labels`")
        if not manifest.class_map:
            problems.append("`class_map` maps none of the model's labels to a project class")
    unknown = sorted(set(manifest.class_map) - set(manifest.labels))
    if manifest.labels and unknown:
        problems.append(f"class_map names labels the model does not have: {unknown[:10]}")
    if len(set(manifest.labels)) != len(manifest.labels):
        problems.append("`labels` repeats a label")
    return problems
