"""Reading the API's answers: tolerant of fields a newer server added.

The contracts forbid unknown fields in what a client sends (a typo must not pass silently),
and some of those models (ontologies, review policies, vendor shares) come back inside answers.
A server of a later release may add optional fields to them; an SDK of this release must still
read the answer, so it ignores what it does not know, at every depth.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Answer = TypeVar("Answer", bound=BaseModel)


def read_answer(model: type[Answer], data: Any) -> Answer:
    return model.model_validate(data, extra="ignore")


def read_answer_json(model: type[Answer], body: bytes) -> Answer:
    return model.model_validate_json(body, extra="ignore")
