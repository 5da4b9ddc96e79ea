"""Turning uploaded bytes into items: inspect, store the objects, record them together."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aviary.contracts.ingest import Blurred, ItemRead
from aviary.contracts.shapes import Annotation
from services.ingest import domain
from services.ingest.group_commit import GroupCommitter
from services.ingest.ledger import BatchLedger
from services.ingest.redaction import Redaction
from services.ingest.repositories import ItemRepository
from shared.domain.annotation_rules import require_valid_annotation
from shared.errors import AppError
from shared.events import ImageRef, ItemIngested, Ontology
from shared.observability import IMAGES_REDACTED
from shared.runtime import Runtime
from shared.store.mongo import Doc, DuplicateKeyError, utcnow

if TYPE_CHECKING:
    from shared.vision.redaction import Region

STORE_CONCURRENCY = 8


@dataclass(frozen=True)
class Incoming:
    """One file as received: its name (metadata only), bytes and optional pre-annotation."""

    file_name: str
    data: bytes
    pre_annotation: Annotation | None = None
    refused: AppError | None = None  # already known to be refused (e.g. too large)


@dataclass
class Outcome:
    file_name: str
    item: ItemRead | None = None
    error: AppError | None = None


SPOOL_IN_MEMORY = 2 * 1024 * 1024


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Collect a body, refusing it as soon as it passes `limit` bytes.

    Past a few MB the body spools to a temporary file, so many large uploads that end up
    refused never hold their bytes in memory at once.
    """
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise AppError("too_large", f"the upload exceeds {limit} bytes", status_code=413)
            spool.write(chunk)
        spool.seek(0)
        return spool.read()


def item_read(doc: Doc, duplicate: bool = False) -> ItemRead:
    return ItemRead(
        id=doc["_id"],
        batch_id=doc["batch_id"],
        project_id=doc["project_id"],
        file_name=doc["file_name"],
        sha256=doc["sha256"],
        width=doc["width"],
        height=doc["height"],
        format=doc["format"],
        size_bytes=doc["size_bytes"],
        duplicate=duplicate,
        preview_url=f"/v1/items/{doc['_id']}/preview",
        has_pre_annotation=doc.get("pre_annotation") is not None,
        media=doc.get("media", "image"),
        frame_count=doc.get("frame_count"),
        clip_count=doc.get("clip_count"),
        duration_s=doc.get("duration_s"),
        blurred=_blurred(doc.get("redacted")),
        media_removed_at=doc.get("media_removed_at"),
    )


def _blurred(redacted: Doc | None) -> Blurred | None:
    if redacted is None:
        return None
    return Blurred(
        faces=redacted["faces"], plates=redacted["plates"], frames=redacted.get("frames")
    )


def check_pre_annotation(
    annotation: Annotation | None, ontology: Ontology, info: domain.ImageInfo
) -> None:
    """Pre-annotations are validated exactly like annotators' submissions."""
    if annotation is not None:
        require_valid_annotation(
            annotation,
            ontology,
            info.width,
            info.height,
            code="invalid_pre_annotation",
            what="pre-annotation shape(s)",
        )


@dataclass(frozen=True)
class Redacted:
    key: str
    regions: tuple[Region, ...]

    def counts(self) -> dict[str, int]:
        kinds = [r.kind for r in self.regions]
        return {"faces": kinds.count("face"), "plates": kinds.count("plate")}


class Ingestor:
    """Validates, stores and records uploads for one batch."""

    def __init__(
        self,
        runtime: Runtime,
        items: ItemRepository,
        ledger: BatchLedger,
        batch: Doc,
        project: Doc,
        committer: GroupCommitter | None = None,
    ) -> None:
        self.runtime = runtime
        self.items = items
        self.ledger = ledger
        self.committer = committer
        self.batch = batch
        self.ontology = Ontology.model_validate(project["ontology"])
        self.media = project.get("media", "image")
        self.prelabel = domain.wants_prelabels(project)
        self.redaction = Redaction.of(project, runtime.settings)
        self._redacted: dict[str, Redacted] = {}  # by sha256: the blurred copies stored
        self._limit = asyncio.Semaphore(STORE_CONCURRENCY)

    async def ingest(self, files: list[Incoming]) -> list[Outcome]:
        """Every file gets an outcome; the new items of the request commit in one transaction."""
        if self.batch["status"] != "open":
            raise AppError("batch_sealed", "the batch is sealed; open a new batch", status_code=409)
        domain.check_upload_media(self.media, "image")
        outcomes = [Outcome(domain.safe_file_name(f.file_name)) for f in files]
        inspected = await asyncio.gather(*(self._inspect(f) for f in files), return_exceptions=True)
        fresh: dict[str, tuple[int, domain.ImageInfo]] = {}
        for index, result in enumerate(inspected):
            if isinstance(result, AppError):
                outcomes[index].error = result
            elif isinstance(result, BaseException):
                raise result
            else:
                iid = domain.item_id(self.batch["project_id"], result.sha256)
                fresh.setdefault(iid, (index, result))
        existing = await self.items.find_many(list(fresh))
        new = {iid: v for iid, v in fresh.items() if iid not in existing}
        await asyncio.gather(*(self._store_objects(info) for _, info in new.values()))
        records = [self._record(files[i], info, iid) for iid, (i, info) in new.items()]
        duplicates = set(existing)
        if records:
            try:
                if self.committer is not None:
                    await self.committer.commit(self.batch, records)
                else:
                    await self.ledger.add_items(self.batch, records)
            except DuplicateKeyError:
                # A concurrent request recorded some of these first: fall back to one by one.
                duplicates |= await self._add_one_by_one(records)
        docs = {**existing, **{doc["_id"]: doc for doc, _ in records}}
        for index, result in enumerate(inspected):
            if isinstance(result, domain.ImageInfo):
                iid = domain.item_id(self.batch["project_id"], result.sha256)
                is_dup = iid in duplicates or fresh[iid][0] != index
                outcomes[index].item = item_read(docs[iid], duplicate=is_dup)
        return outcomes

    async def _inspect(self, incoming: Incoming) -> domain.ImageInfo:
        if incoming.refused is not None:
            raise incoming.refused
        settings = self.runtime.settings
        info = await asyncio.to_thread(
            domain.inspect_image, incoming.data, settings.max_image_pixels
        )
        check_pre_annotation(incoming.pre_annotation, self.ontology, info)
        return info

    async def _store_objects(self, info: domain.ImageInfo) -> None:
        """Store the image before any item refers to it (and its blurred copy, where the
        project redacts: the original only if it keeps it)."""
        bucket, org = self.runtime.settings.images_bucket, self.batch["org_id"]
        async with self._limit:
            if (finder := self.redaction.finder) is not None:
                # OpenCV is loaded by the first picture that needs it, not by every replica.
                from shared.vision.redaction import redact_jpeg

                result = await asyncio.to_thread(redact_jpeg, info.data, detector=finder)
                key = domain.redacted_key(org, info.sha256)
                await self.runtime.storage.put_bytes(bucket, key, result.jpeg, "image/jpeg")
                self._redacted[info.sha256] = Redacted(key, result.regions)
                IMAGES_REDACTED.inc()
                if not self.redaction.keeps_original:
                    return
            await self.runtime.storage.put_bytes(
                bucket, domain.object_key(org, info.sha256), info.data, info.content_type
            )

    def _record(
        self, incoming: Incoming, info: domain.ImageInfo, iid: str
    ) -> tuple[Doc, ItemIngested]:
        bucket = self.runtime.settings.images_bucket
        org = self.batch["org_id"]
        name = domain.safe_file_name(incoming.file_name)
        key = domain.object_key(org, info.sha256)
        pre = incoming.pre_annotation
        doc = {
            "_id": iid,
            "batch_id": self.batch["_id"],
            "project_id": self.batch["project_id"],
            "org_id": org,
            "file_name": name,
            "sha256": info.sha256,
            "width": info.width,
            "height": info.height,
            "format": info.format,
            "size_bytes": info.size_bytes,
            "bucket": bucket,
            "object_key": key,
            "preview_key": None,  # made on first request (GET /v1/items/{id}/preview)
            "pre_annotation": pre.model_dump(mode="json") if pre else None,
            "created_at": utcnow(),
        }
        shown, shown_format = key, info.format
        if (redacted := self._redacted.get(info.sha256)) is not None:
            # People see the blurred copy; without the original, it is the item's picture.
            shown, shown_format = redacted.key, "jpeg"
            doc["redacted"] = {"key": redacted.key, **redacted.counts()}
            if not self.redaction.keeps_original:
                doc["object_key"] = redacted.key
        image = ImageRef(
            bucket=bucket,
            object_key=shown,
            width=info.width,
            height=info.height,
            format=shown_format,
            sha256=info.sha256,
            file_name=name,
        )
        event = ItemIngested(
            item_id=iid,
            project_id=doc["project_id"],
            batch_id=doc["batch_id"],
            org_id=org,
            image=image,
            pre_annotation=pre,
            prelabel=self.prelabel,
        )
        return doc, event

    async def _add_one_by_one(self, records: list[tuple[Doc, ItemIngested]]) -> set[str]:
        duplicates: set[str] = set()
        for record in records:
            try:
                await self.ledger.add_items(self.batch, [record])
            except DuplicateKeyError:
                duplicates.add(record[0]["_id"])
        return duplicates
