"""The SDK's onboarding calls (docs/onboarding.md): a new person's training and exam tasks and
the feedback on them, standings, and admission by a vendor admin's hand."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aviary.client.answers import read_answer
from aviary.client.errors import AviaryError
from aviary.client.transport import Transport
from aviary.contracts.onboarding import Feedback, GatedProject, OnboardingRead

FEEDBACK_POLL_S = 0.25


class OnboardingCalls(Transport):
    async def onboarding_next(self, project_id: str) -> dict[str, Any]:
        """The caller's next training task of a project, or once training is done the next
        exam task (`stage`, `progress`); submitted like any task. Raises AviaryError 409
        `already_admitted`, `being_scored`, `retry_later` (`details["retry_at"]`), ..."""
        path = f"/v1/projects/{project_id}/onboarding/next"
        return dict(await self._json("POST", "dispatch", path))

    async def training_feedback(self, submission_id: str, wait_s: float = 30.0) -> Feedback:
        """What a training submission got right and wrong, shape by shape or word by word;
        asked again while review scores it (up to `wait_s`)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                data = await self._json("GET", "review", f"/v1/feedback/{submission_id}")
                return read_answer(Feedback, data)
            except AviaryError as error:
                if error.code != "not_scored_yet" or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(FEEDBACK_POLL_S)

    async def my_onboarding(self) -> list[OnboardingRead]:
        """The caller's standing in each project that asks for onboarding (and any other they
        have a skill in): stage, exam attempts, admission, skill."""
        rows = await self._json("GET", "review", "/v1/onboarding/me")
        return [read_answer(OnboardingRead, r) for r in rows]

    async def gated_projects(self) -> list[GatedProject]:
        """The projects asking for onboarding that the caller oversees (a vendor admin: its
        vendor's, with its own people counted; a client: its own; the operator: all)."""
        rows = await self._json("GET", "review", "/v1/onboarding/projects")
        return [read_answer(GatedProject, r) for r in rows]

    async def project_onboarding(self, project_id: str) -> list[OnboardingRead]:
        """Everyone's standing in a project, as the caller may see them."""
        rows = await self._json("GET", "review", f"/v1/projects/{project_id}/onboarding")
        return [read_answer(OnboardingRead, r) for r in rows]

    async def admit(
        self, project_id: str, annotator_id: str, reason: str, admitted: bool = True
    ) -> OnboardingRead:
        """A vendor admin admits one of its people without the exam (or, `admitted=False`,
        takes the admission back); the reason goes to the audit log."""
        path = f"/v1/projects/{project_id}/onboarding/{annotator_id}"
        body = {"admitted": admitted, "reason": reason}
        return read_answer(OnboardingRead, await self._json("PUT", "review", path, json=body))
