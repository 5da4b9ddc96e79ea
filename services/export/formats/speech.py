"""Speech deliveries: a recording's segments, written item by item in five formats.

Every package holds `segments/<item>.json`: every segment of the recording with every field
(non-speech events, untranscribed speech, attributes), so nothing the annotators said is lost
to a format that cannot hold it. The formats the delivery asks for come beside it:

- `nemo/manifest.jsonl`: NVIDIA NeMo's ASR manifest, a line per transcribed speech segment
  (`audio_filepath`, `offset`, `duration` in seconds rounded to the millisecond, `text`,
  `speaker` and `lang` when set, then `item_id` and `segment_id`). With the audio included,
  `audio_filepath` is the segment's own clip `clips/<item>/<name>.wav` and `offset` is 0;
  without it, it names the client's recording as `recordings/<item>/<uploaded file name>`
  (the item folder keeps two uploads of one name apart) and `offset` is where the segment
  starts in it: the client puts its recordings there.
- `audiofolder/`: Hugging Face's audiofolder layout, `metadata.csv` (file_name, transcription,
  speaker, language, item_id, segment_id, start, end) beside a clip per transcribed speech
  segment, `<item>_<name>.wav` (`-2`, `-3`... where two item and segment names meet in one).
  It is made of audio, so it needs the recording's samples.
- `rttm/<item>.rttm`: NIST RTTM for diarisation, one `SPEAKER` line per speech segment. A speech
  segment nobody named a speaker for is still speech: it is written as speaker `unknown` rather
  than left out (a reference without it would charge a system that finds it with a false
  alarm). Noise, music and overlap are not written: RTTM's non-speech types differ between NIST
  versions and scoring tools read SPEAKER lines only. RTTM fields are separated by whitespace,
  so whitespace inside a speaker's name becomes `_`.
- `vtt/<item>.vtt` (WebVTT, the speaker as a `<v>` voice span, `&`, `<` and `>` escaped) and
  `srt/<item>.srt` (SubRip, the speaker as a `Speaker: ` prefix, `-->` written `->`): a cue per
  transcribed speech segment, its text on one line (a blank line would end the cue).

Times are written in whole milliseconds, the same in every format. A speaker's name has its
runs of whitespace made single spaces (`_` in RTTM), and a blank one counts as none;
`segments/<item>.json` keeps it as written. A segment's `name` is its id where that is safe as
a file name (`SAFE_ID`), otherwise the id's safe characters and a short hash of it, so that a
clip's path cannot climb out of its folder. Clips (with `include_audio`, any format; always for
the audiofolder) are 16 kHz mono 16-bit PCM WAV cut from `SpeechItem.audio` at the segment's
exact times, stored in the zip uncompressed.

NeMo and metadata.csv, one file for the whole package, are appended to part files and streamed
into the zip at `close`; everything else goes in as each item is added, so memory holds one
item (and its samples) at a time.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import soundfile  # type: ignore[import-untyped]  # ships no type hints

from aviary.contracts.speech import Segment
from services.export.formats.model import SAFE_ID, PackageSummary
from services.export.formats.package import write_manifest
from services.export.formats.text import one_line
from services.export.formats.zipsink import ZipSink

SPEECH_FORMATS = ("nemo", "audiofolder", "rttm", "vtt", "srt")
SAMPLE_RATE = 16_000
UNKNOWN_SPEAKER = "unknown"  # RTTM's speaker for speech without one
METADATA_COLUMNS = (
    "file_name",
    "transcription",
    "speaker",
    "language",
    "item_id",
    "segment_id",
    "start",
    "end",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# Characters json.dumps leaves raw (ensure_ascii=False) that str.splitlines() breaks on: a
# JSON Lines record must stay on its line for every reader.
_JSONL_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SpeechItem:
    """One accepted recording, its parts' segments joined, in order of their start."""

    item_id: str
    file_name: str  # as uploaded: metadata only
    duration_s: float
    segments: tuple[Segment, ...]
    # The recording's 16 kHz mono float32 samples; called only when the package needs audio.
    audio: Callable[[], npt.NDArray[Any]] | None = None

    def __post_init__(self) -> None:
        if not SAFE_ID.fullmatch(self.item_id):
            raise ValueError(f"item id {self.item_id!r} is not safe to use as a file name")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"item {self.item_id}: duration {self.duration_s} is not a length")
        for s in self.segments:
            # The contract bounds times from below only: an infinite end would pass it.
            if not (math.isfinite(s.start) and math.isfinite(s.end)):
                raise ValueError(f"item {self.item_id}: segment {s.segment_id!r} never ends")
        if any(b.start < a.start for a, b in pairwise(self.segments)):
            raise ValueError(f"item {self.item_id}: segments must be in order of their start")
        ids = [s.segment_id for s in self.segments]
        if len(set(ids)) != len(ids):
            raise ValueError(f"item {self.item_id}: segment ids must be unique")


@dataclass(frozen=True)
class SpeechSpec:
    delivery_id: str
    project_id: str
    batch_id: str
    formats: tuple[str, ...]
    include_audio: bool = False  # a clip per speech segment, whatever the formats
    project_version: int | None = None
    dropped: tuple[dict[str, Any], ...] = ()  # items taken out of the batch, with why

    def __post_init__(self) -> None:
        unknown = sorted(set(self.formats) - set(SPEECH_FORMATS))
        if not self.formats or unknown:
            raise ValueError(f"speech formats must be some of {SPEECH_FORMATS}, not {unknown}")

    @property
    def needs_audio(self) -> bool:
        return self.include_audio or "audiofolder" in self.formats


@dataclass(frozen=True, slots=True)
class Placed:
    """A segment as the files write it: its times in whole milliseconds (so that every format
    says the same times, and a segment never rounds to nothing) and its safe name."""

    segment: Segment
    start_ms: int
    end_ms: int
    name: str
    text: str  # the transcript without surrounding whitespace
    speaker: str | None  # whitespace collapsed; None when unset or blank

    @property
    def transcribed(self) -> bool:
        return self.segment.event == "speech" and bool(self.text)


def segment_name(segment_id: str) -> str:
    """A segment's name in file paths: its id when safe, else its safe characters and a hash
    of the whole id (two unsafe ids that differ only in unsafe characters stay apart)."""
    if SAFE_ID.fullmatch(segment_id):
        return segment_id
    digest = hashlib.sha256(segment_id.encode()).hexdigest()[:12]
    kept = _UNSAFE.sub("_", segment_id).strip("_-")[:64]
    return f"{kept}-{digest}" if kept else f"s-{digest}"


def place(segments: tuple[Segment, ...]) -> list[Placed]:
    placed: list[Placed] = []
    taken: set[str] = set()
    for s in segments:
        name = segment_name(s.segment_id)
        if name in taken:  # a safe id that happens to equal another's escaped name
            name = next(
                f"{name}-{n}" for n in range(2, len(taken) + 3) if f"{name}-{n}" not in taken
            )
        taken.add(name)
        start_ms = round(s.start * 1000)
        end_ms = max(start_ms + 1, round(s.end * 1000))
        speaker = " ".join(s.speaker.split()) if s.speaker is not None else ""
        placed.append(Placed(s, start_ms, end_ms, name, s.text.strip(), speaker or None))
    return placed


def seconds(ms: int) -> float:
    return ms / 1000


def clock(ms: int, decimal: str) -> str:
    """HH:MM:SS.mmm (WebVTT) or HH:MM:SS,mmm (SubRip)."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def rttm_field(text: str) -> str:
    """A whitespace-free RTTM field: runs of whitespace (as str.split sees it) become `_`."""
    return "_".join(text.split()) or "_"


def vtt_text(text: str) -> str:
    """Cue text or a voice annotation: on one line, with WebVTT's three escapes (which also
    keeps a `-->` in a transcript from reading as a timing line); NUL as the parser would."""
    escaped = one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("\x00", "\ufffd")


def srt_text(text: str) -> str:
    """SubRip has no escapes: a cue stays on one line (a blank line would end it) and an arrow
    is shortened, so no line of text can pass for a timing line."""
    return one_line(text).replace("-->", "->")


def jsonl(entry: dict[str, Any]) -> str:
    return json.dumps(entry, ensure_ascii=False, allow_nan=False).translate(_JSONL_BREAKS) + "\n"


def wav_bytes(samples: Samples) -> bytes:
    out = io.BytesIO()
    # libsndfile wraps rather than clips floats outside [-1, 1] when writing 16-bit PCM.
    clipped = np.clip(samples, -1.0, 1.0)
    soundfile.write(out, clipped, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return out.getvalue()


def recording_path(item: SpeechItem) -> str:
    """Where NeMo expects the client's recording when the package has no audio."""
    base = one_line(item.file_name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return f"recordings/{item.item_id}/{base if base not in ('', '.', '..') else item.item_id}"


def _finite(value: Any) -> Any:
    """An attribute value JSON can hold (NaN and infinities as null, as pydantic writes them)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


class SpeechPackageWriter:
    """Writes one speech delivery package: `add` each recording, then `close` for the summary.
    Used as a context manager, leaving the block without `close` discards the package."""

    def __init__(self, zip_path: Path, workdir: Path, spec: SpeechSpec) -> None:
        self._spec = spec
        self._formats = tuple(f for f in SPEECH_FORMATS if f in spec.formats)
        self._zip_path = zip_path
        self._parts = Path(tempfile.mkdtemp(prefix="aviary-speech-package-", dir=workdir))
        self._closed = False
        self._seen: set[str] = set()
        self._folder_names: set[str] = set()  # audiofolder's clips share one folder
        self._items = 0
        self._segments = 0
        self._transcribed = 0
        self._clips = 0
        self._seconds = 0.0
        self._nemo: IO[str] | None = None
        self._metadata: IO[str] | None = None
        self._csv: Any = None
        try:
            self._sink = ZipSink(zip_path)
        except BaseException:
            shutil.rmtree(self._parts, ignore_errors=True)
            raise
        try:
            if "nemo" in self._formats:
                self._nemo = self._part("nemo")
            if "audiofolder" in self._formats:
                self._metadata = self._part("metadata")
                self._csv = csv.writer(self._metadata)
                self._csv.writerow(METADATA_COLUMNS)
        except BaseException:
            self.abort()
            raise

    def _part(self, name: str) -> IO[str]:
        return (self._parts / f"{name}.part").open("w", encoding="utf-8", newline="")

    def __enter__(self) -> SpeechPackageWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._closed:
            self.abort()

    def add(self, item: SpeechItem) -> None:
        if self._closed:
            raise RuntimeError("the package is closed")
        if item.item_id in self._seen:
            raise ValueError(f"item {item.item_id} was added twice")
        samples = self._samples(item) if self._spec.needs_audio else None
        self._seen.add(item.item_id)
        self._items += 1
        self._seconds += item.duration_s
        placed = place(item.segments)
        self._segments += len(placed)
        self._transcribed += sum(1 for p in placed if p.transcribed)
        clips = self._write_clips(item, placed, samples) if self._spec.include_audio else {}
        self._write_segments(item, placed, clips)
        if self._nemo is not None:
            self._write_nemo(item, placed, clips)
        if self._csv is not None and samples is not None:
            self._write_audiofolder(item, placed, samples)
        if "rttm" in self._formats:
            self._write_rttm(item, placed)
        if "vtt" in self._formats:
            self._write_vtt(item, placed)
        if "srt" in self._formats:
            self._write_srt(item, placed)

    def close(self) -> PackageSummary:
        """Stream the NeMo manifest and metadata.csv in, then manifest.json; close the zip."""
        if self._closed:
            raise RuntimeError("the package is closed")
        try:
            if self._nemo is not None:
                self._finish(self._nemo, "nemo/manifest.jsonl")
            if self._metadata is not None:
                self._finish(self._metadata, "audiofolder/metadata.csv")
            files = tuple(self._sink.entries)
            spec = self._spec
            head: dict[str, Any] = {
                "delivery_id": spec.delivery_id,
                "kind": "speech",
                "project_id": spec.project_id,
                "batch_id": spec.batch_id,
                "project_version": spec.project_version,
                "formats": list(self._formats),
                "include_audio": spec.include_audio,
                "sample_rate": SAMPLE_RATE,  # of every clip in the package
                "counts": {
                    "recordings": self._items,
                    "audio_seconds": round(self._seconds, 3),
                    "segments": self._segments,
                    "transcribed_segments": self._transcribed,
                    "clips": self._clips,
                },
                "dropped": list(spec.dropped),
            }
            write_manifest(self._sink, head, files)
            self._sink.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        shutil.rmtree(self._parts, ignore_errors=True)
        return PackageSummary(images=self._items, annotations=self._segments, files=files)

    def abort(self) -> None:
        """Give up: close what is open, remove the part files and the unfinished zip."""
        self._closed = True
        for part in (self._nemo, self._metadata):
            if part is not None:
                part.close()
        with contextlib.suppress(Exception):  # the zip is being thrown away
            self._sink.close()
        self._zip_path.unlink(missing_ok=True)
        shutil.rmtree(self._parts, ignore_errors=True)

    def _finish(self, part: IO[str], path: str) -> None:
        part.close()
        local = Path(part.name)
        with self._sink.stream(path, local.stat().st_size) as out:
            out.copy_from(local)

    # ----- audio ----------------------------------------------------------------------------

    def _samples(self, item: SpeechItem) -> Samples:
        if item.audio is None:
            needs = "clips" if self._spec.include_audio else "the audiofolder format"
            raise ValueError(f"item {item.item_id}: the package needs audio ({needs}); none came")
        samples = np.asarray(item.audio(), dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(
                f"item {item.item_id}: audio must be mono samples, not {samples.shape}"
            )
        return samples

    @staticmethod
    def _cut(samples: Samples, p: Placed) -> Samples:
        """The segment's samples, cut at its exact times rather than the files' milliseconds
        (shorter where the recording ends before the segment does)."""
        first = round(p.segment.start * SAMPLE_RATE)
        return samples[first : max(first + 1, round(p.segment.end * SAMPLE_RATE))]

    def _write_clips(
        self, item: SpeechItem, placed: list[Placed], samples: Samples | None
    ) -> dict[str, tuple[str, int]]:
        """A clip per speech segment; segment id -> (path, its length in samples)."""
        assert samples is not None  # include_audio made add fetch them
        clips: dict[str, tuple[str, int]] = {}
        for p in placed:
            if p.segment.event != "speech":
                continue
            clip = self._cut(samples, p)
            path = f"clips/{item.item_id}/{p.name}.wav"
            self._sink.write_bytes(path, wav_bytes(clip), compress=False)
            self._clips += 1
            clips[p.segment.segment_id] = (path, clip.size)
        return clips

    # ----- the formats ----------------------------------------------------------------------

    def _write_segments(
        self, item: SpeechItem, placed: list[Placed], clips: dict[str, tuple[str, int]]
    ) -> None:
        entries = []
        for p in placed:
            entry = p.segment.model_dump(mode="json")
            entry["attributes"] = {k: _finite(v) for k, v in entry["attributes"].items()}
            entry["name"] = p.name
            if p.segment.segment_id in clips:
                entry["clip"] = clips[p.segment.segment_id][0]
            entries.append(entry)
        document = {
            "item_id": item.item_id,
            "file_name": item.file_name,
            "duration_s": item.duration_s,
            "segments": entries,
        }
        data = json.dumps(document, ensure_ascii=False, allow_nan=False, indent=1)
        self._sink.write_bytes(f"segments/{item.item_id}.json", data.encode())

    def _write_nemo(
        self, item: SpeechItem, placed: list[Placed], clips: dict[str, tuple[str, int]]
    ) -> None:
        assert self._nemo is not None
        recording = recording_path(item)
        lines = []
        for p in placed:
            if not p.transcribed:
                continue
            entry: dict[str, Any]
            if self._spec.include_audio:
                path, length = clips[p.segment.segment_id]
                entry = {
                    "audio_filepath": path,
                    "offset": 0.0,
                    "duration": round(length / SAMPLE_RATE, 3),
                }
            else:
                entry = {
                    "audio_filepath": recording,
                    "offset": seconds(p.start_ms),
                    "duration": seconds(p.end_ms - p.start_ms),
                }
            entry["text"] = p.text
            if p.speaker is not None:
                entry["speaker"] = p.speaker
            if p.segment.language is not None:
                entry["lang"] = p.segment.language
            entry["item_id"] = item.item_id
            entry["segment_id"] = p.segment.segment_id
            lines.append(jsonl(entry))
        self._nemo.write("".join(lines))

    def _write_audiofolder(self, item: SpeechItem, placed: list[Placed], samples: Samples) -> None:
        for p in placed:
            if not p.transcribed:
                continue
            name = f"{item.item_id}_{p.name}"
            # Item and segment names may both hold `_`: two pairs can meet in one name.
            name = next(
                candidate
                for n in range(1, len(self._folder_names) + 2)
                if (candidate := name if n == 1 else f"{name}-{n}") not in self._folder_names
            )
            self._folder_names.add(name)
            self._sink.write_bytes(
                f"audiofolder/{name}.wav", wav_bytes(self._cut(samples, p)), compress=False
            )
            self._csv.writerow(
                (
                    f"{name}.wav",
                    p.text,
                    p.speaker or "",
                    p.segment.language or "",
                    item.item_id,
                    p.segment.segment_id,
                    f"{seconds(p.start_ms):.3f}",
                    f"{seconds(p.end_ms):.3f}",
                )
            )

    def _write_rttm(self, item: SpeechItem, placed: list[Placed]) -> None:
        lines = [
            f"SPEAKER {item.item_id} 1 {seconds(p.start_ms):.3f} "
            f"{seconds(p.end_ms - p.start_ms):.3f} <NA> <NA> "
            f"{rttm_field(p.speaker or UNKNOWN_SPEAKER)} <NA> <NA>\n"
            for p in placed
            if p.segment.event == "speech"
        ]
        self._sink.write_bytes(f"rttm/{item.item_id}.rttm", "".join(lines).encode())

    def _write_vtt(self, item: SpeechItem, placed: list[Placed]) -> None:
        blocks = ["WEBVTT\n"]
        for p in placed:
            if not p.transcribed:
                continue
            text = vtt_text(p.text)
            if p.speaker is not None:
                text = f"<v {vtt_text(p.speaker)}>{text}</v>"
            # A cue's identifier is its segment's name, but for the words that start a comment,
            # a style or a region block (a precaution: a timing line follows, so it is a cue).
            identifier = "" if p.name in ("NOTE", "STYLE", "REGION") else f"{p.name}\n"
            blocks.append(
                f"\n{identifier}{clock(p.start_ms, '.')} --> {clock(p.end_ms, '.')}\n{text}\n"
            )
        self._sink.write_bytes(f"vtt/{item.item_id}.vtt", "".join(blocks).encode())

    def _write_srt(self, item: SpeechItem, placed: list[Placed]) -> None:
        blocks: list[str] = []
        for p in (p for p in placed if p.transcribed):
            text = srt_text(p.text)
            if p.speaker is not None:
                text = f"{srt_text(p.speaker)}: {text}"
            blocks.append(
                f"{len(blocks) + 1}\n{clock(p.start_ms, ',')} --> {clock(p.end_ms, ',')}\n"
                f"{text}\n\n"
            )
        self._sink.write_bytes(f"srt/{item.item_id}.srt", "".join(blocks).encode())
