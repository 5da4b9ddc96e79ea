"""The claim chain: who may work on a task, decided by unique keys, not by updates.

Each round of a task (its `rework` count) has numbered claim slots, `<task>/<round>/<slot>`.
A slot is taken by exactly one insert, either a lease (someone works on the task) or a record
that closes the lease before it (the holder submitted, released or skipped). Hence:

- two `next` calls that pick the same task race for the same slot, and one insert wins;
- a holder submits by closing the slot after its own lease, which fails once somebody has
  leased that slot (the lease expired and the task went to someone else), and once it
  succeeds nobody can lease the task again in this round;
- a stale view of a task always names a slot that is taken: every change of who may take a
  task (expiry, release, skip, rework) moves the task's `next_slot` on.

On the embedded database an insert of a new key costs a fraction of a conditional update
(no query plan, no read, no diff of the old document), so the hot path (lease, submit) writes
no task document at all. Which tasks are still open lives in one document per group of tasks
created together (`task_groups`, entries `<task>:<round>`): a submit group inserts one `done`
record naming its tasks, and a background pass takes them off their groups' open lists (one
write per group, not per task). This module holds the pure part: keys, lease ids, records.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

Doc = dict[str, Any]

_LEASE_ID = re.compile(r"^(\d{1,6})\.(\d{1,6})\.([0-9a-f]{16})$")


class Closing(StrEnum):
    """How a lease ended, as recorded in the slot after it."""

    SUBMITTED = "submitted"
    RELEASED = "released"
    SKIPPED = "skipped"


def slot_key(task_id: str, round_: int, slot: int) -> str:
    return f"{task_id}/{round_}/{slot}"


def open_entry(task_id: str, round_: int) -> str:
    """A task's round on its group's open list."""
    return f"{task_id}:{round_}"


def entry_task(entry: str) -> str:
    return entry.rpartition(":")[0]


def lease_id(round_: int, slot: int, nonce: str) -> str:
    """What the annotator holds: it names the slot, and the nonce proves it was handed out."""
    return f"{round_}.{slot}.{nonce}"


def parse_lease_id(text: str) -> tuple[int, int, str] | None:
    match = _LEASE_ID.match(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), match[3]


def new_nonce() -> str:
    return secrets.token_hex(8)


class SlotRef:
    """Something that names one claim slot of a task: its key, and the key of the slot a
    closing record of it takes."""

    task_id: str
    round: int
    slot: int

    @property
    def key(self) -> str:
        return slot_key(self.task_id, self.round, self.slot)

    @property
    def next_key(self) -> str:
        return slot_key(self.task_id, self.round, self.slot + 1)


@dataclass(frozen=True)
class Lease(SlotRef):
    """A lease as the chain records it."""

    task_id: str
    round: int
    slot: int
    nonce: str
    annotator_id: str
    vendor_id: str  # the vendor doing the work (differs from the task's on backlog takeover)
    started_at: datetime
    expires_at: datetime

    @classmethod
    def new(
        cls, task: Doc, annotator_id: str, vendor_id: str, now: datetime, ttl_s: float
    ) -> Lease:
        return cls(
            task_id=str(task["_id"]),
            round=int(task.get("rework", 0)),
            slot=int(task.get("next_slot", 0)),
            nonce=new_nonce(),
            annotator_id=annotator_id,
            vendor_id=vendor_id,
            started_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )

    @property
    def id(self) -> str:
        return lease_id(self.round, self.slot, self.nonce)

    @property
    def tracked(self) -> Tracked:
        return Tracked(self.task_id, self.round, self.slot, self.expires_at)

    def moved_to(self, slot: int, expires_at: datetime) -> Lease:
        """The same lease taken again in a later slot (a heartbeat after it was freed)."""
        return replace(self, slot=slot, expires_at=expires_at)

    def to_doc(self, replica_id: str) -> Doc:
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
            "replica": replica_id,
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
        )


def closing_doc(lease: Lease, kind: Closing, at: datetime, **details: Any) -> Doc:
    """The record that ends `lease`, in the slot after it."""
    return {
        "_id": lease.next_key,
        "kind": kind.value,
        "task_id": lease.task_id,
        "round": lease.round,
        "slot": lease.slot + 1,
        "closes": lease.slot,
        "nonce": lease.nonce,
        "annotator_id": lease.annotator_id,
        "vendor_id": lease.vendor_id,
        "at": at,
        **details,
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


# ----- the journal: which leases a process granted, for whoever takes over its leases ---------


def journal_key(replica_id: str, number: int) -> str:
    return f"j/{replica_id}/{number:012d}"


def journal_keys(replica_id: str, numbers: Iterable[int]) -> list[str]:
    """Journal documents are read and deleted by their exact keys: on the embedded database
    a range over `_id` reads the whole collection."""
    return [journal_key(replica_id, n) for n in numbers]


def journal_doc(replica_id: str, number: int, leases: Sequence[Tracked], at: datetime) -> Doc:
    return {
        "_id": journal_key(replica_id, number),
        "kind": "journal",
        "at": at,
        "leases": [[t.task_id, t.round, t.slot, t.expires_at] for t in leases],
    }


@dataclass(frozen=True)
class Tracked(SlotRef):
    """A lease some process must free if it is abandoned: where it is, and until when."""

    task_id: str
    round: int
    slot: int
    expires_at: datetime


def journal_entries(doc: Doc) -> list[Tracked]:
    return [Tracked(t, int(r), int(s), e) for t, r, s, e in doc.get("leases", [])]
