"""Refusing a model that could not work, before it is kept: each file must load in
onnxruntime and take and give what its task says (tasks.py); a detector must also run once,
on a blank image, and answer in the shapes its task promises."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np

from aviary.contracts.assist import ModelManifest
from services.assist.models.runner import read_detections, signature_of
from services.assist.models.tasks import ROLES, manifest_problems, signature_problems
from shared.errors import AppError
from shared.vision.detector_model import letterbox, open_session


def _refuse(code: str, message: str, details: object | None = None) -> AppError:
    return AppError(code, message, status_code=422, details=details)


def check_manifest(manifest: ModelManifest, roles: set[str]) -> None:
    """422 `invalid_manifest` or `wrong_files` before any file is opened."""
    if problems := manifest_problems(manifest):
        raise _refuse("invalid_manifest", "; ".join(problems), problems)
    wanted = ROLES[manifest.task]
    if roles != set(wanted):
        raise _refuse(
            "wrong_files",
            f"a {manifest.task} model comes as the file(s) {', '.join(wanted)}; "
            f"got {', '.join(sorted(roles)) or 'none'}",
        )


def _load(role: str, data: bytes) -> Any:
    try:
        # The CPU provider alone: a check must not take a GPU's memory for a while.
        return open_session(data, threads=1, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors share no base class but Exception
        raise _refuse(
            "not_onnx", f"the {role} file is not an ONNX model onnxruntime can load: {exc}"[:500]
        ) from exc


def _dry_run(manifest: ModelManifest, session: Any) -> None:
    width, height = manifest.input_size
    tensor, box = letterbox(np.zeros((height, width, 3), np.uint8), manifest.input_size)
    names = [o.name for o in session.get_outputs()]
    try:
        values = session.run(names, {"images": tensor})
        outputs = dict(zip(names, values, strict=True))
        if manifest.task == "detect":
            outputs.pop("masks", None)
        read_detections(outputs, box, 0.0)
    except ValueError as exc:
        raise _refuse("wrong_outputs", f"on a blank image the model answered with {exc}") from exc
    except Exception as exc:
        raise _refuse("model_failed", f"the model failed on a blank image: {exc}"[:500]) from exc


def check_files_sync(manifest: ModelManifest, files: Mapping[str, bytes]) -> None:
    """Load every file, match it to the task's contract, run a detector once; 422 with a
    machine code (`not_onnx`, `wrong_inputs`, `wrong_outputs`, `model_failed`) otherwise."""
    check_manifest(manifest, set(files))
    inputs: dict[str, list[str]] = {}
    outputs: dict[str, list[str]] = {}
    sessions = {}
    for role, data in files.items():
        session = _load(role, data)
        sessions[role] = session
        wrong_in, wrong_out = signature_problems(manifest, role, signature_of(session))
        if wrong_in:
            inputs[role] = wrong_in
        if wrong_out:
            outputs[role] = wrong_out
    for code, problems, what in (
        ("wrong_inputs", inputs, "inputs"),
        ("wrong_outputs", outputs, "outputs"),
    ):
        if problems:
            listed = "; ".join(f"{role}: {', '.join(p)}" for role, p in problems.items())
            raise _refuse(
                code, f"the model's {what} do not fit a {manifest.task} model: {listed}", problems
            )
    if manifest.task in ("detect", "segment"):
        _dry_run(manifest, sessions["model"])


async def check_files(manifest: ModelManifest, files: Mapping[str, bytes]) -> None:
    """`check_files_sync` in a worker thread (loading a large model takes seconds)."""
    await asyncio.to_thread(check_files_sync, manifest, files)
