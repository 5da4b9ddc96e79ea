"""Builds pending deliveries: package, upload, then mark ready and announce, in that order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from aviary.contracts.shapes import Annotation
from services.export.formats import PackageItem, PackageSpec, PackageSummary, PackageWriter
from services.export.formats.package import sha256_file
from services.export.store import ExportStore, delivery_options
from shared.events import DeliveryReady, ProjectUpserted
from shared.runtime import Runtime
from shared.store.mongo import Doc

log = logging.getLogger(__name__)


def package_item(doc: Doc, image_bytes: bytes | None) -> PackageItem:
    image = doc["image"]
    return PackageItem(
        item_id=doc["item_id"],
        file_name=image["file_name"],
        format=image["format"],
        width=image["width"],
        height=image["height"],
        ontology_version=doc["ontology_version"],
        shapes=Annotation.model_validate(doc["annotation"]).shapes,
        annotator_id=doc["annotator_id"],
        reviewer_id=doc.get("reviewer_id"),
        accepted_at=doc["accepted_at"].isoformat(),
        image_bytes=image_bytes,
    )


class DeliveryBuilder:
    """A background loop; a crash mid-build leaves the delivery pending, to be built again."""

    def __init__(self, runtime: Runtime, store: ExportStore, poll_s: float = 1.0) -> None:
        self.runtime = runtime
        self.store = store
        self.poll_s = poll_s
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                while (delivery := await self.store.claim_pending()) is not None:
                    await self.build(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery.build_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def build(self, delivery: Doc) -> None:
        project = await self.store.projects.get(delivery["project_id"])
        if project is None:
            log.info("delivery.waiting_for_project", extra={"delivery": delivery["_id"]})
            await self.store.release_claim(delivery["_id"])
            return
        options = delivery.get("options") or delivery_options(project, {})
        after, upto = await self.store.sequence_range(delivery)
        with tempfile.TemporaryDirectory(prefix="aviary-export-") as tmp:
            workdir = Path(tmp)
            zip_path = workdir / "delivery.zip"
            summary = await self._package(delivery, project, options, after, upto, workdir)
            digest = await asyncio.to_thread(sha256_file, zip_path)
            size = zip_path.stat().st_size
            settings = self.runtime.settings
            key = f"{delivery['org_id']}/{delivery['project_id']}/{delivery['_id']}.zip"
            with zip_path.open("rb") as stream:
                await self.runtime.storage.put_stream(
                    settings.deliveries_bucket, key, stream, size, "application/zip"
                )
        event = DeliveryReady(
            delivery_id=delivery["_id"],
            project_id=delivery["project_id"],
            batch_id=delivery["batch_id"],
            org_id=delivery["org_id"],
            bucket=settings.deliveries_bucket,
            object_key=key,
            sha256=digest,
            size_bytes=size,
            images=summary.images,
            annotations=summary.annotations,
            kind=delivery["kind"],
        )
        details = {
            "bucket": event.bucket,
            "object_key": key,
            "sha256": digest,
            "size_bytes": size,
            "images": summary.images,
            "annotations": summary.annotations,
            "options": options,
            "after_seq": after,
            "upto_seq": upto,
        }
        await self.store.mark_ready(delivery, event, details, project.webhook_url)
        log.info("delivery.ready", extra={"delivery": delivery["_id"], "images": summary.images})

    async def _package(
        self,
        delivery: Doc,
        project: ProjectUpserted,
        options: dict[str, Any],
        after: int,
        upto: int,
        workdir: Path,
    ) -> PackageSummary:
        spec = PackageSpec(
            delivery_id=delivery["_id"],
            kind=delivery["kind"],
            project_id=delivery["project_id"],
            batch_id=delivery["batch_id"],
            ontology=project.ontology,
            project_version=project.version,
            formats=tuple(options["formats"]),
            include_images=options["include_images"],
            include_people=options["include_people"],
        )
        storage = self.runtime.storage
        # Leaving the block without close() (an error mid-build) removes the partial files.
        with PackageWriter(workdir / "delivery.zip", workdir, spec) as writer:
            async for doc in self.store.accepted_items(delivery["batch_id"], after, upto):
                image_bytes = None
                if spec.include_images:
                    image = doc["image"]
                    image_bytes = await storage.get_bytes(image["bucket"], image["object_key"])
                writer.add(package_item(doc, image_bytes))
            return await asyncio.to_thread(writer.close)
