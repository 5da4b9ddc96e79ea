"""Dispatch's tasks and the project versions and gold items they are made from (database
`<ns>_dispatch`). Who holds a task is the lease machinery's (`leases/`); which tasks are open,
its open lists'."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from services.dispatch import domain
from services.dispatch.leases.open_lists import OpenLists, open_round
from services.dispatch.leases.repository import READ_CHUNK, SlotRepository
from services.dispatch.leases.slots import LeaseEnd, slot_key
from shared.domain.projects import RECENT_S, ProjectReadModel
from shared.domain.tracks import clip_unit, cut
from shared.errors import NotFound, RetryLater
from shared.events import (
    Annotation,
    GoldUpdated,
    ItemAnnotationsImported,
    ItemIngested,
    ItemPrelabeled,
    ProjectUpserted,
    TaskRejected,
    TrackAnnotation,
)
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, AsyncCollection, Doc, ServiceDatabase, utcnow
from shared.store.storage import ObjectStorage, content_key

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
VERSION_CACHE_SIZE = 1000
# What the pool leaves out of the tasks it keeps: the parts a `next` answer rarely needs.
# A task that has them (`needs_full_read`) is read again once leased.
HEAVY_FIELDS = {
    "pre_annotation": 0,
    "comments": 0,
    "last_annotation": 0,
    "last_tracks": 0,
    "last_transcript": 0,
    "pre_transcript": 0,
    "skips": 0,
    "video": 0,
}
# What tells whether a pool has seen a task in its present state (`pending_since` changes
# with every change the pool cares about).
STAMP_FIELDS = {"_id": 1, "pending_since": 1, "group": 1}
GROUP_READ_CHUNK = 20  # open lists (of up to 50 tasks) per read
COUNT_SHARDS = 8  # documents the count of tasks made is spread over
MAX_SHAPES = 5000  # an annotation's limit (aviary.contracts.shapes.Annotation)


def needs_full_read(task: Doc) -> bool:
    return (
        bool(task.get("rework"))
        or task.get("has_pre_annotation", True)
        or task.get("clip") is not None  # its frames
    )


def takes_gold(project: ProjectUpserted, unit: str) -> bool:
    """Whether an item (or a clip) brings a gold task along: stably, at the project's rate."""
    rate = project.review.gold_rate
    return rate > 0 and domain.unit_hash(f"gold:{unit}") < rate


def pick_gold(golds: list[Doc], unit: str) -> Doc:
    return golds[int(domain.unit_hash(f"pick:{unit}") * len(golds))]


class ActiveGolds:
    """A project's gold items in rotation, read once per group of new items."""

    def __init__(self, gold: AsyncCollection[Doc], session: AsyncClientSession) -> None:
        self.gold = gold
        self.session = session
        self._by_project: dict[str, list[Doc]] = {}

    async def of(self, project: ProjectUpserted) -> list[Doc]:
        if project.project_id not in self._by_project:
            self._by_project[project.project_id] = await self.gold.find(
                {"project_id": project.project_id, "active": True}, session=self.session
            ).to_list(None)
        return self._by_project[project.project_id]


class TaskStore:
    def __init__(
        self,
        db: ServiceDatabase,
        slots: SlotRepository,
        settings: Settings,
        storage: ObjectStorage,
    ) -> None:
        self.db = db
        self.storage = storage
        self.slots = slots
        self.open_lists: OpenLists = slots.open_lists
        self.settings = settings
        self.projects = ProjectReadModel(db)
        self.versions = db["project_versions"]
        self.tasks = db["tasks"]
        self.gold = db["gold"]
        self.counts = db["task_counts"]
        self._versions: dict[str, ProjectUpserted] = {}

    async def ensure_indexes(self) -> None:
        # What the pool reads (tasks that became pending since the last read) and the counts
        # by state. Every index costs each status change.
        await self.tasks.create_index([("status", 1), ("pending_since", 1)])
        # The open tasks, group by group (a full pool read); tasks never change group.
        await self.tasks.create_index([("group", 1)])

    # ----- events in -----------------------------------------------------------------------

    async def save_project(self, session: AsyncClientSession, event: ProjectUpserted) -> None:
        """Keep every version (tasks are tied to the one they were made with) and the newest."""
        await self.versions.replace_one(
            {"_id": f"{event.project_id}:{event.version}"},
            event.model_dump(mode="json"),
            upsert=True,
            session=session,
        )
        await self.projects.save(session, event)

    async def get_project_version(self, project_id: str, version: int) -> ProjectUpserted:
        """A version never changes once published, so it is read once per process."""
        key = f"{project_id}:{version}"
        if (cached := self._versions.get(key)) is not None:
            return cached
        doc = await self.versions.find_one({"_id": key})
        if doc is None:
            raise NotFound("project version")
        doc.pop("_id", None)
        version_model = ProjectUpserted.model_validate(doc)
        if len(self._versions) >= VERSION_CACHE_SIZE:
            self._versions.pop(next(iter(self._versions)))
        self._versions[key] = version_model
        return version_model

    async def create_tasks_many(
        self, session: AsyncClientSession, events: Sequence[ItemIngested]
    ) -> list[Doc]:
        """One task per required annotation (the project's overlap); many items share one
        insert. Returns the tasks as written."""
        docs: list[Doc] = []
        golds = ActiveGolds(self.gold, session)
        for event in events:
            project = await self.projects.get(event.project_id, max_age_s=RECENT_S)
            if project is None:
                raise RetryLater(f"project {event.project_id} not known yet")
            if event.video is not None:
                docs.extend(await self._clip_tasks(session, event, project, golds))
                continue
            if event.audio is not None:
                docs.extend(await self._part_tasks(session, event, project, golds))
                continue
            docs.extend(self._new_tasks(event, project))
            if takes_gold(project, event.item_id) and (found := await golds.of(project)):
                gold = pick_gold(found, event.item_id)
                docs.append(
                    self._gold_task(event, project, event.item_id, gold, {"image": gold["image"]})
                )
        if not docs:
            return docs
        await self.open_lists.add_new(session, docs)
        await self.tasks.insert_many(docs, session=session)
        # Counted as made, in one of a few shards (concurrent creators rarely share one).
        await self.counts.update_one(
            {"_id": f"tasks:{secrets.randbelow(COUNT_SHARDS)}"},
            {"$inc": {"n": len(docs)}},
            upsert=True,
            session=session,
        )
        return docs

    async def _clip_tasks(
        self,
        session: AsyncClientSession,
        event: ItemIngested,
        project: ProjectUpserted,
        golds: ActiveGolds,
    ) -> list[Doc]:
        """A video's tasks: one a clip and overlap slot, each with its frames (read from the
        video's manifest, which ingest wrote before the event), and gold clips mixed in."""
        assert event.video is not None
        video = event.video
        raw = await self.storage.get_bytes(video.bucket, video.manifest_key)
        frames: list[str] = json.loads(raw)["frames"]
        count = len(video.clips)
        tasks = []
        for index, (start, stop) in enumerate(video.clips):
            clip = _unit(
                index,
                (start, stop),
                count,
                video.bucket,
                video.manifest_key,
                frames=video.frame_count,
                fps=video.fps,
            )
            shown = {
                "bucket": video.bucket,
                "fps": video.fps,
                "width": video.width,
                "height": video.height,
                "frame_keys": [content_key(event.org_id, sha) for sha in frames[start:stop]],
            }
            shown_as = {"video": shown}
            tasks += await self._unit_tasks(session, event, project, golds, clip, shown_as)
        return tasks

    async def _part_tasks(
        self,
        session: AsyncClientSession,
        event: ItemIngested,
        project: ProjectUpserted,
        golds: ActiveGolds,
    ) -> list[Doc]:
        """A recording's tasks: one a part (cut at silences at ingest) and overlap slot, each
        starting from the speech segments voice-activity detection proposed in its part."""
        assert event.audio is not None
        audio = event.audio
        manifest = json.loads(await self.storage.get_bytes(audio.bucket, audio.manifest_key))
        speech: list[list[float]] = manifest.get("speech", [])
        tasks = []
        for index, (start, stop) in enumerate(audio.parts):
            clip = _unit(index, (start, stop), len(audio.parts), audio.bucket, audio.manifest_key)
            shown = {
                "bucket": audio.bucket,
                "listening_key": audio.listening_key,
                "peaks_key": audio.peaks_key,
                "duration_s": audio.duration_s,
            }
            proposed = domain.proposed_segments(speech, start / 1000, stop / 1000)
            shown_as = {"audio": shown, "pre_transcript": proposed}
            tasks += await self._unit_tasks(session, event, project, golds, clip, shown_as)
        return tasks

    async def _unit_tasks(
        self,
        session: AsyncClientSession,
        event: ItemIngested,
        project: ProjectUpserted,
        golds: ActiveGolds,
        clip: Doc,
        shown: Doc,
    ) -> list[Doc]:
        """One task a slot of the project's overlap for a clip or part (`shown` is what its
        tasks show of it), and a gold one mixed in at the project's rate."""
        copy_key = clip_unit(event.item_id, clip["index"])
        tasks = []
        for doc in self._new_tasks(event, project):
            doc.update(
                _id=domain.task_id(copy_key, doc["slot"]), copy_key=copy_key, clip=clip, **shown
            )
            tasks.append(doc)
        if gold := await self._gold_clip_task(session, event, project, copy_key, golds):
            tasks.append(gold)
        return tasks

    async def _gold_clip_task(
        self,
        session: AsyncClientSession,
        event: ItemIngested,
        project: ProjectUpserted,
        copy_key: str,
        golds: ActiveGolds,
    ) -> Doc | None:
        """A gold clip mixed in with this clip's tasks (at the project's rate): the clip task
        the gold was made from, copied (its frames, its size), so an annotator cannot tell it
        apart."""
        if not takes_gold(project, copy_key) or not (found := await golds.of(project)):
            return None
        gold = pick_gold(found, copy_key)
        if gold.get("clip") is None:
            return None
        source_key = clip_unit(gold["item_id"], gold["clip"]["index"])
        shown_fields = ("image", "clip", "video", "audio", "pre_transcript")
        source = await self.tasks.find_one(
            {"_id": domain.task_id(source_key, 0)},
            dict.fromkeys(shown_fields, 1),
            session=session,
        )
        if source is None:
            return None
        shown = {"copy_key": source_key, **{k: source[k] for k in shown_fields if k in source}}
        return self._gold_task(event, project, copy_key, gold, shown)

    def _gold_task(
        self, event: ItemIngested, project: ProjectUpserted, unit: str, gold: Doc, shown: Doc
    ) -> Doc:
        """A known-answer task mixed in with `unit`'s (an item or a clip): built like any
        other task, and showing what the gold item shows (`shown`), so an annotator cannot
        tell it apart."""
        doc = self._new_tasks(event, project)[0]
        doc.update(
            _id=domain.gold_task_id(unit),
            item_id=gold["item_id"],
            ontology_version=gold["ontology_version"],
            pre_annotation=None,
            has_pre_annotation=False,
            overlap=1,
            gold_id=gold["_id"],
            **shown,
        )
        return doc

    async def save_gold(self, session: AsyncClientSession, event: GoldUpdated) -> None:
        await self.gold.replace_one(
            {"_id": event.gold_id},
            {"_id": event.gold_id, **event.model_dump(mode="json", exclude={"gold_id"})},
            upsert=True,
            session=session,
        )

    def _new_tasks(self, event: ItemIngested, project: ProjectUpserted) -> list[Doc]:
        now = utcnow()
        confidence = event.confidence if isinstance(event, ItemPrelabeled) else None
        pre = event.pre_annotation
        labeled = domain.labeled_classes(pre.model_dump(mode="json") if pre else None)
        return [
            {
                "_id": domain.task_id(event.item_id, slot),
                "item_id": event.item_id,
                "from_item": event.item_id,  # the ingested item that brought it (gold: not ours)
                "slot": slot,
                "project_id": event.project_id,
                "batch_id": event.batch_id,
                "org_id": event.org_id,
                "vendor_id": domain.route_vendor(project.vendors, event.item_id, slot),
                # Where idle capacity may take it from when its vendor falls behind.
                "allowed_vendors": [v.vendor_id for v in project.vendors],
                "overlap": project.overlap,
                "ontology_version": project.version,
                "priority": project.priority,
                # Tasks without a deadline sort after every task with one.
                "deadline": project.deadline or NO_DEADLINE,
                "pre_annotation": (
                    event.pre_annotation.model_dump(mode="json") if event.pre_annotation else None
                ),
                "has_pre_annotation": event.pre_annotation is not None,
                # Kept light, for the pool (which leaves the pre-labels out): onboarding.py
                # holds tasks of a hard class from people under its minimum skill.
                "labeled_classes": labeled,
                "prelabel_confidence": confidence,
                # The pool's order after priority and deadline (pool.py): 1 is as sure as a
                # task without pre-labels, so only a project that asks sorts by it.
                "confidence_rank": confidence
                if confidence is not None and project.assist.least_confident_first
                else 1.0,
                "image": event.image.model_dump(mode="json"),
                "status": "pending",
                # The next free slot in this round (leases/slots.py).
                "next_slot": 0,
                "blocked_annotators": [],  # those who skipped it
                "skips": [],
                "preferred_annotator": None,
                "preferred_until": None,
                "rework": 0,
                "comments": [],
                "created_at": now,
                "pending_since": now,
            }
            for slot in range(project.overlap)
        ]

    async def rework(self, session: AsyncClientSession, event: TaskRejected) -> None:
        """Back to the pool, first for the annotator who made it, with the reviewer's words:
        a new round of slots, open again on its group's list."""
        task = await self.tasks.find_one(
            {"_id": event.task_id},
            {"rework": 1, "next_slot": 1, "group": 1, "status": 1},
            session=session,
        )
        if task is None or task["status"] == "dropped":
            return  # a dropped item's task stays ended (flagged_store.py)
        round_ = int(task.get("rework", 0))
        submitted = await self.slots.submission(
            session, event.task_id, round_, int(task["next_slot"]), event.submission_id
        )
        if submitted is None:
            return  # a rejection of an older submission: it changes nothing now
        await self.tasks.update_one(
            {"_id": event.task_id, "rework": round_},
            {
                "$set": {
                    "status": "pending",
                    "next_slot": 0,
                    "preferred_annotator": event.annotator_id,
                    "preferred_until": utcnow()
                    + timedelta(seconds=self.settings.rework_exclusive_s),
                    "pending_since": utcnow(),
                    # Shown again with the rework, to fix rather than redo.
                    "last_annotation": submitted.get("annotation"),
                    "last_tracks": submitted.get("tracks"),
                    "last_transcript": submitted.get("transcript"),
                },
                "$inc": {"rework": 1},
                "$push": {
                    "comments": {
                        "reviewer_id": event.reviewer_id,
                        "reason": event.reason,
                        "comment": event.comment,
                        "at": utcnow(),
                        "track_id": event.track_id,
                        "frames": list(event.frames) if event.frames else None,
                        "segment_id": event.segment_id,
                    }
                },
            },
            session=session,
        )
        await self.open_lists.reopen(session, task["group"], event.task_id, round_ + 1)

    async def add_imported(
        self, session: AsyncClientSession, event: ItemAnnotationsImported
    ) -> list[str]:
        """The imported shapes join the pre-annotation of the item's tasks nobody has submitted
        yet (pending, first round; gold aside), in place of what the same source added before
        (so an import sent again changes nothing); a video's tracks, cut to each clip, become
        the tracks its task starts from. A task leased at this moment shows them to whoever
        opens it next. Returns the ids of the tasks changed."""
        clips = event.tracks is not None
        found = await self._unsubmitted(session, event.item_id, clips)
        changed = []
        for task in found:
            if event.tracks is not None:
                update = _pre_tracks(event.tracks, task["clip"], event.source)
            else:
                update = _pre_annotation(task, event.annotation, event.source)
            done = await self.tasks.update_one(
                {"_id": task["_id"], "rework": 0},
                {"$set": update | {"pending_since": utcnow()}},  # other pools read it again
                session=session,
            )
            if done.modified_count:
                changed.append(str(task["_id"]))
        return changed

    async def _unsubmitted(
        self, session: AsyncClientSession, item_id: str, clips: bool
    ) -> list[Doc]:
        """The item's open first-round tasks (its clips' or its own) no slot has submitted;
        retried later when the item has no task yet (its own event is still on its way)."""
        candidates = await self.tasks.find(
            {
                "item_id": item_id,
                "from_item": item_id,
                "status": "pending",
                "rework": 0,
                "gold_id": None,
                "clip": {"$ne": None} if clips else None,
            },
            {"pre_annotation": 1, "next_slot": 1, "clip": 1},
            session=session,
        ).to_list(None)
        if not candidates and not await self.tasks.find_one(
            {"item_id": item_id}, {"_id": 1}, session=session
        ):
            raise RetryLater(f"item {item_id} has no tasks yet")
        slots = {
            t["_id"]: [slot_key(t["_id"], 0, n) for n in range(int(t.get("next_slot", 0)) + 2)]
            for t in candidates
        }
        records = await self.slots.read_map([key for keys in slots.values() for key in keys])
        return [
            t
            for t in candidates
            if not any(
                records.get(k, {}).get("kind") == LeaseEnd.SUBMITTED for k in slots[t["_id"]]
            )
        ]

    # ----- the pool's reads ----------------------------------------------------------------

    async def load_pending(self) -> list[Doc]:
        """The open tasks, without the parts the pool leaves out. Leased tasks are among
        them (a lease of one meets its taken slot)."""
        groups = await self.open_lists.open_by_group()
        wanted = set().union(*groups.values()) if groups else set()
        names = [g for g, entries in groups.items() if entries]
        return [t for t in await self._pending_in(names) if open_round(t) in wanted]

    async def load_changed(self, since: datetime, known: Callable[[Doc], bool]) -> list[Doc]:
        """The open tasks that became pending after `since`, less those `known` says the
        caller has seen in that state: a first read of their stamps alone (the embedded
        database spends half as long on it), then the rest of the few that are new."""
        query: Doc = {"status": "pending", "pending_since": {"$gt": since}}
        stamps = await self.tasks.find(query, STAMP_FIELDS).to_list(None)
        fresh = {s["_id"]: s.get("group", "") for s in stamps if not known(s)}
        if not fresh:
            return []
        if len(fresh) <= READ_CHUNK:
            changed = await self.tasks.find({"_id": {"$in": list(fresh)}}, HEAVY_FIELDS).to_list(
                None
            )
        else:  # tasks are made and freed in runs of neighbours, who share groups
            in_groups = await self._pending_in(sorted(set(fresh.values())))
            changed = [t for t in in_groups if t["_id"] in fresh]
        wanted = await self.open_lists.open_entries({t.get("group", "") for t in changed})
        return [t for t in changed if open_round(t) in wanted]

    async def _pending_in(self, groups: Sequence[str]) -> list[Doc]:
        """The pending tasks of some groups. Through the group index: on the embedded
        database a long `_id: {$in}` costs about a millisecond a task, an index read a tenth
        of that."""
        tasks: list[Doc] = []
        for start in range(0, len(groups), GROUP_READ_CHUNK):
            chunk = {"group": {"$in": list(groups[start : start + GROUP_READ_CHUNK])}}
            tasks.extend(
                await self.tasks.find({**chunk, "status": "pending"}, HEAVY_FIELDS).to_list(None)
            )
        return tasks

    async def load_tasks(self, task_ids: Sequence[str]) -> list[Doc]:
        if not task_ids:
            return []
        return await self.tasks.find({"_id": {"$in": list(task_ids)}}).to_list(None)

    async def get_task(self, task_id: str) -> Doc | None:
        return await self.tasks.find_one({"_id": task_id})

    # ----- figures ---------------------------------------------------------------------------

    async def project_tasks(self, project_id: str) -> list[Doc]:
        """A project's tasks, as much of them as their state needs."""
        fields = {"vendor_id": 1, "status": 1, "rework": 1, "next_slot": 1, "group": 1}
        return await self.tasks.find({"project_id": project_id}, fields).to_list(None)

    async def count_made_and_ended(self) -> tuple[int, dict[str, int]]:
        """Tasks ever made (counted at creation), and those flagged or dropped (the status
        index): counting the collection would read every task on the embedded database."""
        ended = {
            status: await self.tasks.count_documents({"status": status})
            for status in ("flagged", "dropped")
        }
        return sum([int(d["n"]) async for d in self.counts.find({})]), ended

    async def count_existing_tasks(self) -> None:
        """Start the creation counts of a deployment whose tasks predate them (once)."""
        if await self.counts.find_one({}) is None and (n := await self.tasks.count_documents({})):
            await self.counts.update_one(
                {"_id": "tasks:0"}, {"$setOnInsert": {"n": n}}, upsert=True
            )


def _pre_annotation(task: Doc, imported: Annotation, source: str) -> Doc:
    kept = [
        shape
        for shape in (task.get("pre_annotation") or {}).get("shapes", ())
        if (shape.get("source") or {}).get("model") != source
    ]
    shapes = [*kept, *(s.model_dump(mode="json") for s in imported.shapes)][:MAX_SHAPES]
    return {
        "pre_annotation": {"shapes": shapes} if shapes else None,
        "has_pre_annotation": bool(shapes),
        "labeled_classes": domain.labeled_classes({"shapes": shapes}),
    }


def _pre_tracks(imported: TrackAnnotation, clip: Doc, source: str) -> Doc:
    """The tracks in the clip's frames, as its task starts from them."""
    tracks = [
        part.model_dump(mode="json")
        for track in imported.tracks
        if (part := cut(track, clip["start"], clip["stop"])) is not None
    ]
    return {"pre_tracks": {"tracks": tracks, "source": source} if tracks else None}


def _unit(
    index: int,
    span: tuple[int, int],
    count: int,
    bucket: str,
    manifest_key: str,
    frames: int = 0,
    fps: float = 0.0,
) -> Doc:
    """A clip or part as its tasks keep it (the `ClipRef` of the events): a clip's span in
    frames of its video, a part's in milliseconds (a recording has no frames)."""
    start, stop = span
    return {
        "index": index,
        "start": start,
        "stop": stop,
        "count": count,
        "frames": frames,
        "fps": fps,
        "bucket": bucket,
        "manifest_key": manifest_key,
    }
