"""Slots: who may work on a task, decided by unique keys, not by updates (ADR 0006, 0008).

Each round of a task (its `rework` count) has numbered slots, `<task>/<round>/<slot>`. A slot
is taken by exactly one insert into `claims`: a lease (someone works on the task) or the
record that ends the lease before it (its holder submitted, released or skipped). Hence:

- two `next` calls that pick the same task race for the same slot, and one insert wins;
- a holder submits by ending its lease in the slot after it, which fails once somebody has
  leased that slot (the lease expired and the task went on), and once it succeeds nobody can
  lease the task again in this round;
- a stale view of a task always names a taken slot: every change of who may take a task
  (expiry, release, skip, rework) moves the task's `next_slot` on.

Every record carries the lease's `expires_at`, so the sweep that frees abandoned leases reads
one date range (an index) and finds each lease beside the record that ended it. This module
is the pure part: keys, lease ids, records.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

Doc = dict[str, Any]

_LEASE_ID = re.compile(r"^(\d{1,6})\.(\d{1,6})\.([0-9a-f]{16})$")


class LeaseEnd(StrEnum):
    """How a lease ended, as recorded in the slot after it."""

    SUBMITTED = "submitted"
    RELEASED = "released"
    SKIPPED = "skipped"
    DROPPED = "dropped"  # the task's item left its batch (flagged_store.py): nobody may go on


def slot_key(task_id: str, round_: int, slot: int) -> str:
    return f"{task_id}/{round_}/{slot}"


def open_entry(task_id: str, round_: int) -> str:
    """A task's round on its group's open list (`open_lists.py`)."""
    return f"{task_id}:{round_}"


def lease_id(round_: int, slot: int, nonce: str) -> str:
    """What the annotator holds: it names the slot, and the nonce proves it was handed out."""
    return f"{round_}.{slot}.{nonce}"


def parse_lease_id(text: str) -> tuple[int, int, str] | None:
    match = _LEASE_ID.match(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), match[3]


@dataclass(frozen=True)
class Lease:
    """One annotator's hold on one slot of a task, until `expires_at`."""

    task_id: str
    round: int
    slot: int
    nonce: str
    annotator_id: str
    vendor_id: str  # the vendor doing the work (differs from the task's on backlog takeover)
    started_at: datetime
    expires_at: datetime
    # Its records carry the project and batch: a deletion finds them by one field.
    project_id: str = ""
    batch_id: str = ""

    @classmethod
    def new(
        cls, task: Doc, annotator_id: str, vendor_id: str, now: datetime, ttl_s: float
    ) -> Lease:
        return cls(
            task_id=str(task["_id"]),
            round=int(task.get("rework", 0)),
            slot=int(task.get("next_slot", 0)),
            nonce=secrets.token_hex(8),
            annotator_id=annotator_id,
            vendor_id=vendor_id,
            started_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            project_id=str(task.get("project_id", "")),
            batch_id=str(task.get("batch_id", "")),
        )

    @property
    def id(self) -> str:
        return lease_id(self.round, self.slot, self.nonce)

    @property
    def key(self) -> str:
        return slot_key(self.task_id, self.round, self.slot)

    @property
    def next_key(self) -> str:
        """The slot the record that ends this lease takes."""
        return slot_key(self.task_id, self.round, self.slot + 1)

    def moved_to(self, slot: int, expires_at: datetime) -> Lease:
        """The same lease taken again in a later slot (a heartbeat after it was freed)."""
        return replace(self, slot=slot, expires_at=expires_at)

    def to_doc(self) -> Doc:
        return {
            "_id": self.key,
            "kind": "lease",
            "task_id": self.task_id,
            "round": self.round,
            "slot": self.slot,
            "nonce": self.nonce,
            "annotator_id": self.annotator_id,
            "vendor_id": self.vendor_id,
            "started_at": self.started_at,
            "expires_at": self.expires_at,
            "project_id": self.project_id,
            "batch_id": self.batch_id,
        }

    @classmethod
    def from_doc(cls, doc: Doc) -> Lease:
        return cls(
            task_id=doc["task_id"],
            round=int(doc["round"]),
            slot=int(doc["slot"]),
            nonce=doc["nonce"],
            annotator_id=doc["annotator_id"],
            vendor_id=doc["vendor_id"],
            started_at=doc["started_at"],
            expires_at=doc["expires_at"],
            project_id=doc.get("project_id", ""),
            batch_id=doc.get("batch_id", ""),
        )


@dataclass(frozen=True)
class LeasedTask:
    """A task and the lease on it that a worker call acts on."""

    task: Doc
    lease: Lease


def ending_doc(lease: Lease, end: LeaseEnd, at: datetime, **details: Any) -> Doc:
    """The record that ends `lease`, in the slot after it."""
    return {
        "_id": lease.next_key,
        "kind": end.value,
        "task_id": lease.task_id,
        "round": lease.round,
        "slot": lease.slot + 1,
        "closes": lease.slot,
        "nonce": lease.nonce,
        "annotator_id": lease.annotator_id,
        "vendor_id": lease.vendor_id,
        "at": at,
        "expires_at": lease.expires_at,  # beside its lease in the sweep's date range
        "project_id": lease.project_id,
        "batch_id": lease.batch_id,
        **details,
    }


def dropping(
    task: Doc, round_: int, slot: int, records: dict[str, Doc], now: datetime
) -> Doc | None:
    """The record that closes a round whose item was dropped, in its first free slot from
    `slot` on (`records`: the slots read, by key). After a live lease it ends that lease;
    in a slot nobody holds it keeps leases out. A round a submit ended needs none."""
    task_id = str(task["_id"])
    last: Doc | None = None
    while (record := records.get(slot_key(task_id, round_, slot))) is not None:
        last, slot = record, slot + 1
    if last is not None and last.get("kind") == LeaseEnd.SUBMITTED:
        return None
    return {
        "_id": slot_key(task_id, round_, slot),
        "kind": LeaseEnd.DROPPED.value,
        "task_id": task_id,
        "project_id": task.get("project_id", ""),
        "batch_id": task.get("batch_id", ""),
        "round": round_,
        "slot": slot,
        "at": now,
        # Beside the lease it ends, where the sweep and the retention look.
        "expires_at": last["expires_at"] if last is not None and is_lease(last) else now,
    }


def is_lease(doc: Doc | None) -> bool:
    return doc is not None and doc.get("kind") == "lease"


def follow(start: Doc, later: dict[int, Doc]) -> Doc:
    """The newest slot of one lease: a heartbeat that found the lease freed but not yet taken
    leases the task again in the next slot with the same nonce; `later` maps slot -> record."""
    current = start
    while True:
        nxt = later.get(int(current["slot"]) + 1)
        if nxt is None or not is_lease(nxt) or nxt["nonce"] != current["nonce"]:
            return current
        current = nxt


def abandoned(records: list[Doc], now: datetime) -> list[Doc]:
    """Of the records whose `expires_at` fell in one range, the leases past their expiry with
    nothing in the slot after them among `records` (ended or renewed ones have). Those the
    range cut off from their next record are checked again by key."""
    taken = {slot_key(r["task_id"], int(r["round"]), int(r["slot"])) for r in records}
    return [
        r
        for r in records
        if is_lease(r)
        and r["expires_at"] <= now
        and slot_key(r["task_id"], int(r["round"]), int(r["slot"]) + 1) not in taken
    ]
