"""What a deletion removes from ingest: the items with their media and everything made from
it (previews, a video's frames and sheets, a recording's listening copies and peaks), the
batches and their counters, URL imports, uploads, sequences, the project with its versions,
and for an organisation its tokens and itself. The `deletions` records stay: they hold the
certificates (docs/privacy.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.ingest.repositories import BatchRepository
from shared.events import DeletionRequested
from shared.store.erasure import NONE, Erasable, ErasurePlan, ObjectRef, Removal
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase
from shared.store.storage import ObjectStorage


def item_objects(item: Doc) -> Iterable[ObjectRef]:
    """An item's own objects: the original and its preview (a video's frames and a
    recording's parts lie under its manifest's folder: `folders`)."""
    bucket = item.get("bucket")
    if not bucket:
        return
    for field in ("object_key", "preview_key"):
        if item.get(field):
            yield bucket, item[field]
    if item.get("manifest_key"):
        yield bucket, item["manifest_key"]
    if (item.get("redacted") or {}).get("key"):  # a picture's blurred copy people saw
        yield bucket, item["redacted"]["key"]


def staged(bucket: str, record: Doc, field: str) -> Iterable[ObjectRef]:
    if record.get(field):
        yield bucket, record[field]


def plan(
    db: ServiceDatabase, storage: ObjectStorage, batches: BatchRepository, bucket: str
) -> ErasurePlan:
    items = Erasable("items", item="_id", objects=item_objects, content="sha256")

    async def folders(found: Mapping[str, list[Doc]]) -> list[ObjectRef]:
        """Everything under a video's or a recording's folder (frames, sheets, parts)."""
        refs: list[ObjectRef] = []
        for item in found.get("items", []):
            manifest = item.get("manifest_key")
            if item.get("bucket") and manifest and "/" in manifest:
                prefix = manifest.rsplit("/", 1)[0] + "/"
                refs += [
                    (item["bucket"], k) for k in await storage.list_keys(item["bucket"], prefix)
                ]
        return refs

    async def still_used(
        session: AsyncClientSession, event: DeletionRequested, objects: list[ObjectRef]
    ) -> set[ObjectRef]:
        """Media are stored once per organisation by content: another project's item (or an
        item this deletion does not reach) with the same bytes keeps them."""
        reach = items.query(event, {})
        if reach is None or event.scope == "org":
            return set()
        deleted = db["items"].find(reach, {"sha256": 1}, session=session)
        digests = {d["sha256"] async for d in deleted if d.get("sha256")}
        if not digests:
            return set()
        # The organisation's other items, compared here: a long `$in` of digests is slow on
        # the embedded database.
        others = db["items"].find(
            {"org_id": event.org_id, "$nor": [reach]}, {"sha256": 1}, session=session
        )
        shared = {d["sha256"] async for d in others} & digests
        return {ref for ref in objects if any(digest in ref[1] for digest in shared)}

    async def uncount(
        session: AsyncClientSession, event: DeletionRequested, removal: Removal
    ) -> int:
        """An item's deletion: its batch's progress as if it had never come (a sealed
        batch's count, received, submitted, accepted, dropped)."""
        if event.scope != "item":
            return 0
        changed = 0
        for item in removal.found.get("items", []):
            flags = ["received", "submitted", "accepted", "dropped"]
            done = {
                "received": True,
                "submitted": item.get("submitted"),
                "accepted": item.get("accepted"),
                "dropped": item.get("dropped") is not None,
            }
            counts = {f"{f}": -1 for f in flags if done[f]}
            if done["dropped"] and done["submitted"]:
                counts["dropped_submitted"] = -1
            if event.units > 1:
                counts["extra_units"] = 1 - event.units  # a video's clips past its first
            changed += await batches.uncount(session, item["batch_id"], counts, event.units)
        return changed

    return ErasurePlan(
        collections=(
            items,
            Erasable("batches", batch="_id", item=None),
            Erasable("batch_counters", org=None, project=None, item=None),
            Erasable("imports", item=None),
            Erasable("import_urls", *NONE, linked=("import_id", "imports", "_id")),
            # A presigned upload's bytes wait under `staging`; a sequence's frames likewise.
            Erasable("uploads", project=None, objects=lambda u: staged(bucket, u, "staging_key")),
            Erasable("sequences", project=None),
            Erasable(
                "sequence_frames",
                *NONE,
                prefixed=("_id", "batch"),
                objects=lambda frame: staged(bucket, frame, "key"),
            ),
            Erasable("projects", project="_id", batch=None, item=None),
            Erasable("project_versions", org=None, batch=None, item=None),
            Erasable("tokens", project=None, batch=None, item=None),
            Erasable("orgs", org="_id", project=None, batch=None, item=None),
        ),
        still_used=still_used,
        before=uncount,
        extra_objects=folders,
    )
