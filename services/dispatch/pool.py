"""The pending-task pool: which task an annotator gets next, decided in memory.

The database stays the truth (a lease is an insert of a unique key), the pool is each process's
index of what is pending, so `next` needs no query. Entries hold the task documents as read.

Order: the annotator's own rework first, then priority, deadline, the confidence of its
pre-labels (least sure first, in a project that asks) and age within the annotator's vendor,
then, once a task has waited `steal_after_s`, another vendor's backlog from a project that
allows this vendor too.
"""

from __future__ import annotations

import heapq
import itertools
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.dispatch import domain
from shared.heaps import Queued, pop_first

Doc = dict[str, Any]
# How far down another vendor's queue an idle annotator looks for backlog to take.
STEAL_LOOKAHEAD = 64
SortKey = tuple[int, datetime, float, datetime, int, str]


@dataclass(frozen=True)
class Share:
    """This process's part of the work when several dispatch processes run: each prefers the
    tasks that hash to it, so processes reading the same pending tasks rarely race for the
    same one (the loser of a race costs a wasted write)."""

    index: int = 0
    count: int = 1

    def mine(self, task_id: str) -> bool:
        return self.count <= 1 or zlib.crc32(task_id.encode()) % self.count == self.index


@dataclass(eq=False)
class Entry:
    """A pending task, as the pool needs it."""

    doc: Doc
    blocked: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return str(self.doc["_id"])

    @property
    def vendor_id(self) -> str:
        return str(self.doc["vendor_id"])

    @property
    def copy_key(self) -> str:
        return domain.copy_key(self.doc)

    @property
    def is_copy(self) -> bool:
        """One of its item's overlap copies, which go to different annotators. A gold task
        is not: the same known item may come back to an annotator as often as it is mixed in."""
        return "gold_id" not in self.doc

    @property
    def sort_key(self) -> SortKey:
        d = self.doc
        rank = float(d.get("confidence_rank", 1.0))  # least sure pre-labels first, if asked
        part = int((d.get("clip") or {}).get("index", 0))  # clips and parts in order
        return (-int(d["priority"]), d["deadline"], rank, d["created_at"], part, self.id)

    def reserved_for_other(self, annotator_id: str, now: datetime) -> bool:
        """Rework waits for the annotator who made it, until `preferred_until`."""
        preferred = self.doc.get("preferred_annotator")
        until = self.doc.get("preferred_until")
        return preferred not in (None, annotator_id) and until is not None and until > now

    def open_to(self, annotator_id: str, now: datetime) -> bool:
        return annotator_id not in self.blocked and not self.reserved_for_other(annotator_id, now)

    @classmethod
    def from_doc(cls, doc: Doc) -> Entry:
        return cls(doc=doc, blocked=set(doc.get("blocked_annotators", ())))


@dataclass
class Pick:
    entry: Entry
    vendor_id: str  # the vendor the task will belong to (differs when backlog was taken over)


QueueKey = tuple[str, bool]  # vendor, in this process's share


# A person's own training or exam task (onboarding.py): never offered to anyone else.
PERSONAL = frozenset({"training", "exam"})


# Whether a person may take a task of its project (dispatch's onboarding gate decides).
Admits = Callable[[Doc, str, str], bool]


def admit_everyone(task: Doc, vendor_id: str, annotator_id: str) -> bool:
    return True


class TaskPool:
    def __init__(self, admits: Admits = admit_everyone) -> None:
        self._share = Share()
        self.admits = admits
        self._clear()

    def _clear(self) -> None:
        self._entries: dict[str, Entry] = {}
        # Per vendor, one queue for this process's share and one for the rest; entries are
        # (sort key, insertion number, entry): the number breaks ties between a task's stale
        # slot and its refreshed one, so entries themselves are never compared.
        self._queues: dict[QueueKey, list[Queued[Entry]]] = defaultdict(list)
        self._counter = itertools.count()
        self._by_item: dict[str, set[str]] = defaultdict(set)  # by copy key
        self._preferred: dict[str, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def share(self) -> Share:
        return self._share

    @share.setter
    def share(self, share: Share) -> None:
        """A new split between processes: the queues are rebuilt (rare: processes come and go)."""
        if share != self._share:
            self._share = share
            self.replace_all([e.doc for e in self._entries.values()])

    def _push(self, entry: Entry) -> None:
        key = (entry.vendor_id, self._share.mine(entry.id))
        heapq.heappush(self._queues[key], (entry.sort_key, next(self._counter), entry))

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._entries

    def add(self, doc: Doc) -> None:
        """Add or refresh a pending task."""
        self.remove(str(doc["_id"]))
        if doc.get("stage") in PERSONAL:
            return
        entry = Entry.from_doc(doc)
        self._entries[entry.id] = entry
        self._push(entry)
        if entry.is_copy:
            self._by_item[entry.copy_key].add(entry.id)
        if preferred := doc.get("preferred_annotator"):
            self._preferred[preferred].add(entry.id)

    def remove(self, task_id: str) -> Entry | None:
        """Forget a task (heap slots are dropped lazily when they surface)."""
        entry = self._entries.pop(task_id, None)
        if entry is not None:
            if entry.is_copy:
                siblings = self._by_item[entry.copy_key]
                siblings.discard(task_id)
                if not siblings:
                    del self._by_item[entry.copy_key]
            if preferred := entry.doc.get("preferred_annotator"):
                self._preferred[preferred].discard(task_id)
        return entry

    def replace_all(self, docs: list[Doc]) -> None:
        """Rebuild from a full read of what is pending."""
        self._clear()
        for doc in docs:
            self.add(doc)

    def block(self, copy_key: str, annotator_id: str) -> None:
        """Overlap: once an annotator has one copy of an item, the others go to someone else
        (gold tasks of the item are not copies)."""
        for task_id in self._by_item.get(copy_key, ()):
            self._entries[task_id].blocked.add(annotator_id)

    def take(
        self,
        vendor_id: str,
        annotator_id: str,
        now: datetime,
        steal_after: datetime | None = None,
    ) -> Pick | None:
        """Remove and return the best task for this annotator, or None.

        `steal_after`: tasks of other vendors created before it may be taken over, when the
        task's project allows `vendor_id` too.
        """
        entry = self._own_rework(vendor_id, annotator_id) or self._best_of(
            vendor_id, annotator_id, now
        )
        if entry is not None:
            self.remove(entry.id)
            return Pick(entry, vendor_id)
        if steal_after is None:
            return None
        candidates = [
            e
            for (other, _), queue in self._queues.items()
            if other != vendor_id
            for _, _, e in heapq.nsmallest(STEAL_LOOKAHEAD, queue)
            if self._entries.get(e.id) is e
            and e.doc["created_at"] <= steal_after
            and vendor_id in e.doc.get("allowed_vendors", ())
            and e.open_to(annotator_id, now)
            and self.admits(e.doc, vendor_id, annotator_id)
        ]
        if not candidates:
            return None
        entry = min(candidates, key=lambda e: e.sort_key)
        self.remove(entry.id)
        return Pick(entry, vendor_id)

    def _own_rework(self, vendor_id: str, annotator_id: str) -> Entry | None:
        ids = self._preferred.get(annotator_id)
        mine = [
            self._entries[i]
            for i in ids or ()
            if i in self._entries
            and self._entries[i].vendor_id == vendor_id
            and self.admits(self._entries[i].doc, vendor_id, annotator_id)
        ]
        return min(mine, key=lambda e: e.doc["created_at"]) if mine else None

    def _best_of(self, vendor_id: str, annotator_id: str, now: datetime) -> Entry | None:
        """The best open task of this process's share; of the others' share only when none
        is left (those are likely being taken by their own process)."""
        for mine in (True, False):
            queue = self._queues.get((vendor_id, mine))
            if entry := self._best_in(queue, vendor_id, annotator_id, now):
                return entry
        return None

    def _best_in(
        self,
        queue: list[Queued[Entry]] | None,
        vendor_id: str,
        annotator_id: str,
        now: datetime,
    ) -> Entry | None:
        if not queue:
            return None
        return pop_first(
            queue,
            lambda entry: self._entries.get(entry.id) is entry,  # else removed or refreshed
            lambda entry: (
                entry.open_to(annotator_id, now) and self.admits(entry.doc, vendor_id, annotator_id)
            ),
        )


class SeenStates:
    """When each of the last `kept` tasks a pool met became pending (`pending_since`
    changes with every change the pool cares about), so a read of what changed skips
    the tasks already seen as they are. A forgotten one is only read again."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._since: dict[str, datetime] = {}

    def note(self, doc: Doc) -> None:
        since = doc.get("pending_since")
        if since is None:
            return
        task_id = str(doc["_id"])
        self._since.pop(task_id, None)  # to the young end
        self._since[task_id] = _to_ms(since)
        if len(self._since) > self.kept:
            del self._since[next(iter(self._since))]

    def note_all(self, docs: Iterable[Doc]) -> None:
        for doc in docs:
            self.note(doc)

    def saw(self, stamp: Doc) -> bool:
        since = stamp.get("pending_since")
        return since is not None and self._since.get(str(stamp["_id"])) == _to_ms(since)


def _to_ms(at: datetime) -> datetime:
    """As the database keeps it: to the millisecond, below dropped."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)
