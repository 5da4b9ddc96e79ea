"""The export benchmark: package 10,000 accepted images with 50,000 boxes (COCO + YOLO, or
every image format at once).

    python -m aviary_devkit.bench.export_bench seed  --namespace NS     # fill export's read model
    python -m aviary_devkit.bench.export_bench build --namespace NS     # one build, prints JSON
    python -m aviary_devkit.bench.export_bench build --namespace NS --formats all

`build` runs in its own process so its peak RSS is the packaging's own footprint (plus the
interpreter and libraries), measured with getrusage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import time

from aviary.contracts.shapes import Annotation, BoxShape
from services.export.deps import ExportParts
from services.export.formats import FORMATS
from shared.events import (
    ImageRef,
    ItemAccepted,
    Ontology,
    OntologyClass,
    ProjectUpserted,
    ReviewPolicy,
    VendorShare,
)
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, utcnow

BATCH = "bat_bench"
PROJECT = "prj_bench"
ORG = "org_bench"
IMAGES = 10_000
BOXES_PER_IMAGE = 5


def project() -> ProjectUpserted:
    classes = tuple(
        OntologyClass(id=i + 1, name=n)
        for i, n in enumerate(("car", "pedestrian", "traffic_light", "truck"))
    )
    return ProjectUpserted(
        project_id=PROJECT,
        org_id=ORG,
        version=1,
        name="bench",
        ontology=Ontology(classes=classes),
        overlap=1,
        vendors=(VendorShare(vendor_id="v", share=1.0),),
        review=ReviewPolicy(),
        reject_reasons=("x",),
        piece_rate=0.0,
        delivery_formats=("coco", "yolo"),
    )


def accepted(i: int, rng: random.Random) -> dict[str, object]:
    shapes = tuple(
        BoxShape(
            class_id=rng.randint(1, 4),
            bbox=(
                rng.uniform(0, 500),
                rng.uniform(0, 380),
                rng.uniform(8, 120),
                rng.uniform(8, 90),
            ),
        )
        for _ in range(BOXES_PER_IMAGE)
    )
    event = ItemAccepted(
        item_id=f"itm_{i:08d}",
        project_id=PROJECT,
        batch_id=BATCH,
        org_id=ORG,
        task_id=f"tsk_{i}",
        submission_id=f"sub_{i}",
        annotator_id="ann",
        reviewer_id="rev",
        ontology_version=1,
        image=ImageRef(
            bucket="b",
            object_key=f"k/{i}",
            width=640,
            height=480,
            format="jpeg",
            sha256=f"{i:064x}",
            file_name=f"street_{i:05d}.jpg",
        ),
        annotation=Annotation(shapes=shapes),
    )
    return {
        "_id": event.item_id,
        **event.model_dump(mode="json"),
        "seq": i + 1,
        "accepted_at": utcnow(),
    }


async def seed(settings: Settings) -> None:
    runtime = Runtime("export", settings, "api")
    parts = ExportParts.build(runtime)
    for repository in (parts.accepted, parts.deliveries, parts.webhooks):
        await repository.ensure_indexes()
    await runtime.storage.ensure_bucket(settings.deliveries_bucket)

    async def save(session: AsyncClientSession) -> None:
        await parts.projects.save(session, project())

    await runtime.db.transaction(save)
    rng = random.Random(7)
    for start in range(0, IMAGES, 1000):
        await runtime.db["accepted_items"].insert_many(
            [accepted(i, rng) for i in range(start, start + 1000)]
        )
    await runtime.db["batches"].insert_one(
        {
            "_id": BATCH,
            "project_id": PROJECT,
            "org_id": ORG,
            "sealed": True,
            "item_count": IMAGES,
            "accepted_count": IMAGES,
            "seq": IMAGES,
        }
    )
    await runtime.mongo_client.close()


async def build(settings: Settings, formats: list[str]) -> dict[str, float]:
    runtime = Runtime("export", settings, "api")
    parts = ExportParts.build(runtime)
    batch = await parts.batches.get(None, BATCH)
    options = {"formats": formats, "include_images": False, "include_people": False}
    delivery = await parts.deliveries.request(batch, "partial", options)
    started = time.perf_counter()
    await parts.builder.build(delivery)
    seconds = time.perf_counter() - started
    done = await parts.deliveries.get(None, delivery["_id"])
    await runtime.mongo_client.close()
    if done["status"] != "ready" or done["images"] != IMAGES:
        raise RuntimeError(f"bench delivery incomplete: {done}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": peak_mb, "annotations": done["annotations"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["seed", "build"])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--formats", default="coco,yolo", help="comma-separated, or all")
    args = parser.parse_args()
    settings = Settings(namespace=args.namespace)
    formats = list(FORMATS) if args.formats == "all" else args.formats.split(",")
    if args.action == "seed":
        asyncio.run(seed(settings))
    else:
        print(json.dumps(asyncio.run(build(settings, formats))))


if __name__ == "__main__":
    main()
