"""The one error the SDK raises for an API refusal: status, machine-readable code, message."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from aviary.client.answers import read_answer_json
from aviary.contracts.errors import ErrorBody
from aviary.contracts.ingest import DeletionRead


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
            error = read_answer_json(ErrorBody, response.content).error
        except ValidationError:
            return cls(response.status_code, "http_error", response.text[:500] or "no body")
        return cls(response.status_code, error.code, error.message, error.details)


class VerificationError(Exception):
    """A downloaded delivery does not match its checksums."""


class DeletionTimeout(TimeoutError):
    """A deletion still pending when `wait_for_deletion` stopped waiting. It goes on: ask
    again later (`deletion(id)`); `deletion` is how it stood when the wait ended."""

    def __init__(self, deletion: DeletionRead, timeout_s: float) -> None:
        done = ", ".join(deletion.services_done) or "none yet"
        super().__init__(
            f"deletion {deletion.id} of {deletion.scope} {deletion.target_id} is still "
            f"{deletion.status} after {timeout_s:g} s (services done: {done})"
        )
        self.deletion = deletion
        self.timeout_s = timeout_s
