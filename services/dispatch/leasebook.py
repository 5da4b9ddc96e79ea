"""The leases one dispatch process answers for, in memory.

A process tracks every lease it granted (with the task as leased, so the holder's submit needs
no read) and every lease it took over from a process that died. When one falls due (its
expiry), the process checks the chain: closed leases are forgotten, extended ones wait again,
abandoned ones go back to the pool. Each lease also names the journal document it was written
in, so the process knows which of its journal documents still matter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.dispatch.claims import Doc, Lease, Tracked


@dataclass(frozen=True)
class Held:
    tracked: Tracked
    journal: int  # the number of this process's journal document that lists it
    lease: Lease | None = None  # known when this process granted it
    task: Doc | None = None  # the task as leased, likewise

    @property
    def task_id(self) -> str:
        return self.tracked.task_id


def granted(lease: Lease, task: Doc, journal: int) -> Held:
    return Held(lease.tracked, journal, lease, task)


class LeaseBook:
    def __init__(self) -> None:
        self._held: dict[str, Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._held

    def add(self, held: Held) -> None:
        current = self._held.get(held.task_id)
        if current is None or _position(held) >= _position(current):
            self._held[held.task_id] = held

    def get(self, task_id: str) -> Held | None:
        return self._held.get(task_id)

    def granted(self, task_id: str, nonce: str) -> tuple[Lease, Doc] | None:
        """The lease with this nonce, and its task, if this process granted it."""
        held = self._held.get(task_id)
        if held is None or held.lease is None or held.task is None or held.lease.nonce != nonce:
            return None
        return held.lease, held.task

    def forget(self, task_id: str, round_: int, slot: int) -> None:
        """Forget a lease, unless the book already follows a later one of the task."""
        current = self._held.get(task_id)
        if current is not None and _position(current) <= (round_, slot):
            del self._held[task_id]

    def as_leased(self, task_id: str, task: Doc) -> None:
        """The task as its holder was given it (read whole, or taken over by a vendor)."""
        current = self._held.get(task_id)
        if current is not None:
            self._held[task_id] = replace(current, task=task)

    def extended(self, task_id: str, lease: Lease) -> None:
        """The holder's lease lasts longer now, or moved to a later slot (heartbeat)."""
        current = self._held.get(task_id)
        if current is None:
            return
        self._held[task_id] = replace(current, tracked=lease.tracked, lease=lease)

    def wait_until(self, task_id: str, expires_at: datetime, slot: int | None = None) -> None:
        """Check again at `expires_at` (another process extended or moved the lease)."""
        current = self._held.get(task_id)
        if current is None:
            return
        tracked = replace(
            current.tracked,
            expires_at=expires_at,
            slot=current.tracked.slot if slot is None else slot,
        )
        lease = current.lease
        if lease is not None:
            lease = lease.moved_to(tracked.slot, expires_at)
        self._held[task_id] = replace(current, tracked=tracked, lease=lease)

    def due(self, now: datetime) -> list[Held]:
        return [h for h in self._held.values() if h.tracked.expires_at <= now]

    def oldest_journal(self) -> int | None:
        return min((h.journal for h in self._held.values()), default=None)

    def journals(self) -> set[int]:
        """The journal documents that list a lease this process tracks."""
        return {h.journal for h in self._held.values()}

    def holders(self) -> set[str]:
        """The annotators holding leases this process granted."""
        return {h.lease.annotator_id for h in self._held.values() if h.lease is not None}


def _position(held: Held) -> tuple[int, int]:
    return held.tracked.round, held.tracked.slot
