"""What a deletion removes from review: the submissions (each annotator's work with its
review, rejection and appeal), consensus disputes, the gold answers, which items are being
compared, and the project's per-person counts, recent outcomes, onboarding standings,
training feedback and per-model statistics.
Minimum wages are the vendor's, not the client's, and stay."""

from __future__ import annotations

from shared.store.erasure import NONE, Erasable, ErasurePlan, Level

SUBMISSIONS = "submissions"


def plan() -> ErasurePlan:
    by_project: tuple[str, Level] = ("_id", "project")
    return ErasurePlan(
        collections=(
            Erasable(SUBMISSIONS),
            Erasable("disputes"),
            Erasable("gold", batch=None),
            Erasable(
                "overlaps", org=None, batch=None, item="_id", linked=("_id", SUBMISSIONS, "item_id")
            ),
            Erasable("annotators", *NONE, prefixed=by_project),
            Erasable("outcomes", *NONE, prefixed=by_project),
            Erasable("model_stats", *NONE, prefixed=by_project),
            # Onboarding: each person's standing in the project, and training feedback (by
            # submission: it holds the gold item's answer).
            Erasable("onboarding", batch=None, item=None),
            Erasable("feedback", *NONE, linked=("_id", SUBMISSIONS, "_id")),
            Erasable("projects", project="_id", batch=None, item=None),
        ),
    )
