"""Builds pending deliveries: package, upload, then mark ready and announce, in that order.

Marking ready is one transaction over the delivery, its `delivery.ready` event and the webhook
record the sender picks up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from aviary.contracts.shapes import Annotation
from aviary.contracts.speech import Segment, Transcript
from aviary.contracts.tracks import TrackAnnotation
from services.export.domain import delivery_options
from services.export.formats import PackageItem, PackageSpec, PackageSummary, PackageWriter
from services.export.formats.package import sha256_file
from services.export.formats.speech import (
    SPEECH_FORMATS,
    SpeechItem,
    SpeechPackageWriter,
    SpeechSpec,
)
from services.export.formats.video import (
    VIDEO_FORMATS,
    VideoItem,
    VideoPackageWriter,
    VideoSpec,
)
from services.export.listening import decode_listening_copy
from services.export.redaction import blur_marked, delivered_picture
from services.export.repositories import (
    AcceptedItemRepository,
    BatchRepository,
    DeliveryRepository,
    WebhookRepository,
)
from shared.domain.projects import ProjectReadModel
from shared.domain.tracks import Clip, stitch
from shared.events import DeliveryReady, Envelope, ProjectUpserted
from shared.observability import correlation_id
from shared.runtime import Runtime
from shared.store.mongo import AsyncClientSession, Doc

log = logging.getLogger(__name__)


def package_item(doc: Doc, image_bytes: bytes | None, media_removed: bool = False) -> PackageItem:
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
        media_removed=media_removed,
    )


def speech_item(docs: list[Doc], samples: np.ndarray | None) -> SpeechItem:
    """A recording from its accepted parts (in any order): their segments in time order. Parts
    do not overlap (they are cut at silences), so nothing needs stitching; a segment id met in
    an earlier part gets its part's index in front."""
    docs = sorted(docs, key=lambda d: d["clip"]["index"])
    segments: list[Segment] = []
    seen: set[str] = set()
    for doc in docs:
        for segment in Transcript.model_validate(doc.get("transcript") or {}).segments:
            if segment.segment_id in seen:
                renamed = f"p{doc['clip']['index']}-{segment.segment_id}"
                segment = segment.model_copy(update={"segment_id": renamed})
            seen.add(segment.segment_id)
            segments.append(segment)
    first = docs[0]
    return SpeechItem(
        item_id=first["item_id"],
        file_name=first["image"]["file_name"],
        duration_s=max(d["clip"]["stop"] for d in docs) / 1000,
        segments=tuple(sorted(segments, key=lambda s: s.start)),
        audio=(lambda: samples) if samples is not None else None,
    )


def video_item(docs: list[Doc]) -> VideoItem:
    """A video from its accepted clips (in any order): their tracks, stitched."""
    docs = sorted(docs, key=lambda d: d["clip"]["index"])
    first, clip = docs[0], docs[0]["clip"]
    image = first["image"]
    pieces = [
        (
            Clip(d["clip"]["index"], d["clip"]["start"], d["clip"]["stop"]),
            TrackAnnotation.model_validate(d.get("tracks") or {}).tracks,
        )
        for d in docs
    ]
    return VideoItem(
        item_id=first["item_id"],
        file_name=image["file_name"],
        width=image["width"],
        height=image["height"],
        fps=clip.get("fps", 0.0),
        frame_count=clip.get("frames") or max(d["clip"]["stop"] for d in docs),
        tracks=tuple(stitch(pieces)),
    )


class DeliveryBuilder:
    """A background loop; a crash mid-build leaves the delivery pending, to be built again."""

    def __init__(
        self,
        runtime: Runtime,
        projects: ProjectReadModel,
        batches: BatchRepository,
        accepted: AcceptedItemRepository,
        deliveries: DeliveryRepository,
        webhooks: WebhookRepository,
        poll_s: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.projects = projects
        self.batches = batches
        self.accepted = accepted
        self.deliveries = deliveries
        self.webhooks = webhooks
        self.poll_s = poll_s
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                while (delivery := await self.deliveries.claim_pending()) is not None:
                    await self.build(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery.build_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def build(self, delivery: Doc) -> None:
        project = await self.projects.get(delivery["project_id"])
        if project is None:
            log.info("delivery.waiting_for_project", extra={"delivery": delivery["_id"]})
            await self.deliveries.release_claim(delivery["_id"])
            return
        options = delivery.get("options") or delivery_options(project, {})
        after, upto = await self.sequence_range(delivery)
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
        await self.mark_ready(delivery, event, details, project.webhook_url)
        log.info("delivery.ready", extra={"delivery": delivery["_id"], "images": summary.images})

    async def sequence_range(self, delivery: Doc) -> tuple[int, int]:
        """The items a delivery holds: sequence numbers in (after, upto]: everything accepted
        so far, or for an incremental delivery what came after the batch's last one."""
        upto = await self.batches.seq(delivery["batch_id"])
        after = 0
        if delivery["kind"] == "incremental":
            after = await self.deliveries.last_upto(delivery["batch_id"])
        return after, upto

    async def mark_ready(
        self, delivery: Doc, event: DeliveryReady, details: Doc, webhook_url: str | None
    ) -> None:
        """Ready, announced on the bus and queued for the client's webhook: all or nothing."""
        outbox = self.runtime.outbox

        async def work(session: AsyncClientSession) -> None:
            if not await self.deliveries.mark_ready(session, delivery, details):
                return  # another builder finished it first and announced it
            await outbox.add(
                session,
                Envelope.wrap(
                    event, org_ids=(delivery["org_id"],), correlation_id=correlation_id.get()
                ),
            )
            if webhook_url:
                await self.webhooks.add(delivery, webhook_url, session)

        await self.runtime.db.transaction(work)
        outbox.notify()

    async def _package(
        self,
        delivery: Doc,
        project: ProjectUpserted,
        options: dict[str, Any],
        after: int,
        upto: int,
        workdir: Path,
    ) -> PackageSummary:
        # Items taken out of the batch: every package of it lists them, whatever the media.
        dropped = await self.batches.dropped(delivery["batch_id"])
        if project.media == "video":
            return await self._package_videos(
                delivery, project, options, after, upto, workdir, dropped
            )
        if project.media == "audio":
            return await self._package_recordings(delivery, options, after, upto, workdir, dropped)
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
            dropped=dropped,
        )
        storage = self.runtime.storage
        # Leaving the block without close() (an error mid-build) removes the partial files.
        with PackageWriter(workdir / "delivery.zip", workdir, spec) as writer:
            async for doc in self.accepted.in_range(delivery["batch_id"], after, upto):
                image_bytes, media_removed = None, False
                if spec.include_images:
                    image = doc["image"]
                    where = delivered_picture(image, doc["org_id"], project.privacy.redaction)
                    # None once the project's media retention removed it: annotations only.
                    image_bytes = await storage.get_bytes_if_any(*where)
                    if image_bytes is not None:
                        image_bytes = await blur_marked(image_bytes, doc, project)
                    media_removed = image_bytes is None
                writer.add(package_item(doc, image_bytes, media_removed))
            return await asyncio.to_thread(writer.close)

    async def _package_videos(
        self,
        delivery: Doc,
        project: ProjectUpserted,
        options: dict[str, Any],
        after: int,
        upto: int,
        workdir: Path,
        dropped: tuple[Doc, ...],
    ) -> PackageSummary:
        """Each video's accepted clips, their tracks stitched into the video's (frames are not
        included: the client has the video)."""
        spec = VideoSpec(
            delivery_id=delivery["_id"],
            project_id=delivery["project_id"],
            batch_id=delivery["batch_id"],
            ontology=project.ontology,
            project_version=project.version,
            formats=tuple(f for f in options["formats"] if f in VIDEO_FORMATS),
            dropped=dropped,
        )
        clips: dict[str, list[Doc]] = {}
        async for doc in self.accepted.in_range(delivery["batch_id"], after, upto):
            if doc.get("clip") is not None:
                clips.setdefault(doc["item_id"], []).append(doc)
        writer = VideoPackageWriter(workdir / "delivery.zip", workdir, spec)
        try:
            for docs in clips.values():
                writer.add(video_item(docs))
            return await asyncio.to_thread(writer.close)
        except BaseException:
            writer.abort()
            raise

    async def _package_recordings(
        self,
        delivery: Doc,
        options: dict[str, Any],
        after: int,
        upto: int,
        workdir: Path,
        dropped: tuple[Doc, ...],
    ) -> PackageSummary:
        """Each recording's accepted parts, their segments joined into the recording's; with
        `include_images` (for audio: the audio), each speech segment cut as a clip from the
        listening copy."""
        spec = SpeechSpec(
            delivery_id=delivery["_id"],
            project_id=delivery["project_id"],
            batch_id=delivery["batch_id"],
            formats=tuple(f for f in options["formats"] if f in SPEECH_FORMATS),
            include_audio=options["include_images"],
            dropped=dropped,
        )
        parts: dict[str, list[Doc]] = {}
        async for doc in self.accepted.in_range(delivery["batch_id"], after, upto):
            if doc.get("clip") is not None:
                parts.setdefault(doc["item_id"], []).append(doc)
        writer = SpeechPackageWriter(workdir / "delivery.zip", workdir, spec)
        try:
            for docs in parts.values():
                samples = await self._samples(docs[0]) if spec.include_audio else None
                writer.add(speech_item(docs, samples))
            return await asyncio.to_thread(writer.close)
        except BaseException:
            writer.abort()
            raise

    async def _samples(self, doc: Doc) -> np.ndarray:
        """A recording's listening copy, decoded (16 kHz mono), to cut clips from."""
        storage, clip = self.runtime.storage, doc["clip"]
        manifest = json.loads(await storage.get_bytes(clip["bucket"], clip["manifest_key"]))
        listening = await storage.get_bytes(clip["bucket"], manifest["listening_key"])
        return await asyncio.to_thread(decode_listening_copy, listening)
