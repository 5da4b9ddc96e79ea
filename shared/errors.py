"""One exception type for every expected failure, rendered by one handler as a JSON error."""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: object | None = None) -> dict[str, Any]:
    """The JSON body of every error answer: `{"error": {"code", "message", "details"?}}`."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


class AppError(Exception):
    """A failure the client can act on: an HTTP status, a machine-readable code, a message."""

    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int | None = None,
        details: object | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        self.headers = headers or {}


class NotFound(AppError):
    """Also used for other tenants' resources, so ids do not leak."""

    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} not found", status_code=404)


class Conflict(AppError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, status_code=409)


class Unavailable(AppError):
    """A dependency is down: the client should retry later; nothing was stored."""

    def __init__(self, what: str, retry_after_s: int = 5) -> None:
        super().__init__(
            "unavailable",
            f"{what} is unavailable, retry later",
            status_code=503,
            headers={"Retry-After": str(retry_after_s)},
        )


class RetryLater(Exception):
    """Raised by an event handler when the event cannot be applied yet (e.g. data not arrived)."""


class PermanentFailure(Exception):
    """Raised by an event handler for an event that can never succeed: dead-letter it at once."""


class StartupError(Exception):
    """The process cannot serve as configured or installed: it says why and exits (code 78)."""
