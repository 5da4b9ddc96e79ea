"""History for the growth benchmarks: a namespace that has already seen `n` items.

What the services keep per item (ingest's items, dispatch's done tasks and their claims,
review's submissions, export's read model, every consumer's processed-event markers) is
written straight into their databases, shaped as the services write it, so a benchmark can
compare the same flow at 10,000 and 200,000 items without running 200,000 through it first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from services.dispatch.leases.slots import Lease, LeaseEnd, ending_doc
from shared.settings import Settings
from shared.store.mongo import AsyncCollection, Doc, connect_mongo, utcnow

CHUNK = 5_000
OLD_PROJECT, OLD_BATCH, OLD_ORG, OLD_VENDOR = "prj_old", "bat_old", "org_old", "ven_old"


async def fill(collection: AsyncCollection[Doc], make: Callable[[int], Doc], n: int) -> None:
    for start in range(0, n, CHUNK):
        docs = [make(i) for i in range(start, min(n, start + CHUNK))]
        await collection.insert_many(docs, ordered=False)


def _old_lease(i: int, then: datetime) -> Lease:
    return Lease(
        task_id=f"tsk_old_{i:08d}",
        round=0,
        slot=0,
        nonce=f"{i:016x}",
        annotator_id=f"old-{i % 50}",
        vendor_id=OLD_VENDOR,
        started_at=then - timedelta(minutes=2),
        expires_at=then + timedelta(minutes=8),
        project_id=OLD_PROJECT,
        batch_id=OLD_BATCH,
    )


async def seed_history(settings: Settings, n: int, project_id: str = OLD_PROJECT) -> None:
    """`n` items that went all the way through: labeled, accepted, in the read model."""
    client = connect_mongo(settings)
    then = utcnow() - timedelta(days=1)
    image = {"bucket": "images", "width": 640, "height": 480, "format": "jpeg"}
    try:
        ingest = client[settings.database_name("ingest")]
        await ingest["items"].create_index([("batch_id", 1)])
        await fill(
            ingest["items"],
            lambda i: {
                "_id": f"itm_old_{i:08d}",
                "batch_id": OLD_BATCH,
                "project_id": project_id,
                "org_id": OLD_ORG,
                "sha256": f"{i:064x}",
                "object_key": f"old/{i}",
                "created_at": then,
                "submitted": True,
                "accepted": True,
            },
            n,
        )
        dispatch = client[settings.database_name("dispatch")]
        await dispatch["tasks"].create_index([("status", 1), ("pending_since", 1)])
        await dispatch["tasks"].create_index([("group", 1)])
        await fill(
            dispatch["tasks"],
            lambda i: {
                "_id": f"tsk_old_{i:08d}",
                "item_id": f"itm_old_{i:08d}",
                "project_id": OLD_PROJECT,
                "vendor_id": OLD_VENDOR,
                "batch_id": OLD_BATCH,
                # A submit writes no task: done tasks stay `pending`, off their groups'
                # open lists (those lists are gone once empty; open_lists.py).
                "status": "pending",
                "pending_since": then,
                "rework": 0,
                "next_slot": 2,
                "group": f"grp_old_{i // 50}",
                "created_at": then,
            },
            n,
        )
        # Each done task: its lease in slot 0, the submission that ended it in slot 1, and
        # the mark of the item for its annotator (services/dispatch/leases/slots.py).
        leases = [_old_lease(i, then) for i in range(n)]
        # The retention sweep's date indexes, made before the fill (a service would build
        # them at start, past its readiness wait, on 200,000 records).
        await dispatch["claims"].create_index("expires_at", sparse=True)
        await dispatch["item_marks"].create_index("at", sparse=True)
        await fill(
            dispatch["claims"],
            lambda i: (
                leases[i // 2].to_doc()
                if i % 2 == 0
                else ending_doc(leases[i // 2], LeaseEnd.SUBMITTED, then)
            ),
            2 * n,
        )
        await fill(
            dispatch["item_marks"],
            lambda i: {
                "_id": f"itm_old_{i:08d}/{leases[i].annotator_id}",
                "task_id": leases[i].task_id,
                "project_id": OLD_PROJECT,
                "batch_id": OLD_BATCH,
                "lease": leases[i].key,
                "at": then,
            },
            n,
        )
        review = client[settings.database_name("review")]
        for keys in (
            [("status", 1), ("queued_at", 1)],
            [("annotator_id", 1), ("created_at", 1)],
            [("project_id", 1), ("created_at", 1)],
            [("item_id", 1)],
        ):
            await review["submissions"].create_index(keys)
        await fill(
            review["submissions"],
            lambda i: {
                "_id": f"sub_old_{i:08d}",
                "item_id": f"itm_old_{i:08d}",
                "project_id": OLD_PROJECT,
                "vendor_id": OLD_VENDOR,
                "annotator_id": f"old-{i % 50}",
                "status": "accepted",
                "outcome": "accepted",
                "image": image,
                "created_at": then,
                "lease": None,
                "appeal": None,
            },
            n,
        )
        export = client[settings.database_name("export")]
        await export["accepted_items"].create_index([("batch_id", 1), ("seq", 1)])
        await fill(
            export["accepted_items"],
            lambda i: {"_id": f"itm_old_{i:08d}", "batch_id": OLD_BATCH, "seq": i // 20},
            n,
        )
        # The counts a deployment of this history would have kept (dispatch/store.py).
        await dispatch["task_counts"].insert_one({"_id": "tasks:0", "n": n})
        for service in ("ingest", "dispatch", "review", "export"):
            markers = client[settings.database_name(service)]["processed_events"]
            await markers.create_index("at", sparse=True)  # as the retention sweep has it
            await fill(markers, lambda i: {"_id": f"evt_old_{i:08d}", "at": then}, n)
    finally:
        await client.close()
