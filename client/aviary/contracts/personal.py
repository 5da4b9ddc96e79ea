"""A person's own data, as each service answers `GET /v1/me/data` (docs/privacy.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class PersonalData(BaseModel):
    """Everything one service keeps about the caller: `records` by kind (work days, leases,
    submissions, scores, tokens, ...), each a list of the stored documents as they are."""

    service: str
    subject: str
    org_id: str
    generated_at: datetime
    records: dict[str, list[dict[str, Any]]]
