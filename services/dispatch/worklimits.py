"""Daily work limits: the rules, apart from where the numbers are kept.

A vendor sets hours per day for a group (interns, say) or for one annotator; an annotator's own
limit wins over the group's, the group's over the platform default. Days are UTC days; time
counts from lease to submit, skip or release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

INTERN_GROUP = "intern"


@dataclass(frozen=True)
class Defaults:
    daily_hours: float
    intern_daily_hours: float


@dataclass
class VendorLimits:
    """What one vendor has configured."""

    groups: dict[str, float] = field(default_factory=dict)  # group -> hours per day
    members: dict[str, str] = field(default_factory=dict)  # annotator -> group
    annotators: dict[str, float] = field(default_factory=dict)  # annotator -> hours per day

    def daily_hours(self, annotator_id: str, defaults: Defaults) -> float:
        if annotator_id in self.annotators:
            return self.annotators[annotator_id]
        group = self.members.get(annotator_id)
        if group is not None and group in self.groups:
            return self.groups[group]
        if group == INTERN_GROUP:
            return defaults.intern_daily_hours
        return defaults.daily_hours


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def seconds_to_next_day(moment: datetime) -> int:
    moment = moment.astimezone(UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((midnight - moment).total_seconds()))


def worked_seconds(started_at: datetime, ended_at: datetime) -> float:
    """Time on a task: from lease to the annotator's last action, never negative."""
    return max(0.0, (ended_at - started_at).total_seconds())


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
