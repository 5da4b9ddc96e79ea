"""The review benchmarks.

    consensus_ms()                        consensus of 3 overlaps x 30 boxes, in process
    seed(settings) / publish(settings, n) an auto-accept project; n `task.submitted` events

The throughput run (figures/review.py) pauses one review process, queues the events, resumes
it and times until its queue is empty: events are acknowledged only after their transaction
committed, so an empty queue means every submission is recorded and its `item.accepted` saved.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

from aviary.contracts.shapes import Annotation, BoxShape
from services.review.consensus import consensus
from shared.domain.projects import ProjectReadModel
from shared.events import (
    Envelope,
    ImageRef,
    Ontology,
    OntologyClass,
    ProjectUpserted,
    ReviewPolicy,
    TaskSubmitted,
    VendorShare,
)
from shared.messaging import Broker
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession

PROJECT = "prj_review_bench"
VENDOR = "ven_bench"


def overlaps(seed: int, annotators: int = 3, boxes: int = 30) -> list[Annotation]:
    """Versions of one image by several annotators: the same objects, a little apart."""
    rng = random.Random(seed)
    truth = [
        (rng.randint(1, 4), rng.uniform(0, 1800), rng.uniform(0, 1000), rng.uniform(20, 120))
        for _ in range(boxes)
    ]
    return [
        Annotation(
            shapes=tuple(
                BoxShape(
                    class_id=c,
                    bbox=(x + rng.uniform(-3, 3), y + rng.uniform(-3, 3), w, w * 0.6),
                )
                for c, x, y, w in truth
            )
        )
        for _ in range(annotators)
    ]


def consensus_ms(repeats: int = 300) -> float:
    """Median time of one consensus over 3 x 30 boxes on a 1920 x 1080 image."""
    versions = [overlaps(seed) for seed in range(repeats)]
    timings = []
    for versions_of_one_image in versions:
        started = time.perf_counter()
        consensus(versions_of_one_image, 1920, 1080)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def project() -> ProjectUpserted:
    return ProjectUpserted(
        project_id=PROJECT,
        org_id="org_bench",
        version=1,
        name="review bench",
        ontology=Ontology(classes=(OntologyClass(id=1, name="car"),)),
        overlap=1,
        vendors=(VendorShare(vendor_id=VENDOR, share=1.0),),
        review=ReviewPolicy(mode="auto"),
        reject_reasons=("x",),
        piece_rate=0.05,
    )


async def seed(settings: Settings) -> None:
    runtime = Runtime("review", settings, "api")

    async def save(session: AsyncClientSession) -> None:
        await ProjectReadModel(runtime.db).save(session, project())

    await runtime.db.transaction(save)
    await runtime.mongo_client.close()


def submitted(i: int) -> Envelope:
    event = TaskSubmitted(
        task_id=f"tsk_{i}",
        submission_id=f"sub_{i:08d}",
        item_id=f"itm_{i}",
        project_id=PROJECT,
        batch_id="bat_bench",
        org_id="org_bench",
        vendor_id=VENDOR,
        annotator_id=f"ann-{i % 50}",
        ontology_version=1,
        image=ImageRef(
            bucket="images",
            object_key=f"bench/{i}",
            width=640,
            height=480,
            format="jpeg",
            sha256=f"{i:064x}",
            file_name=f"{i}.jpg",
        ),
        annotation=Annotation(shapes=(BoxShape(class_id=1, bbox=(10, 10, 50, 40)),)),
        rework=0,
        seconds_worked=30.0,
    )
    return Envelope.wrap(event, org_ids=("org_bench", VENDOR))


async def publish(settings: Settings, n: int) -> None:
    broker = Broker(settings)
    await broker.connect()
    try:
        for start in range(0, n, 200):
            await asyncio.gather(
                *(broker.publish(submitted(i)) for i in range(start, min(n, start + 200)))
            )
    finally:
        await broker.close()
