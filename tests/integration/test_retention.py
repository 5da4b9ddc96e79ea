"""Retention: what only keeps the machinery safe expires, the audit log moves to archives."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from shared.security.audit import AuditLog
from shared.settings import Settings
from shared.store.mongo import ServiceDatabase, connect_mongo, utcnow
from shared.store.retention import (
    AuditArchiver,
    archive_time,
    expiries,
    prepare_expiries,
    sweep_expired,
)
from shared.store.storage import ObjectStorage

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[ServiceDatabase]:
    client = connect_mongo(settings)
    yield ServiceDatabase(client, settings.database_name("dispatch"))
    await client.close()


async def test_markers_slot_records_and_item_marks_past_their_retention_are_swept(
    settings: Settings, db: ServiceDatabase
) -> None:
    kept = expiries("dispatch", settings.model_copy(update={"claims_retention_s": 30 * 86_400}))
    await prepare_expiries(db, kept)
    now = utcnow()
    old, young = now - timedelta(days=31), now - timedelta(days=6)
    await db["claims"].insert_many(
        [
            {"_id": "t1/0/0", "kind": "lease", "expires_at": old},
            {"_id": "t1/0/1", "kind": "submitted", "at": old, "expires_at": old},
            {"_id": "t2/0/0", "kind": "lease", "expires_at": young},
            {"_id": "t2/0/1", "kind": "submitted", "at": young, "expires_at": young},
        ]
    )
    await db["item_marks"].insert_many(
        [{"_id": "itm_1/ann", "at": old}, {"_id": "itm_2/ann", "at": young}]
    )
    await db.processed.insert_many(
        [{"_id": "evt_old", "at": now - timedelta(days=8)}, {"_id": "evt_new", "at": young}]
    )

    assert await sweep_expired(db, kept, now) == 4
    assert {d["_id"] for d in await db["claims"].find({}).to_list(None)} == {"t2/0/0", "t2/0/1"}
    assert {d["_id"] for d in await db["item_marks"].find({}).to_list(None)} == {"itm_2/ann"}
    assert {d["_id"] for d in await db.processed.find({}).to_list(None)} == {"evt_new"}
    assert await sweep_expired(db, kept, now) == 0  # nothing left to sweep


async def test_the_sweep_pages_through_many_expired_documents(
    settings: Settings, db: ServiceDatabase
) -> None:
    kept = expiries("ingest", settings)
    await prepare_expiries(db, kept)
    old = utcnow() - timedelta(days=30)
    await db.processed.insert_many([{"_id": f"evt_{i}", "at": old} for i in range(2500)])
    assert await sweep_expired(db, kept, utcnow()) == 2500
    assert await db.processed.count_documents({}) == 0


async def test_slot_records_and_marks_are_swept_by_dispatch_on_every_stack(
    settings: Settings,
) -> None:
    for service in ("ingest", "review", "export"):
        assert {e.collection for e in expiries(service, settings)} == {
            "processed_events",
            "rollups",
            "rollups_15m",
            "tombstones",
        }
    kept = {(e.collection, e.field) for e in expiries("dispatch", settings)}
    assert kept == {
        ("processed_events", "at"),
        ("rollups", "minute"),
        ("rollups_15m", "minute"),
        ("tombstones", "at"),
        ("claims", "expires_at"),
        ("item_marks", "at"),
    }
    with pytest.raises(ValueError):  # kept forever is not an option
        Settings(claims_retention_s=0)


async def test_old_audit_entries_move_to_archives_and_old_archives_go(
    settings: Settings, db: ServiceDatabase
) -> None:
    audit = AuditLog(db, "dispatch")
    storage = ObjectStorage(settings)
    await storage.ensure_bucket(settings.audit_bucket)
    now = utcnow()
    old = [
        {**audit.entry("limit.set", f"v{i}"), "at": now - timedelta(days=200 + i)} for i in range(5)
    ]
    recent = {**audit.entry("limit.set", "recent"), "at": now - timedelta(days=1)}
    await audit.collection.insert_many([*old, recent])
    ancient_key = "audit/dispatch/2020/01/01/000000-aud_ancient.jsonl.gz"
    await storage.put_bytes(settings.audit_bucket, ancient_key, gzip.compress(b"{}\n"))

    archiver = AuditArchiver(audit, storage, settings.audit_bucket, settings)
    assert await archiver.sweep(now) == (5, 1)

    left = await audit.collection.find({}).to_list(None)
    assert [e["_id"] for e in left] == [recent["_id"]]
    keys = await storage.list_keys(settings.audit_bucket, "audit/dispatch/")
    assert len(keys) == 1 and ancient_key not in keys
    archived = gzip.decompress(await storage.get_bytes(settings.audit_bucket, keys[0]))
    lines = [json.loads(line) for line in archived.decode().splitlines()]
    # Oldest first, every field kept.
    assert [e["_id"] for e in lines] == [e["_id"] for e in reversed(old)]
    assert {e["target"] for e in lines} == {f"v{i}" for i in range(5)}

    assert await archiver.sweep(now) == (0, 0)  # nothing left to move


async def test_an_archive_written_again_after_a_crash_replaces_the_first(
    settings: Settings, db: ServiceDatabase
) -> None:
    """A sweep killed between writing an archive and deleting its entries writes the same
    page again under the same key: one archive, no entry twice."""
    audit = AuditLog(db, "dispatch")
    storage = ObjectStorage(settings)
    await storage.ensure_bucket(settings.audit_bucket)
    now = utcnow()
    entry = {**audit.entry("limit.set", "v"), "at": now - timedelta(days=100)}
    await audit.collection.insert_one(entry)

    forget = audit.forget

    async def crash(entry_ids: list[str]) -> None:
        raise RuntimeError("killed")

    audit.forget = crash  # type: ignore[method-assign]
    archiver = AuditArchiver(audit, storage, settings.audit_bucket, settings)
    with pytest.raises(RuntimeError):
        await archiver.sweep(now)
    audit.forget = forget  # type: ignore[method-assign]
    assert await archiver.sweep(now) == (1, 0)

    keys = await storage.list_keys(settings.audit_bucket, "audit/dispatch/")
    assert len(keys) == 1
    archived = gzip.decompress(await storage.get_bytes(settings.audit_bucket, keys[0]))
    assert len(archived.decode().splitlines()) == 1
    written = archive_time(keys[0])
    assert written is not None and abs(written - entry["at"]) < timedelta(seconds=1)
