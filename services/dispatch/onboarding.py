"""Onboarding in dispatch: who may take a project's production tasks, and the training and exam
tasks that get a new person there (docs/onboarding.md).

Review decides (it holds the answers and the scores) and says so with `onboarding.changed`;
dispatch keeps each person's latest word in `admissions` and gates with it. Which projects
ask for onboarding, and who is admitted, is held in memory and read again every
`REFRESH_S` (another process may have applied the event), so the pool's check costs a set
lookup.

A person may also be held from a project's hardest classes (review's word, `held_classes`:
their skill in the class is under the project's minimum): the pool passes over the tasks whose
pre-labels hold such a class for them. Without pre-labels a task's classes are not known
before it is labeled, so it is offered as usual.

Training and exam tasks are personal: made for one person from the project's gold items,
leased at once, never in the shared pool. The gold items split for good into a training part
and an exam part (by a hash of their ids, `EXAM_SHARE` to the exam), so no exam item is ever
shown in training. Progress is counted here, from the tasks themselves (a training task
submitted counts at once, before review has scored it): training tasks submitted in the
current round, then the exam's tasks of the next attempt; review's decision closes the
attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aviary.contracts.onboarding import OnboardingSettings
from services.dispatch import domain
from shared.domain.projects import ASKS_FOR_ONBOARDING
from shared.domain.tracks import clip_unit
from shared.errors import AppError, NotFound
from shared.events import OnboardingChanged, ProjectUpserted
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, naive, utcnow

log = logging.getLogger(__name__)

ADMISSIONS = "admissions"
REFRESH_S = 5.0
EXAM_SHARE = 0.5  # of a project's gold items, kept for exams
NO_DEADLINE = datetime(9999, 12, 31)
Key = tuple[str, str, str]  # project, vendor, annotator


def admission_id(project_id: str, vendor_id: str, annotator_id: str) -> str:
    return f"{project_id}|{vendor_id}|{annotator_id}"


def for_exam(gold_id: str) -> bool:
    """Whether a gold item belongs to the exam part (never shown in training)."""
    digest = hashlib.sha256(f"exam:{gold_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < EXAM_SHARE


@dataclass(frozen=True)
class Next:
    """What a person's onboarding in a project asks for next."""

    stage: str  # training | exam | scoring | waiting | admitted
    round: int  # the training round, or the exam attempt
    done: int  # tasks of this round or attempt submitted
    due: int  # tasks it needs
    retry_at: datetime | None = None


class OnboardingRepository:
    """`admissions` (review's latest word per person and project) and the personal tasks."""

    def __init__(self, db: ServiceDatabase) -> None:
        self.admissions = db[ADMISSIONS]
        self.tasks = db["tasks"]
        self.claims = db["claims"]
        self.gold = db["gold"]
        self.projects = db["projects"]

    async def ensure_indexes(self) -> None:
        await self.admissions.create_index([("admitted", 1)])
        await self.tasks.create_index([("onboarding_key", 1), ("stage", 1), ("round", 1)])

    async def save(self, session: AsyncClientSession, event: OnboardingChanged) -> None:
        """Keep the newest word (by its time): events may come out of order."""
        key = admission_id(event.project_id, event.vendor_id, event.annotator_id)
        current = await self.admissions.find_one({"_id": key}, {"changed_at": 1}, session=session)
        if current is not None and naive(current["changed_at"]) > naive(event.changed_at):
            return
        await self.admissions.replace_one(
            {"_id": key}, {"_id": key, **event.model_dump()}, upsert=True, session=session
        )

    async def admitted(self) -> set[Key]:
        docs = self.admissions.find(
            {"admitted": True}, {"project_id": 1, "vendor_id": 1, "annotator_id": 1}
        )
        return {(d["project_id"], d["vendor_id"], d["annotator_id"]) async for d in docs}

    async def held(self) -> dict[Key, frozenset[int]]:
        docs = self.admissions.find(
            {"held_classes.0": {"$exists": True}},
            {"project_id": 1, "vendor_id": 1, "annotator_id": 1, "held_classes": 1},
        )
        return {
            (d["project_id"], d["vendor_id"], d["annotator_id"]): frozenset(d["held_classes"])
            async for d in docs
        }

    async def one(self, key: Key) -> Doc | None:
        return await self.admissions.find_one({"_id": admission_id(*key)})

    async def gated_projects(self) -> dict[str, OnboardingSettings]:
        docs = self.projects.find(ASKS_FOR_ONBOARDING, {"onboarding": 1})
        return {d["_id"]: OnboardingSettings.model_validate(d["onboarding"]) async for d in docs}

    async def personal(self, key: Key, stage: str, round_: int) -> list[Doc]:
        """This person's tasks of a stage and round, oldest first, each with `submitted`
        (a submit ends the lease with a record; the task document stays as it was)."""
        query = {"onboarding_key": admission_id(*key), "stage": stage, "round": round_}
        tasks = await self.tasks.find(query).sort("created_at", 1).to_list(None)
        if tasks:
            ended = {"task_id": {"$in": [t["_id"] for t in tasks]}, "kind": "submitted"}
            done = {d["task_id"] async for d in self.claims.find(ended, {"task_id": 1})}
            for task in tasks:
                task["submitted"] = task["_id"] in done
        return tasks

    async def used_in_exams(self, key: Key) -> set[str]:
        query = {"onboarding_key": admission_id(*key), "stage": "exam"}
        return {d["gold_id"] async for d in self.tasks.find(query, {"gold_id": 1})}

    async def golds(self, project_id: str) -> list[Doc]:
        query = {"project_id": project_id, "active": True}
        return await self.gold.find(query).sort("_id", 1).to_list(None)

    async def source_task(self, unit: str) -> Doc | None:
        return await self.tasks.find_one({"_id": domain.task_id(unit, 0)})

    async def add_task(self, doc: Doc) -> Doc:
        """Insert a personal task (made again after a crash: the same id, kept as it is)."""
        existing = await self.tasks.find_one({"_id": doc["_id"]})
        if existing is not None:
            return existing
        await self.tasks.insert_one(doc)
        return doc


class Onboarding:
    """The gate (in memory) and the next training or exam task of a person."""

    def __init__(self, repo: OnboardingRepository) -> None:
        self.repo = repo
        self._gated: dict[str, OnboardingSettings] = {}
        self._admitted: set[Key] = set()
        self._held: dict[Key, frozenset[int]] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        gated, admitted = await self.repo.gated_projects(), await self.repo.admitted()
        held = await self.repo.held()
        self._gated, self._admitted, self._held = gated, admitted, held

    def project_changed(self, event: ProjectUpserted) -> None:
        """This process applied a project's new version: gate it now, not at the next read."""
        if event.onboarding.required:
            self._gated[event.project_id] = event.onboarding
        else:
            self._gated.pop(event.project_id, None)

    def changed(self, event: OnboardingChanged) -> None:
        key = (event.project_id, event.vendor_id, event.annotator_id)
        if event.admitted:
            self._admitted.add(key)
        else:
            self._admitted.discard(key)
        if event.held_classes:
            self._held[key] = frozenset(event.held_classes)
        else:
            self._held.pop(key, None)

    def admits(self, task: Doc, vendor_id: str, annotator_id: str) -> bool:
        """Whether the person may take this production task: admitted to its project where
        it asks for onboarding, and not held from a class its pre-labels hold."""
        key = (task.get("project_id", ""), vendor_id, annotator_id)
        if key[0] in self._gated and key not in self._admitted:
            return False
        held = self._held.get(key)
        return held is None or held.isdisjoint(labeled_classes(task))

    async def next_step(self, key: Key, settings: OnboardingSettings) -> Next:
        word = await self.repo.one(key) or {}
        if word.get("admitted") or key in self._admitted:
            return Next("admitted", 0, 0, 0)
        round_ = int(word.get("round", 0))
        training = [t for t in await self.repo.personal(key, "training", round_) if t["submitted"]]
        if len(training) < settings.training_tasks:
            return Next("training", round_, len(training), settings.training_tasks)
        finished = int(word.get("attempts", 0))
        retry_at = word.get("retry_at")
        if retry_at is not None and naive(retry_at) > naive(utcnow()):
            return Next("waiting", finished, 0, 0, retry_at)
        attempt = finished + 1
        exam = await self.repo.personal(key, "exam", attempt)
        done = sum(t["submitted"] for t in exam)
        if settings.exam_tasks and done >= settings.exam_tasks:
            return Next("scoring", attempt, done, settings.exam_tasks)
        if not settings.exam_tasks:  # training alone admits: review's word is on its way
            return Next("scoring", round_, len(training), settings.training_tasks)
        return Next("exam", attempt, done, settings.exam_tasks)

    async def next_task(
        self, project: ProjectUpserted, vendor_id: str, annotator_id: str
    ) -> tuple[Next, Doc | None]:
        """The step the person is at, and the task to do for it (pending, or made now)."""
        if not project.onboarding.required:
            raise AppError(
                "no_onboarding", "this project does not ask for onboarding", status_code=409
            )
        if vendor_id not in {v.vendor_id for v in project.vendors}:
            raise NotFound("project")
        key = (project.project_id, vendor_id, annotator_id)
        async with self._lock:  # two calls of one person must not make two tasks
            step = await self.next_step(key, project.onboarding)
            if step.stage not in ("training", "exam"):
                return step, None
            mine = await self.repo.personal(key, step.stage, step.round)
            if pending := [t for t in mine if not t["submitted"]]:
                return step, {k: v for k, v in pending[0].items() if k != "submitted"}
            gold = await self._pick(
                key, project.project_id, step.stage, {t["gold_id"] for t in mine}
            )
            # The n-th task of the round: an item may come back when the part has fewer
            # items than the round needs, as a task of its own.
            task = await self._task(project, key, step, gold, len(mine))
            return step, await self.repo.add_task(task)

    async def _pick(self, key: Key, project_id: str, stage: str, had: set[str]) -> Doc:
        golds = [
            g for g in await self.repo.golds(project_id) if for_exam(g["_id"]) == (stage == "exam")
        ]
        if stage == "exam":
            used = await self.repo.used_in_exams(key)
            fresh = [g for g in golds if g["_id"] not in used]
            golds = fresh if len(fresh) >= 1 else [g for g in golds if g["_id"] not in had]
        else:
            golds = [g for g in golds if g["_id"] not in had] or golds
        if not golds:
            raise AppError(
                "not_enough_gold",
                f"the project has no {stage} items left: it needs more gold items "
                f"(about half of them are kept for exams)",
                status_code=409,
            )
        # Spread people over the items: each starts at its own place in the list.
        start = int(hashlib.sha256("|".join(key).encode()).hexdigest()[:8], 16)
        return golds[start % len(golds)]

    async def _task(self, project: ProjectUpserted, key: Key, step: Next, gold: Doc, n: int) -> Doc:
        """A task for one person, showing what the gold item shows."""
        clip = gold.get("clip")
        unit = clip_unit(gold["item_id"], clip["index"] if clip else None)
        source = await self.repo.source_task(unit)
        shown_fields = ("image", "clip", "video", "audio", "pre_transcript", "batch_id")
        shown: dict[str, Any] = {"image": gold["image"], "batch_id": ""}
        if source is not None:
            shown |= {k: source[k] for k in shown_fields if k in source}
        now = utcnow()
        project_id, vendor_id, annotator_id = key
        return {
            "_id": domain.task_id(
                f"onb:{step.stage}:{step.round}:{admission_id(*key)}:{gold['_id']}:{n}", 0
            ),
            "item_id": gold["item_id"],
            "from_item": gold["item_id"],
            "slot": 0,
            "project_id": project_id,
            "org_id": project.org_id,
            "vendor_id": vendor_id,
            "allowed_vendors": [vendor_id],
            "overlap": 1,
            "ontology_version": gold["ontology_version"],
            "priority": 0,
            "deadline": NO_DEADLINE,
            "pre_annotation": None,
            "has_pre_annotation": False,
            "prelabel_confidence": None,
            "confidence_rank": 1.0,
            "status": "pending",
            "next_slot": 0,
            "blocked_annotators": [],
            "skips": [],
            "preferred_annotator": annotator_id,
            "preferred_until": NO_DEADLINE,
            "rework": 0,
            "comments": [],
            "created_at": now,
            "pending_since": now,
            "gold_id": gold["_id"],
            "stage": step.stage,
            "round": step.round,
            "onboarding_key": admission_id(*key),
            **shown,
        }


def labeled_classes(task: Doc) -> list[int]:
    """The classes a task's pre-labels hold: kept on the task (the pool's copy has no
    pre-labels), else read from them (tasks made before the field was kept)."""
    kept = task.get("labeled_classes")
    return list(kept) if kept is not None else domain.labeled_classes(task.get("pre_annotation"))
