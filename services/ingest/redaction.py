"""What a project's redaction asks of ingest: whether pictures and frames are blurred as they
come in, by what (OpenCV's cascades, the operator's model, or both), and whether the
original is stored (docs/privacy.md).

The finders are made once a process: the cascades are read per thread on first use, the
operator's model (`Settings.redaction_model_dir`) loaded at start-up (main.py), so a broken
model holds the start (the service is not ready, the log says why) rather than failing
uploads. OpenCV and onnxruntime are imported only by the processes that redact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aviary.contracts.privacy import RedactionSettings
from shared.errors import AppError
from shared.settings import Settings
from shared.store.mongo import Doc

if TYPE_CHECKING:
    from shared.vision.redaction import Finder
    from shared.vision.redaction_model import ModelFinder


@dataclass(frozen=True)
class Redaction:
    """A project's redaction as an upload applies it."""

    settings: RedactionSettings
    finder: Finder | None  # None: nothing is blurred

    @classmethod
    def of(cls, project: Doc, settings: Settings) -> Redaction:
        chosen = RedactionSettings.model_validate(
            (project.get("privacy") or {}).get("redaction") or {}
        )
        if chosen.mode == "off":
            return cls(chosen, None)
        return cls(chosen, finder_for(chosen.detector, settings.redaction_model_dir))

    @property
    def keeps_original(self) -> bool:
        """The client's delivery needs the original unless everyone sees the blurred copy."""
        return self.settings.mode != "everyone" or self.settings.keep_original


def check_detector(redaction: RedactionSettings, settings: Settings) -> None:
    """A project may choose the operator's model only where the operator configured one."""
    if redaction.detector != "cascades" and settings.redaction_model_dir is None:
        raise no_model()


def finder_for(detector: str, model_dir: Path | None) -> Finder:
    from shared.vision.redaction import Finders, default_detector

    if detector == "cascades":
        return default_detector()
    if model_dir is None:
        raise no_model()
    model = operator_model(model_dir)
    return model if detector == "model" else Finders([default_detector(), model])


@functools.cache
def operator_model(model_dir: Path) -> ModelFinder:
    """The operator's redaction model, loaded once a process (RedactionModelError when it
    cannot be used)."""
    from shared.vision.redaction_model import ModelFinder

    return ModelFinder.load(model_dir)


def no_model() -> AppError:
    return AppError(
        "no_redaction_model",
        "this deployment has no redaction model (the operator's redaction_model_dir); "
        "choose the detector 'cascades'",
        status_code=422,
    )
