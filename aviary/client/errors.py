"""The one error the SDK raises for an API refusal: status, machine-readable code, message."""

from __future__ import annotations

from typing import Any

import httpx


class AviaryError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, response: httpx.Response) -> AviaryError:
        try:
            error = response.json()["error"]
            return cls(response.status_code, error["code"], error["message"], error.get("details"))
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, "http_error", response.text[:500] or "no body")


class VerificationError(Exception):
    """A downloaded delivery does not match its checksums."""
