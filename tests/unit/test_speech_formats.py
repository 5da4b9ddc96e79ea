"""Speech deliveries (services/export/formats/speech.py): NeMo, audiofolder, RTTM, WebVTT, SRT.

Each format is read back with a standard reader: webvtt-py for WebVTT, `srt` for SubRip, `csv`
and soundfile for the audiofolder, `json` for NeMo, and for RTTM a strict reader written here
from NIST's field list (no maintained RTTM parser is installed).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile  # type: ignore[import-untyped]  # ships no type hints
import srt  # type: ignore[import-untyped]  # ships no type hints
import webvtt

from aviary.contracts.speech import Segment
from services.export.formats.speech import (
    SAMPLE_RATE,
    SpeechItem,
    SpeechPackageWriter,
    SpeechSpec,
)

DURATION = 12.0
NASTY = 'a --> b <i>x</i> & "q"\nline two\r\n\nthree'


def samples(seconds: float = DURATION) -> npt.NDArray[np.float32]:
    """A recording whose every sample says where it is (a ramp), so a clip shows its cut."""
    n = int(seconds * SAMPLE_RATE)
    return (np.arange(n, dtype=np.float64) / n * 1.8 - 0.9).astype(np.float32)


def seg(segment_id: str, start: float, end: float, text: str = "", **more: Any) -> Segment:
    return Segment(segment_id=segment_id, start=start, end=end, text=text, **more)


SEGMENTS = (
    seg("s1", 0.5, 2.25, "Hello, world", speaker="Ana Maria", language="en"),
    seg("s2", 1.0, 3.0, NASTY, speaker="ben\tthe\nbuilder", language="en-GB"),  # overlaps s1
    seg("n1", 3.0, 3.5, event="noise", attributes={"loud": True, "level": math.nan}),
    seg("s3", 4.0, 5.2),  # speech nobody transcribed
    seg("../evil id\n", 5.5, 6.0, "no speaker here"),
    seg("m1", 6.0, 7.0, event="music"),
    seg("o1", 7.0, 7.5, event="overlap"),
    seg("s4", 8.0001, 9.9996, "  the end  ", speaker="  "),
)
TRANSCRIBED = [s for s in SEGMENTS if s.event == "speech" and s.text.strip()]
SPEECH = [s for s in SEGMENTS if s.event == "speech"]


def item(
    item_id: str = "itm_audio1",
    segments: tuple[Segment, ...] = SEGMENTS,
    audio: bool = True,
) -> SpeechItem:
    return SpeechItem(
        item_id=item_id,
        file_name="../calls/Monday call.wav",
        duration_s=DURATION,
        segments=segments,
        audio=samples if audio else None,
    )


@dataclass
class Package:
    zf: zipfile.ZipFile

    def text(self, path: str) -> str:
        return self.zf.read(path).decode("utf-8")

    def names(self) -> set[str]:
        return set(self.zf.namelist())


def package(
    tmp_path: Path,
    *items: SpeechItem,
    formats: tuple[str, ...] = ("nemo", "audiofolder", "rttm", "vtt", "srt"),
    include_audio: bool = True,
) -> Package:
    spec = SpeechSpec(
        delivery_id="dlv_1",
        project_id="prj_1",
        batch_id="bat_1",
        formats=formats,
        include_audio=include_audio,
        project_version=3,
    )
    zip_path = tmp_path / "delivery.zip"
    with SpeechPackageWriter(zip_path, tmp_path, spec) as writer:
        for one in items or (item(),):
            writer.add(one)
        writer.close()
    return Package(zipfile.ZipFile(zip_path))


# ----- WebVTT and SubRip ----------------------------------------------------------------------


def test_webvtt_has_a_cue_per_transcribed_speech_segment_with_its_voice(tmp_path: Path) -> None:
    vtt = package(tmp_path).text("vtt/itm_audio1.vtt")
    captions = webvtt.from_string(vtt, strict=True).captions
    assert [c.start for c in captions] == [
        "00:00:00.500",
        "00:00:01.000",
        "00:00:05.500",
        "00:00:08.000",
    ]
    assert [c.end for c in captions] == [
        "00:00:02.250",
        "00:00:03.000",
        "00:00:06.000",
        "00:00:10.000",
    ]
    assert [c.voice for c in captions] == ["Ana Maria", "ben the builder", None, None]
    # One line each: line breaks become spaces; WebVTT's escapes come back as the characters.
    assert [html.unescape(c.text) for c in captions] == [
        "Hello, world",
        'a --> b <i>x</i> & "q" line two   three',
        "no speaker here",
        "the end",
    ]
    assert all(len(c.lines) == 1 for c in captions)
    assert captions[0].identifier == "s1"


def test_subrip_has_the_same_cues_with_the_speaker_in_front(tmp_path: Path) -> None:
    subtitles = list(srt.parse(package(tmp_path).text("srt/itm_audio1.srt")))
    assert [s.index for s in subtitles] == [1, 2, 3, 4]
    assert [s.start for s in subtitles] == [
        timedelta(seconds=0.5),
        timedelta(seconds=1),
        timedelta(seconds=5.5),
        timedelta(seconds=8),
    ]
    assert subtitles[0].end == timedelta(seconds=2.25)
    assert [s.content for s in subtitles] == [
        "Ana Maria: Hello, world",
        'ben the builder: a -> b <i>x</i> & "q" line two   three',
        "no speaker here",
        "the end",
    ]


# ----- RTTM ---------------------------------------------------------------------------------

RTTM_TYPES = {
    "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH", "FILLER",
    "SPEAKER", "SU", "IP", "CB", "A/P", "EDIT", "SPKR-INFO",
}  # fmt: skip


@dataclass(frozen=True)
class RttmTurn:
    file_id: str
    channel: int
    onset: float
    duration: float
    speaker: str


def parse_rttm(text: str) -> list[RttmTurn]:
    """NIST RTTM (Rich Transcription Time Marked), strictly: ten space-separated fields,
    type, file, channel (an integer), onset and duration (decimal seconds, duration > 0),
    orthography, subtype, speaker name, confidence, lookahead; `<NA>` where unused."""
    turns = []
    assert text == "" or text.endswith("\n")
    for line in text.split("\n")[:-1]:
        fields = line.split(" ")
        assert len(fields) == 10, line
        assert fields == line.split(), f"fields must be single-space separated: {line!r}"
        kind, file_id, channel, onset, duration, ortho, subtype, name, conf, look = fields
        assert kind in RTTM_TYPES
        assert kind == "SPEAKER"
        assert channel.isdigit()
        for number in (onset, duration):
            assert float(number) >= 0 and math.isfinite(float(number))
            assert number.replace(".", "", 1).isdigit(), number
        assert float(duration) > 0
        assert (ortho, subtype, conf, look) == ("<NA>",) * 4
        assert name and name != "<NA>"
        turns.append(RttmTurn(file_id, int(channel), float(onset), float(duration), name))
    return turns


def test_rttm_has_a_speaker_turn_per_speech_segment(tmp_path: Path) -> None:
    turns = parse_rttm(package(tmp_path).text("rttm/itm_audio1.rttm"))
    assert [(t.onset, t.duration) for t in turns] == [
        (0.5, 1.75),
        (1.0, 2.0),
        (4.0, 1.2),
        (5.5, 0.5),
        (8.0, 2.0),
    ]
    # Whitespace inside names becomes `_`; speech nobody named a speaker for is `unknown`.
    assert [t.speaker for t in turns] == [
        "Ana_Maria",
        "ben_the_builder",
        "unknown",
        "unknown",
        "unknown",
    ]
    assert {(t.file_id, t.channel) for t in turns} == {("itm_audio1", 1)}
    # Overlapping speakers stay overlapping.
    assert turns[1].onset < turns[0].onset + turns[0].duration


# ----- NeMo ---------------------------------------------------------------------------------


def nemo_lines(pkg: Package) -> list[dict[str, Any]]:
    text = pkg.text("nemo/manifest.jsonl")
    assert text.splitlines() == text.split("\n")[:-1]  # one record a line, for every reader
    return [json.loads(line) for line in text.splitlines()]


def test_nemo_with_audio_points_at_each_segments_clip(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    lines = nemo_lines(pkg)
    assert [x["segment_id"] for x in lines] == [s.segment_id for s in TRANSCRIBED]
    for line, s in zip(lines, TRANSCRIBED, strict=True):
        assert line["audio_filepath"] in pkg.names()
        assert line["audio_filepath"].startswith("clips/itm_audio1/")
        assert line["offset"] == 0
        assert line["duration"] == pytest.approx(s.duration, abs=0.001)
        assert line["text"] == s.text.strip()
        assert line["item_id"] == "itm_audio1"
    assert lines[0]["speaker"] == "Ana Maria" and lines[0]["lang"] == "en"
    assert lines[1]["speaker"] == "ben the builder"  # as in the subtitles
    assert "speaker" not in lines[2] and "lang" not in lines[2]
    assert "speaker" not in lines[3]  # a blank name is none
    assert lines[1]["text"] == NASTY


def test_nemo_without_audio_names_the_recording_and_an_offset(tmp_path: Path) -> None:
    pkg = package(tmp_path, item(audio=False), formats=("nemo",), include_audio=False)
    lines = nemo_lines(pkg)
    assert {x["audio_filepath"] for x in lines} == {"recordings/itm_audio1/Monday call.wav"}
    assert [(x["offset"], x["duration"]) for x in lines] == [
        (0.5, 1.75),
        (1.0, 2.0),
        (5.5, 0.5),
        (8.0, 2.0),
    ]
    assert not any(n.startswith("clips/") for n in pkg.names())


def test_a_jsonl_record_stays_on_its_line_whatever_the_text(tmp_path: Path) -> None:
    odd = (seg("s1", 0, 1, "one\u2028two\x85three\u2029"),)
    pkg = package(tmp_path, item(segments=odd), formats=("nemo",), include_audio=False)
    assert [x["text"] for x in nemo_lines(pkg)] == ["one\u2028two\x85three\u2029".strip()]


# ----- audio: clips and the audiofolder -----------------------------------------------------


def read_wav(pkg: Package, path: str) -> npt.NDArray[np.float64]:
    data, rate = soundfile.read(io.BytesIO(pkg.zf.read(path)))
    info = soundfile.info(io.BytesIO(pkg.zf.read(path)))
    assert rate == SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_16"
    return np.asarray(data)


def assert_cut_from_recording(clip: npt.NDArray[np.float64], s: Segment) -> None:
    assert abs(len(clip) - s.duration * SAMPLE_RATE) <= 1
    first = round(s.start * SAMPLE_RATE)
    expected = samples()[first : first + len(clip)]
    assert np.allclose(clip, expected, atol=2 / 32768)


def test_every_speech_segment_gets_a_clip(tmp_path: Path) -> None:
    pkg = package(tmp_path)
    clips = sorted(n for n in pkg.names() if n.startswith("clips/"))
    assert len(clips) == len(SPEECH)
    document = json.loads(pkg.text("segments/itm_audio1.json"))
    by_id = {s["segment_id"]: s for s in document["segments"]}
    for s in SPEECH:
        path = by_id[s.segment_id]["clip"]
        assert path.startswith("clips/itm_audio1/") and path.count("/") == 2
        assert ".." not in path and "\n" not in path and " " not in path
        assert_cut_from_recording(read_wav(pkg, path), s)


def test_audiofolder_has_metadata_beside_a_clip_per_transcribed_segment(tmp_path: Path) -> None:
    pkg = package(tmp_path, formats=("audiofolder",), include_audio=False)
    rows = list(csv.DictReader(io.StringIO(pkg.text("audiofolder/metadata.csv"), newline="")))
    assert list(rows[0]) == [
        "file_name",
        "transcription",
        "speaker",
        "language",
        "item_id",
        "segment_id",
        "start",
        "end",
    ]
    assert [r["segment_id"] for r in rows] == [s.segment_id for s in TRANSCRIBED]
    assert rows[1]["transcription"] == NASTY  # csv quoting keeps the line breaks
    assert [r["speaker"] for r in rows] == ["Ana Maria", "ben the builder", "", ""]
    for row, s in zip(rows, TRANSCRIBED, strict=True):
        assert "/" not in row["file_name"] and row["file_name"].startswith("itm_audio1_")
        assert (float(row["start"]), float(row["end"])) == pytest.approx((s.start, s.end), abs=1e-3)
        assert_cut_from_recording(read_wav(pkg, f"audiofolder/{row['file_name']}"), s)
    assert not any(n.startswith("clips/") for n in pkg.names())


def test_audio_formats_refuse_an_item_without_audio(tmp_path: Path) -> None:
    for formats, include_audio, needs in (
        (("audiofolder",), False, "audiofolder"),
        (("rttm",), True, "clips"),
    ):
        spec = SpeechSpec("dlv_1", "prj_1", "bat_1", formats, include_audio=include_audio)
        zip_path = tmp_path / "delivery.zip"
        with (
            SpeechPackageWriter(zip_path, tmp_path, spec) as writer,
            pytest.raises(ValueError, match=f"needs audio.*{needs}"),
        ):
            writer.add(item(audio=False))
        assert not zip_path.exists()  # left without close: discarded


def test_audiofolder_names_stay_apart_when_item_and_segment_ids_meet(tmp_path: Path) -> None:
    # "a_b" + "c" and "a" + "b_c" would both be a_b_c.wav.
    first = item("a_b", (seg("c", 0, 1, "one"),))
    second = item("a", (seg("b_c", 0, 1, "two"),))
    pkg = package(tmp_path, first, second, formats=("audiofolder",), include_audio=False)
    rows = list(csv.DictReader(io.StringIO(pkg.text("audiofolder/metadata.csv"), newline="")))
    assert len({r["file_name"] for r in rows}) == 2
    assert all(f"audiofolder/{r['file_name']}" in pkg.names() for r in rows)


# ----- every segment, the manifest ----------------------------------------------------------


def test_the_segments_file_keeps_every_segment_and_field(tmp_path: Path) -> None:
    pkg = package(tmp_path, formats=("rttm",), include_audio=False)
    document = json.loads(pkg.text("segments/itm_audio1.json"))
    assert document["item_id"] == "itm_audio1" and document["duration_s"] == DURATION
    got = document["segments"]
    assert [s["segment_id"] for s in got] == [s.segment_id for s in SEGMENTS]
    assert [s["event"] for s in got] == [s.event for s in SEGMENTS]
    assert got[1]["text"] == NASTY and got[1]["speaker"] == "ben\tthe\nbuilder"
    assert got[2]["attributes"] == {"loud": True, "level": None}  # NaN is not JSON
    for entry, s in zip(got, SEGMENTS, strict=True):
        assert Segment.model_validate(
            {k: v for k, v in entry.items() if k not in ("name", "clip", "attributes")}
        ).model_dump(exclude={"attributes"}) == s.model_dump(exclude={"attributes"})


def test_the_manifest_lists_every_file_with_its_checksum(tmp_path: Path) -> None:
    pkg = package(tmp_path, item(), item("itm_audio2", SEGMENTS[:2]))
    manifest = json.loads(pkg.text("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == pkg.names() - {"manifest.json"}
    for path, entry in listed.items():
        data = pkg.zf.read(path)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert manifest["kind"] == "speech" and manifest["include_audio"] is True
    assert manifest["formats"] == ["nemo", "audiofolder", "rttm", "vtt", "srt"]
    assert manifest["counts"] == {
        "recordings": 2,
        "audio_seconds": 2 * DURATION,
        "segments": len(SEGMENTS) + 2,
        "transcribed_segments": len(TRANSCRIBED) + 2,
        "clips": len(SPEECH) + 2,
    }


def test_an_empty_transcript_still_gets_its_files(tmp_path: Path) -> None:
    pkg = package(tmp_path, item(segments=()))
    assert webvtt.from_string(pkg.text("vtt/itm_audio1.vtt"), strict=True).captions == []
    assert list(srt.parse(pkg.text("srt/itm_audio1.srt"))) == []
    assert parse_rttm(pkg.text("rttm/itm_audio1.rttm")) == []
    assert pkg.text("nemo/manifest.jsonl") == ""
    rows = list(csv.reader(io.StringIO(pkg.text("audiofolder/metadata.csv"), newline="")))
    assert len(rows) == 1  # the header
    assert json.loads(pkg.text("segments/itm_audio1.json"))["segments"] == []


def test_unsafe_segment_ids_get_safe_distinct_names(tmp_path: Path) -> None:
    odd = (
        seg("a/b", 0, 1, "one"),
        seg("a b", 1, 2, "two"),
        seg("NOTE", 2, 3, "three"),  # a cue identifier that would start a comment
        seg("-->", 3, 4, "four"),
    )
    pkg = package(tmp_path, item(segments=odd), formats=("vtt",))
    clips = sorted(n for n in pkg.names() if n.startswith("clips/"))
    assert len(clips) == 4
    assert all(n.count("/") == 2 and ".." not in n and " " not in n for n in clips)
    captions = webvtt.from_string(pkg.text("vtt/itm_audio1.vtt"), strict=True).captions
    assert [c.text for c in captions] == ["one", "two", "three", "four"]
    assert "-->" not in "".join(c.identifier or "" for c in captions)


def test_the_writer_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speech formats"):
        SpeechSpec("d", "p", "b", ("coco",))
    with pytest.raises(ValueError, match="not safe"):
        item("../x")
    with pytest.raises(ValueError, match="never ends"):
        item(segments=(seg("s", 0, math.inf, "x"),))
    with pytest.raises(ValueError, match="order"):
        item(segments=(seg("b", 2, 3), seg("a", 0, 1)))
    spec = SpeechSpec("dlv_1", "prj_1", "bat_1", ("rttm",))
    writer = SpeechPackageWriter(tmp_path / "d.zip", tmp_path, spec)
    writer.add(item(audio=False))
    with pytest.raises(ValueError, match="twice"):
        writer.add(item(audio=False))
    writer.abort()
    assert not (tmp_path / "d.zip").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no part files left behind
