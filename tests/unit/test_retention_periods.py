"""A project's retention periods (client/aviary/contracts/privacy.py) and what ingest's sweep
deletes at each (services/ingest/retention.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aviary.contracts.privacy import RetentionSettings
from services.ingest.retention import periods


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ({}, []),
        ({"days_after_delivery": 30}, [(30, ("records", "media", "packages"))]),
        (
            {"days_after_delivery": 30, "media_days_after_delivery": 7},
            [(30, ("records", "media", "packages")), (7, ("media", "packages"))],
        ),
        # Packages go with the media: a longer packages period adds nothing.
        (
            {"media_days_after_delivery": 7, "packages_days_after_delivery": 9},
            [(7, ("media", "packages"))],
        ),
        (
            {"media_days_after_delivery": 7, "packages_days_after_delivery": 2},
            [(7, ("media", "packages")), (2, ("packages",))],
        ),
        ({"packages_days_after_delivery": 2}, [(2, ("packages",))]),
    ],
)
def test_each_period_deletes_its_parts(retention: dict[str, int], expected: list[object]) -> None:
    settings = RetentionSettings.model_validate(retention)
    assert periods(settings.model_dump()) == expected


@pytest.mark.parametrize(
    "retention",
    [
        {"days_after_delivery": 30, "media_days_after_delivery": 30},
        {"days_after_delivery": 10, "packages_days_after_delivery": 40},
        {"media_days_after_delivery": 0},
        {"packages_days_after_delivery": 4000},
    ],
)
def test_a_part_cannot_outlive_the_whole_or_leave_the_range(retention: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        RetentionSettings.model_validate(retention)
