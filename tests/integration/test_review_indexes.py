"""Review's start-up replaces the index an earlier version made on review leases."""

from __future__ import annotations

import pytest

from services.review.deps import ReviewParts
from shared.settings import Settings
from tests.support import service_runtime

pytestmark = pytest.mark.integration


async def test_start_up_replaces_the_whole_history_lease_index(settings: Settings) -> None:
    async with service_runtime("review", settings) as runtime:
        units = ReviewParts.build(runtime).units
        for collection in (units.submissions, units.disputes):
            await collection.create_index([("lease.reviewer_id", 1)])  # as 0.2.0 made it
        for _ in range(2):  # and again, as every later start does
            await units.ensure_indexes()
        for collection in (units.submissions, units.disputes):
            indexes = await collection.index_information()
            assert "lease.reviewer_id_1" not in indexes
            assert indexes["in_review_by_reviewer"]["partialFilterExpression"] == {
                "status": "in_review"
            }
