"""A recording into object storage: read it whole first, store only then.

The reader (audio.py) decodes the file and normalises it to 16 kHz mono; from that come the
listening copy people hear (Ogg Opus), the waveform peaks the tools draw, a waveform picture
(the recording's thumbnail, what lists and the review queue show as its image) and the speech
segments voice-activity detection proposes (vad.py), which also say where long recordings are
cut into parts. All of it is computed once, here, in a worker thread. Nothing is stored until
the file has been read to its end, so a refusal stores nothing; the manifest is written last,
so a recording whose manifest exists is whole. The file as uploaded is kept (`original`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from services.ingest.audio import AudioLimits, Recording, read_recording
from services.ingest.audio_parts import plan_parts
from services.ingest.audio_views import listening_copy, peaks, waveform_picture
from services.ingest.vad import SpeechDetector
from shared.store.storage import ObjectStorage, content_key


@dataclass(frozen=True)
class Derived:
    """What ingest makes of a recording, before any of it is stored."""

    recording: Recording
    listening: bytes
    peaks: bytes
    picture: bytes
    picture_size: tuple[int, int]
    speech: list[tuple[float, float]]
    parts: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class StoredRecording:
    recording: Recording
    manifest_key: str
    listening_key: str
    peaks_key: str
    picture_key: str
    picture_sha256: str
    picture_size: tuple[int, int]
    parts: tuple[tuple[int, int], ...]
    speech: list[tuple[float, float]]


def recording_prefix(org_id: str, sha256: str) -> str:
    return f"{org_id}/recordings/{sha256[:2]}/{sha256}"


def derive(
    path: Path,
    file_name: str | None,
    limits: AudioLimits,
    max_part_s: float,
    detector: SpeechDetector | None,
) -> Derived:
    """Read, check and normalise the file, and make everything the tools need (CPU work: run
    it in a thread). Without a detector the whole recording counts as speech, so parts are
    cut at `max_part_s` exactly."""
    # The samples spill beside the upload, in its temporary folder.
    recording = read_recording(path, file_name, limits, spill_dir=path.parent)
    samples = recording.samples
    speech = detector.detect(samples) if detector is not None else []
    picture = waveform_picture(samples)
    return Derived(
        recording=recording,
        listening=listening_copy(samples),
        peaks=peaks(samples),
        picture=picture,
        picture_size=_png_size(picture),
        speech=speech,
        parts=plan_parts(recording.duration_s, speech, max_part_s),
    )


async def store_recording(
    storage: ObjectStorage,
    bucket: str,
    org_id: str,
    path: Path,
    sha256: str,
    derived: Derived,
) -> StoredRecording:
    """Store the original, the listening copy, the peaks, the picture and, last, the manifest."""
    prefix = recording_prefix(org_id, sha256)
    picture_sha = hashlib.sha256(derived.picture).hexdigest()
    stored = StoredRecording(
        recording=derived.recording,
        manifest_key=f"{prefix}/manifest.json",
        listening_key=f"{prefix}/listening.ogg",
        peaks_key=f"{prefix}/peaks.json",
        picture_key=content_key(org_id, picture_sha),
        picture_sha256=picture_sha,
        picture_size=derived.picture_size,
        parts=derived.parts,
        speech=derived.speech,
    )
    async with asyncio.TaskGroup() as group:
        group.create_task(_put_original(storage, bucket, f"{prefix}/original", path))
        group.create_task(
            storage.put_bytes(bucket, stored.listening_key, derived.listening, "audio/ogg")
        )
        group.create_task(
            storage.put_bytes(bucket, stored.peaks_key, derived.peaks, "application/json")
        )
        group.create_task(
            storage.put_bytes(bucket, stored.picture_key, derived.picture, "image/png")
        )
    recording = derived.recording
    manifest = {
        "recording": {
            "format": recording.format,
            "codec": recording.codec,
            "duration_s": recording.duration_s,
            "sample_rate": recording.sample_rate,
            "channels": recording.channels,
        },
        "listening_key": stored.listening_key,
        "peaks_key": stored.peaks_key,
        "picture_key": stored.picture_key,
        "parts": [list(p) for p in stored.parts],
        "speech": [[round(s, 3), round(e, 3)] for s, e in stored.speech],
    }
    await storage.put_bytes(
        bucket, stored.manifest_key, json.dumps(manifest).encode(), "application/json"
    )
    return stored


async def _put_original(storage: ObjectStorage, bucket: str, key: str, path: Path) -> None:
    with await asyncio.to_thread(path.open, "rb") as f:
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        await storage.put_stream(bucket, key, f, size, "application/octet-stream")


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk comes first)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
