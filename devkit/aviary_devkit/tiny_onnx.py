"""Tiny ONNX models for the assist tests and benchmarks, made here with the `onnx` package's
helpers: the real loading and running code, on models whose answers the tests can predict.

- `detector`: finds the bright part of the image (pixels whose mean over RGB is above 0.5) as
  one box, label 0, scored 0.4 + 0.5 x the brightest pixel; and a constant box [0, 0, 10, 10],
  label 1, scored 0.2. With `masks=True` (a segment model) the first detection's mask is the
  bright pixels, the second's empty.
- `promptable`: an encoder (average-pooled image) and a decoder whose mask is the box given by
  the corner points (labels 2 and 3), mapped back to the original image's pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
BIG = 1.0e6


def _const(name: str, value: Any, dtype: Any = np.float32) -> Any:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name)
    )


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any]) -> bytes:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _extent(prefix: str, occupancy: str, size: str) -> list[Any]:
    """Nodes computing `<prefix>lo` and `<prefix>hi` ([1] each): the first index where
    `occupancy` is set and one past the last."""
    p = prefix
    return [
        _const(f"{p}zero", 0, np.int64),
        _const(f"{p}one", 1, np.int64),
        helper.make_node("Range", [f"{p}zero", size, f"{p}one"], [f"{p}idx"]),
        helper.make_node("Cast", [f"{p}idx"], [f"{p}pos"], to=TensorProto.FLOAT),
        _const(f"{p}half", 0.5),
        helper.make_node("Greater", [occupancy, f"{p}half"], [f"{p}set"]),
        _const(f"{p}big", BIG),
        _const(f"{p}small", -BIG),
        _const(f"{p}onef", 1.0),
        helper.make_node("Add", [f"{p}pos", f"{p}onef"], [f"{p}end"]),
        helper.make_node("Where", [f"{p}set", f"{p}pos", f"{p}big"], [f"{p}los"]),
        helper.make_node("Where", [f"{p}set", f"{p}end", f"{p}small"], [f"{p}his"]),
        helper.make_node("ReduceMin", [f"{p}los"], [f"{p}lo"], keepdims=1),
        helper.make_node("ReduceMax", [f"{p}his"], [f"{p}hi"], keepdims=1),
    ]


def detector(width: int = 64, height: int = 64, *, masks: bool = False) -> bytes:
    """A detect (or, with `masks`, segment) model taking `images` [1, 3, height, width]."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["gray"], axes=[1], keepdims=0),  # [1,H,W]
        _const("mid", 0.5),
        helper.make_node("Greater", ["gray", "mid"], ["bright"]),
        helper.make_node("Cast", ["bright"], ["brightf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["brightf"], ["cols"], axes=[0, 1], keepdims=0),  # [W]
        helper.make_node("ReduceMax", ["brightf"], ["rows"], axes=[0, 2], keepdims=0),  # [H]
        helper.make_node("Shape", ["images"], ["shape"]),
        _const("iw", 3, np.int64),
        _const("ih", 2, np.int64),
        helper.make_node("Gather", ["shape", "iw"], ["W"], axis=0),
        helper.make_node("Gather", ["shape", "ih"], ["H"], axis=0),
        *_extent("x", "cols", "W"),
        *_extent("y", "rows", "H"),
        helper.make_node("Concat", ["xlo", "ylo", "xhi", "yhi"], ["box0"], axis=0),
        _const("row", [1, 4], np.int64),
        helper.make_node("Reshape", ["box0", "row"], ["box0r"]),
        _const("box1", [[0, 0, 10, 10]]),
        helper.make_node("Concat", ["box0r", "box1"], ["boxes"], axis=0),
        helper.make_node("ReduceMax", ["gray"], ["peak3"], keepdims=1),
        _const("flat1", [1], np.int64),
        helper.make_node("Reshape", ["peak3", "flat1"], ["peak"]),
        _const("gain", 0.5),
        _const("base", 0.4),
        helper.make_node("Mul", ["peak", "gain"], ["peakg"]),
        helper.make_node("Add", ["peakg", "base"], ["score0"]),
        _const("score1", [0.2]),
        helper.make_node("Concat", ["score0", "score1"], ["scores"], axis=0),
        _const("labels", [0, 1], np.int64),
    ]
    outputs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["n", 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n"]),
        helper.make_tensor_value_info("labels", TensorProto.INT64, ["n"]),
    ]
    if masks:
        nodes += [
            _const("nothing", 0.0),
            helper.make_node("Mul", ["brightf", "nothing"], ["empty"]),
            helper.make_node("Concat", ["brightf", "empty"], ["masks"], axis=0),
        ]
        outputs.append(helper.make_tensor_value_info("masks", TensorProto.FLOAT, ["n", "h", "w"]))
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, height, width])
    return _model(nodes, [images], outputs)


def encoder(side: int = 64) -> bytes:
    """An image encoder: [1, 3, side, side] -> `image_embeddings` [1, 3, side/16, side/16]."""
    nodes = [
        helper.make_node(
            "AveragePool", ["image"], ["image_embeddings"], kernel_shape=[16, 16], strides=[16, 16]
        )
    ]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, side, side])
    out = helper.make_tensor_value_info(
        "image_embeddings", TensorProto.FLOAT, [1, 3, side // 16, side // 16]
    )
    return _model(nodes, [image], [out])


def decoder(side: int = 64, *, with_optional: bool = True) -> bytes:
    """A prompt decoder: the mask is the box between the points labelled 2 and 3 (in the
    encoder's input pixels, mapped back with `orig_im_size`), as logits +10 inside, -10 out."""
    nodes = [
        _const("two", 2.0),
        _const("three", 3.0),
        helper.make_node("Equal", ["point_labels", "two"], ["is2b"]),
        helper.make_node("Equal", ["point_labels", "three"], ["is3b"]),
        helper.make_node("Cast", ["is2b"], ["is2"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["is3b"], ["is3"], to=TensorProto.FLOAT),
        _const("i0", 0, np.int64),
        _const("i1", 1, np.int64),
        helper.make_node("Gather", ["point_coords", "i0"], ["px"], axis=2),  # [1, P]
        helper.make_node("Gather", ["point_coords", "i1"], ["py"], axis=2),
        # The image's long side over the encoder's: input pixels back to the image's.
        helper.make_node("ReduceMax", ["orig_im_size"], ["long"], keepdims=0),
        _const("side", float(side)),
        helper.make_node("Div", ["long", "side"], ["factor"]),
    ]
    for name, coords, which in (
        ("x1", "px", "is2"),
        ("y1", "py", "is2"),
        ("x2", "px", "is3"),
        ("y2", "py", "is3"),
    ):
        nodes += [
            helper.make_node("Mul", [coords, which], [f"{name}m"]),
            helper.make_node("ReduceSum", [f"{name}m"], [f"{name}s"], keepdims=0),
            helper.make_node("Mul", [f"{name}s", "factor"], [name]),
        ]
    nodes += [
        helper.make_node("Gather", ["orig_im_size", "i0"], ["hf"], axis=0),
        helper.make_node("Gather", ["orig_im_size", "i1"], ["wf"], axis=0),
        helper.make_node("Cast", ["hf"], ["H"], to=TensorProto.INT64),
        helper.make_node("Cast", ["wf"], ["W"], to=TensorProto.INT64),
        _const("one", 1, np.int64),
        helper.make_node("Range", ["i0", "H", "one"], ["ri"]),
        helper.make_node("Range", ["i0", "W", "one"], ["ci"]),
        helper.make_node("Cast", ["ri"], ["rf"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["ci"], ["cf"], to=TensorProto.FLOAT),
        _const("halfpx", 0.5),
        helper.make_node("Add", ["rf", "halfpx"], ["rc"]),
        helper.make_node("Add", ["cf", "halfpx"], ["cc"]),
        helper.make_node("GreaterOrEqual", ["rc", "y1"], ["r1"]),
        helper.make_node("Less", ["rc", "y2"], ["r2"]),
        helper.make_node("GreaterOrEqual", ["cc", "x1"], ["c1"]),
        helper.make_node("Less", ["cc", "x2"], ["c2"]),
        helper.make_node("And", ["r1", "r2"], ["rin"]),
        helper.make_node("And", ["c1", "c2"], ["cin"]),
        _const("ax1", [1], np.int64),
        _const("ax0", [0], np.int64),
        helper.make_node("Unsqueeze", ["rin", "ax1"], ["rin2"]),
        helper.make_node("Unsqueeze", ["cin", "ax0"], ["cin2"]),
        helper.make_node("And", ["rin2", "cin2"], ["inside"]),
        _const("pos", 10.0),
        _const("neg", -10.0),
        helper.make_node("Where", ["inside", "pos", "neg"], ["logits"]),
        _const("ax01", [0, 1], np.int64),
        helper.make_node("Unsqueeze", ["logits", "ax01"], ["masks"]),
        helper.make_node("ReduceMean", ["image_embeddings"], ["emb"], keepdims=0),
        _const("zero", 0.0),
        helper.make_node("Mul", ["emb", "zero"], ["embz"]),
        _const("iou", [[0.87]]),
        helper.make_node("Add", ["iou", "embz"], ["iou_predictions"]),
    ]
    inputs = [
        helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 3, "eh", "ew"]),
        helper.make_tensor_value_info("point_coords", TensorProto.FLOAT, [1, "p", 2]),
        helper.make_tensor_value_info("point_labels", TensorProto.FLOAT, [1, "p"]),
        helper.make_tensor_value_info("orig_im_size", TensorProto.FLOAT, [2]),
    ]
    if with_optional:
        inputs += [
            helper.make_tensor_value_info("mask_input", TensorProto.FLOAT, [1, 1, 256, 256]),
            helper.make_tensor_value_info("has_mask_input", TensorProto.FLOAT, [1]),
        ]
    outputs = [
        helper.make_tensor_value_info("masks", TensorProto.FLOAT, [1, 1, "h", "w"]),
        helper.make_tensor_value_info("iou_predictions", TensorProto.FLOAT, [1, 1]),
    ]
    return _model(nodes, inputs, outputs)


def identity(name: str = "x", shape: tuple[int, ...] = (1, 3, 64, 64)) -> bytes:
    """A model that fits no task: its one input and output are named `name` and `y`."""
    nodes = [helper.make_node("Identity", [name], ["y"])]
    x = helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))
    return _model(nodes, [x], [y])


def bright_rectangle(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A black RGB image with a white rectangle at `box` (left, top, right, bottom)."""
    image = np.zeros((height, width, 3), np.uint8)
    left, top, right, bottom = box
    image[top:bottom, left:right] = 255
    return image


def manifest(name: str, task: str = "detect", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "task": task,
        "input_size": [64, 64],
        "licence": "MIT",
    }
    if task in ("detect", "segment"):
        base |= {
            "labels": ["thing", "corner"],
            "class_map": {"thing": "car", "corner": "sign"},
            "score_threshold": 0.3,
        }
    return base | fields
