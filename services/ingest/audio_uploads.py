"""Turning an uploaded recording into an item: receive it to disk, read and store it, record it.

As for videos (video_uploads.py): the body goes to a temporary file as it arrives (hashed,
refused past the size limit), the item is content-addressed (the same file in a project is one
item), everything derived is stored before the item is recorded, and the item and its
`item.ingested` commit together, so a refusal or a crash leaves no item behind.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

from aviary.contracts.ingest import ItemRead
from aviary.contracts.speech import AudioSettings
from services.ingest import domain
from services.ingest.audio import AudioLimits
from services.ingest.audio_store import StoredRecording, derive, store_recording
from services.ingest.ledger import BatchLedger
from services.ingest.repositories import ItemRepository
from services.ingest.vad import SpeechDetector
from services.ingest.video_uploads import (
    Received,
    WholeFileIngestor,
    already_stored,
    receive_to_file,
    record_one,
)
from shared.events import AudioRef, ImageRef, ItemIngested
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import Doc, utcnow

# Recordings read at once per process: each keeps a core busy. Their decoded samples (an hour
# at 16 kHz is 230 MB as float32) are file pages in the upload's folder, not anonymous memory
# (audio._Normaliser): measured on an hour, 88 MB anonymous at the peak against 308 in memory.
READING_AT_ONCE = 2
_reading = asyncio.Semaphore(READING_AT_ONCE)


@cache
def speech_detector() -> SpeechDetector:
    """One model session a process, loaded on first use."""
    return SpeechDetector()


def limits_for(settings: Settings, audio: AudioSettings) -> AudioLimits:
    return AudioLimits(
        max_duration_s=audio.max_duration_s,
        max_channels=audio.max_channels,
        min_sample_rate=audio.min_sample_rate,
        max_sample_rate=settings.max_audio_sample_rate,
        max_decoded_samples=int(audio.max_duration_s * settings.max_audio_sample_rate)
        * audio.max_channels,
    )


class AudioIngestor(WholeFileIngestor):
    """Reads, stores and records recordings for one batch of an audio project."""

    media = "audio"

    def __init__(
        self, runtime: Runtime, items: ItemRepository, ledger: BatchLedger, batch: Doc, project: Doc
    ) -> None:
        super().__init__(runtime, items, ledger, batch, project)
        self.audio = AudioSettings.model_validate(project.get("audio") or {})

    async def ingest(self, chunks: AsyncIterator[bytes], file_name: str) -> ItemRead:
        settings = self.runtime.settings
        name = domain.safe_file_name(file_name)
        with tempfile.TemporaryDirectory(prefix="aviary-upload-") as folder:
            received = await receive_to_file(chunks, Path(folder), settings.max_audio_bytes)
            iid = domain.item_id(self.batch["project_id"], received.sha256)
            if (known := await already_stored(self.items, iid)) is not None:
                return known
            detector = speech_detector() if self.audio.vad else None
            async with _reading:
                derived = await asyncio.to_thread(
                    derive,
                    received.path,
                    name,
                    limits_for(settings, self.audio),
                    self.audio.max_part_s,
                    detector,
                )
            stored = await store_recording(
                self.runtime.storage,
                settings.images_bucket,
                self.batch["org_id"],
                received.path,
                received.sha256,
                derived,
            )
        doc, event = self._record(name, received, iid, stored)
        return await record_one(self.items, self.ledger, self.batch, doc, event)

    def _record(
        self, name: str, received: Received, iid: str, stored: StoredRecording
    ) -> tuple[Doc, ItemIngested]:
        bucket = self.runtime.settings.images_bucket
        org = self.batch["org_id"]
        recording = stored.recording
        width, height = stored.picture_size
        doc: Doc = {
            "_id": iid,
            "batch_id": self.batch["_id"],
            "project_id": self.batch["project_id"],
            "org_id": org,
            "file_name": name,
            "sha256": received.sha256,
            "width": width,
            "height": height,
            "format": recording.format,
            "size_bytes": received.size,
            "bucket": bucket,
            "object_key": stored.picture_key,  # the waveform picture: what lists show
            "preview_key": None,
            "pre_annotation": None,
            "media": "audio",
            "codec": recording.codec,
            "duration_s": recording.duration_s,
            "sample_rate": recording.sample_rate,
            "channels": recording.channels,
            "clip_count": len(stored.parts),
            "manifest_key": stored.manifest_key,
            "created_at": utcnow(),
        }
        image = ImageRef(
            bucket=bucket,
            object_key=stored.picture_key,
            width=width,
            height=height,
            format="png",
            sha256=stored.picture_sha256,
            file_name=name,
        )
        audio = AudioRef(
            bucket=bucket,
            manifest_key=stored.manifest_key,
            sha256=received.sha256,
            format=recording.format,
            duration_s=recording.duration_s,
            sample_rate=recording.sample_rate,
            channels=recording.channels,
            listening_key=stored.listening_key,
            peaks_key=stored.peaks_key,
            parts=stored.parts,
        )
        event = ItemIngested(
            item_id=iid,
            project_id=doc["project_id"],
            batch_id=doc["batch_id"],
            org_id=org,
            image=image,
            audio=audio,
            prelabel=self.prelabel,
        )
        return doc, event
