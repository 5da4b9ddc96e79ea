"""Which tasks are still open: one list per group of tasks created together (`task_groups`).

A task's document does not say whether it is submitted (a submit writes no task, ADR 0006):
its round is open while it is on its group's list (`<task>:<round>`) and not named by a
`done` record. A submit group inserts one `done` record naming its tasks, and a background
pass (`compact`) takes them off their groups' lists, one write per group, not per task.
Every read and write of that answer lives here.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial

from services.dispatch.leases.slots import open_entry
from shared.store.mongo import AsyncClientSession, AsyncCollection, Doc, ServiceDatabase, utcnow

# Tasks per list: short, since taking an entry off costs more the longer the list.
GROUP_SIZE = 50
COMPACT_PAGE = 500  # `done` records per pass
# Entries taken off per transaction: about one full group's, since a long transaction holds
# up the leases waiting behind it.
COMPACT_ENTRIES = 50
# Documents per background delete: each delete statement holds up the database's other work
# (a lease waiting behind it) for about half a millisecond a document.
DELETE_CHUNK = 10


def open_round(task: Doc) -> str:
    return open_entry(task["_id"], task.get("rework", 0))


class OpenLists:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.groups = db["task_groups"]
        self.done = db["done"]

    async def add_new(self, session: AsyncClientSession, tasks: Sequence[Doc]) -> None:
        """New tasks (round 0) on new lists, `GROUP_SIZE` at a time; each task learns its group."""
        groups = []
        for start in range(0, len(tasks), GROUP_SIZE):
            members = tasks[start : start + GROUP_SIZE]
            group = "grp_" + secrets.token_hex(10)
            for task in members:
                task["group"] = group
            groups.append({"_id": group, "open": [open_round(t) for t in members], "at": utcnow()})
        if groups:
            await self.groups.insert_many(groups, session=session)

    async def reopen(
        self, session: AsyncClientSession, group: str, task_id: str, round_: int
    ) -> None:
        """A rework round; the group may be gone (all its tasks were done): this brings it back."""
        await self.groups.update_one(
            {"_id": group},
            {"$addToSet": {"open": open_entry(task_id, round_)}},
            upsert=True,
            session=session,
        )

    async def close(
        self, session: AsyncClientSession, group: str, task_id: str, round_: int
    ) -> None:
        """Off its list at once (a flagged task: rare, so no `done` record)."""
        await self.groups.update_one(
            {"_id": group}, {"$pull": {"open": open_entry(task_id, round_)}}, session=session
        )

    @staticmethod
    def done_record(entries: Iterable[tuple[str, str, int]]) -> Doc:
        """The record a submit group inserts: (group, task, round) of each task it ended."""
        return {
            "_id": secrets.token_hex(12),
            "entries": [[group, open_entry(task_id, r)] for group, task_id, r in entries],
            "at": utcnow(),
        }

    async def open_entries(self, groups: Iterable[str] | None = None) -> set[str]:
        """The open task rounds (`<task>:<round>`) of some groups, or of all."""
        entries: set[str] = set()
        query: Doc = {} if groups is None else {"_id": {"$in": list(groups)}}
        async for group in self.groups.find(query, {"open": 1}):
            entries.update(group.get("open", []))
        return entries - await self._done_entries() if entries else entries

    async def open_by_group(self) -> dict[str, set[str]]:
        """Every group's open entries, less those done."""
        groups: dict[str, set[str]] = {}
        async for group in self.groups.find({}, {"open": 1}):
            groups[group["_id"]] = set(group.get("open", []))
        done = await self._done_entries() if groups else set()
        return {g: entries - done for g, entries in groups.items()}

    async def _done_entries(self) -> set[str]:
        return {
            entry async for d in self.done.find({}, {"entries": 1}) for _, entry in d["entries"]
        }

    async def compact(self) -> int:
        """Take the tasks of `done` records off their groups' lists (a group left with none is
        deleted), then the records. Idempotent: a crash halfway is redone."""
        records = await self.done.find({}).limit(COMPACT_PAGE).to_list(None)
        if not records:
            return 0
        by_group: dict[str, list[str]] = defaultdict(list)
        for record in records:
            for group, entry in record["entries"]:
                by_group[group].append(entry)
        for chunk in _chunks(by_group, COMPACT_ENTRIES):
            await self.db.transaction(partial(self._close_entries, chunk))
        await _delete_chunked(self.done, [r["_id"] for r in records])
        return sum(len(e) for e in by_group.values())

    async def _close_entries(
        self, closing: dict[str, list[str]], session: AsyncClientSession
    ) -> None:
        """The groups' lists without the `closing` entries: written whole (cheaper than a
        `$pull`, which the embedded database matches entry by entry), or the groups left
        with none deleted (a few to a statement). A concurrent change of one of them (a rework)
        conflicts, and the transaction is retried."""
        emptied = []
        query = {"_id": {"$in": list(closing)}}
        for doc in await self.groups.find(query, session=session).to_list(None):
            gone = set(closing[doc["_id"]])
            left = [e for e in doc.get("open", []) if e not in gone]
            if not left:
                emptied.append(doc["_id"])
            elif len(left) < len(doc.get("open", [])):
                await self.groups.update_one(
                    {"_id": doc["_id"]}, {"$set": {"open": left}}, session=session
                )
        await _delete_chunked(self.groups, emptied, session)


async def _delete_chunked(
    collection: AsyncCollection[Doc], ids: Sequence[str], session: AsyncClientSession | None = None
) -> None:
    """Delete by id, `DELETE_CHUNK` to a statement."""
    for start in range(0, len(ids), DELETE_CHUNK):
        chunk = list(ids[start : start + DELETE_CHUNK])
        await collection.delete_many({"_id": {"$in": chunk}}, session=session)


def _chunks(by_group: dict[str, list[str]], entries: int) -> list[dict[str, list[str]]]:
    """Groups to close, several to a transaction while their entries stay under `entries`
    (tasks are often made a few at a time, so most groups are small)."""
    chunks: list[dict[str, list[str]]] = [{}]
    size = 0
    for group, closing in by_group.items():
        if chunks[-1] and size + len(closing) > entries:
            chunks.append({})
            size = 0
        chunks[-1][group] = closing
        size += len(closing)
    return [c for c in chunks if c]
