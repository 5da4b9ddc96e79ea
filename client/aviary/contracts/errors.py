"""The one shape of every error answer: `{"error": {"code", "message", "details"?}}`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str  # machine-readable, stable: what a client branches on
    message: str  # for people
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail
