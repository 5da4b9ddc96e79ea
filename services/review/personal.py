"""What review keeps about one person, for their own export (shared/security/personal_data.py):
their submissions with each review, rejection and appeal; their counts and recent outcomes per
project; and, for a reviewer, the submissions they decided."""

from __future__ import annotations

from services.review.deps import ReviewParts
from shared.security.personal_data import Collector
from shared.store.mongo import Doc


def collector(parts: ReviewParts) -> Collector:
    async def collect(org_id: str, subject: str) -> dict[str, list[Doc]]:
        submitted = await parts.submissions.of_annotator(org_id, subject)
        projects = {doc["project_id"] for doc in submitted}
        return {
            "submissions": submitted,
            "scores": await parts.annotators.scores_of(org_id, subject, projects),
            "decided": await parts.submissions.decided_by(org_id, subject),
        }

    return collect
