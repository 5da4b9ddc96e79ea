"""The speech simulation: espeak-ng recordings with their truth, the simulated transcriber and
the delivery check, which the audio flow's tests and `aviary-sim --media speech` rest on."""

from __future__ import annotations

import io
import shutil
from itertools import pairwise
from typing import Any

import av
import numpy as np
import pytest

from aviary.contracts.speech import Segment, Transcript
from aviary_devkit.media.speech import (
    FORMATS,
    SENTENCES,
    VOICES,
    Recording,
    encode,
    render_recording,
    speak,
)
from aviary_devkit.sim.speech_checks import (
    check_delivery,
    heard,
    normalize,
    speaker_mismatch,
    wer,
)
from aviary_devkit.sim.speech_transcriber import SKILLS, expected_wer, in_part, transcribe

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make speech-tools)"
)

RATE = 16_000


@pytest.fixture(scope="module")
def recording() -> Recording:
    return render_recording(seed=3, sample_rate=RATE, music=1)


def _rms(samples: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def _proposals(truth: Transcript) -> Transcript:
    """What voice-activity detection proposes, more or less: speech a little padded, two
    utterances merged into one proposal and a noise burst taken for speech."""
    speech = [s for s in truth.segments if s.event == "speech"]
    noise = next(s for s in truth.segments if s.event == "noise")
    spans = [(s.start - 0.05, s.end + 0.2) for s in speech]
    spans[1:3] = [(spans[1][0], spans[2][1])]  # merged
    spans.append((noise.start, noise.end))
    return Transcript(
        segments=tuple(
            Segment(segment_id=f"vad-{n}", start=max(0.0, a), end=b)
            for n, (a, b) in enumerate(sorted(spans))
        )
    )


def _whole(rec: Recording, skill: str, seed: int = 0) -> Transcript:
    """The recording transcribed in two parts, cut in the silence after its sixth utterance."""
    speech = [s for s in rec.truth.segments if s.event == "speech"]
    cut = (speech[5].end + speech[6].start) / 2
    total = len(rec.samples) / RATE
    proposed = _proposals(rec.truth)
    parts = [
        transcribe(part, proposed, rec.truth, skill, seed=seed + n)
        for n, part in enumerate([(0.0, cut), (cut, total)])
    ]
    return Transcript(segments=tuple(s for p in parts for s in p.segments))


def test_speak_gives_audible_speech_of_a_plausible_length() -> None:
    text = "The robot vacuum stopped under the kitchen table."  # eight words
    samples = speak(text, "en-us", 160, RATE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 2.0 < len(samples) / RATE < 4.5  # eight words at 160 a minute: three seconds
    assert np.abs(samples).max() > 0.3 and _rms(samples) > 0.03
    assert len(speak(text, "en-us", 260, RATE)) < 0.8 * len(samples)  # faster is shorter
    assert abs(len(speak(text, "en-us", 160, 44_100)) / 44_100 - len(samples) / RATE) < 0.01


def test_every_voice_speaks_and_an_unknown_one_is_refused() -> None:
    for voice in VOICES:
        assert np.abs(speak("Turn left here.", voice, 170, RATE)).max() > 0.3, voice
    with pytest.raises(ValueError, match="spoke nothing"):
        speak("Turn left here.", "xx-nowhere", 170, RATE)


def test_truth_lies_where_the_sound_is(recording: Recording) -> None:
    samples, truth = recording.samples[:, 0], recording.truth
    assert len(SENTENCES) >= 40
    events = [s.event for s in truth.segments]
    assert events.count("speech") == 12 and events.count("noise") == 3
    assert events.count("music") == 1
    for seg in truth.segments:
        assert seg.end <= len(samples) / RATE
    background = _rms(samples[: int(truth.segments[0].start * RATE)])
    assert abs(20 * np.log10(background) + 35) < 1  # the -35 dBFS asked for
    gaps = [(a.end + 0.03, b.start - 0.03) for a, b in pairwise(truth.segments)]
    loudest_gap = max(_rms(samples[int(a * RATE) : int(b * RATE)]) for a, b in gaps)
    for seg in truth.segments:
        inside = _rms(samples[int(seg.start * RATE) : int(seg.end * RATE)])
        assert inside**2 > 8 * loudest_gap**2, seg  # energy, not amplitude


def test_truth_bounds_are_tight() -> None:
    """Without background noise, nothing sounds outside the truth's segments, and each
    segment is sounding within 30 ms of both its ends."""
    rec = render_recording(seed=5, speakers=2, utterances=6, sample_rate=RATE, noise_db=None)
    samples = rec.samples[:, 0]
    covered = np.zeros(len(samples), dtype=bool)
    edge = int(0.03 * RATE)
    for seg in rec.truth.segments:
        a, b = round(seg.start * RATE), round(seg.end * RATE)
        covered[a:b] = True
        peak = np.abs(samples[a:b]).max()
        assert np.abs(samples[a : a + edge]).max() > 0.02 * peak
        assert np.abs(samples[b - edge : b]).max() > 0.02 * peak
    assert not np.any(samples[~covered])


def test_recording_layout() -> None:
    rec = render_recording(seed=8, speakers=3, utterances=7, sample_rate=RATE, channels=2)
    assert rec.samples.shape[1] == 2 and rec.samples.dtype == np.float32
    speech = [s for s in rec.truth.segments if s.event == "speech"]
    assert [s.speaker for s in speech] == ["spk_a", "spk_b", "spk_c"] * 2 + ["spk_a"]
    assert all(s.language == "en" and s.text in SENTENCES for s in speech)
    assert len({s.text for s in speech}) == 7
    for a, b in pairwise(speech):
        assert b.start - a.end >= 0.4 - 1e-6
    assert [s.segment_id for s in rec.truth.segments] == [
        f"s{n:03d}" for n in range(1, len(rec.truth.segments) + 1)
    ]


def test_recording_is_the_same_for_a_seed() -> None:
    a = render_recording(seed=11, utterances=4, sample_rate=RATE)
    b = render_recording(seed=11, utterances=4, sample_rate=RATE)
    c = render_recording(seed=12, utterances=4, sample_rate=RATE)
    assert np.array_equal(a.samples, b.samples) and a.truth == b.truth
    assert a.truth != c.truth


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_the_recording(fmt: str) -> None:
    rec = render_recording(seed=2, utterances=2, sample_rate=44_100, channels=2)
    with av.open(io.BytesIO(encode(rec.samples, 44_100, fmt)), mode="r") as container:
        stream = container.streams.audio[0]
        decoded = sum(frame.samples for frame in container.decode(stream))
        rate, channels = stream.rate, stream.channels
    assert channels == 2
    # Lossy encoders add a frame or so of padding.
    assert abs(decoded / rate - len(rec.samples) / 44_100) < 0.08


def test_good_transcriber_is_close_and_careless_is_not(recording: Recording) -> None:
    rates = {
        skill: np.mean(
            [wer(recording.truth.text, _whole(recording, skill, s).text) for s in (0, 10)]
        )
        for skill in SKILLS
    }
    assert rates["expert"] < rates["good"] < 0.1
    assert rates["careless"] > 0.3
    assert expected_wer("good") < 0.1 < 0.3 < expected_wer("careless")


def test_transcripts_lie_inside_their_part(recording: Recording) -> None:
    truth = recording.truth
    speech = [s for s in truth.segments if s.event == "speech"]
    # Cut a third of the way into the fourth utterance: the second part gets its words.
    cut = speech[3].start + speech[3].duration / 3
    total = len(recording.samples) / RATE
    for skill in SKILLS:
        texts = []
        for part in [(0.0, cut), (cut, total)]:
            out = transcribe(part, _proposals(truth), truth, skill, seed=4)
            assert all(part[0] <= s.start < s.end <= part[1] for s in out.segments), skill
            texts.append(out.text)
        assert transcribe((0.0, cut), _proposals(truth), truth, skill, seed=4) == transcribe(
            (0.0, cut), _proposals(truth), truth, skill, seed=4
        )
    first, second = in_part(truth, 0.0, cut), in_part(truth, cut, total)
    assert first.segments[-1].end == cut and first.segments[-1].text == ""
    assert second.segments[0].start == cut and second.segments[0].text == speech[3].text
    assert (first.text + " " + second.text).split() == truth.text.split()


def test_good_transcriber_fixes_proposals_and_careless_keeps_them(recording: Recording) -> None:
    truth = recording.truth
    total = len(recording.samples) / RATE
    proposed = _proposals(truth)
    good = transcribe((0.0, total), proposed, truth, "expert", seed=1)
    careless = transcribe((0.0, total), proposed, truth, "careless", seed=1)
    noise = next(s for s in truth.segments if s.event == "noise")
    spoken = [s for s in good.segments if s.event == "speech"]
    assert not any(s.start == noise.start and s.end == noise.end for s in spoken)
    assert len(spoken) == 12
    for got, want in zip(spoken, [s for s in truth.segments if s.event == "speech"], strict=True):
        assert abs(got.start - want.start) <= 0.03 and abs(got.end - want.end) <= 0.03
    assert {s.segment_id for s in careless.segments} & {p.segment_id for p in proposed.segments}
    assert any(s.start == noise.start and s.event == "speech" for s in careless.segments)


def _lines(transcript: Transcript, nemo: bool = False) -> list[dict[str, Any]]:
    if nemo:
        return [
            {"audio_filepath": "x.wav", "offset": s.start, "duration": s.duration, "text": s.text}
            | ({"speaker": s.speaker} if s.speaker else {})
            for s in transcript.segments
            if s.event == "speech"
        ]
    return [s.model_dump() for s in transcript.segments]


def test_check_delivery(recording: Recording) -> None:
    recs = {"rec-1": recording, "rec-2": render_recording(seed=4, sample_rate=RATE)}
    truth = {item: rec.truth for item, rec in recs.items()}
    good = {item: _lines(_whole(rec, "good")) for item, rec in recs.items()}
    assert check_delivery(truth, good, max_wer=0.15) == []
    nemo = {item: _lines(t, nemo=True) for item, t in truth.items()}
    assert check_delivery(truth, nemo, max_wer=0.0) == []

    missing = check_delivery(truth, {"rec-1": good["rec-1"]}, max_wer=0.15)
    assert missing == ["1 items not delivered: rec-2"]
    careless = good | {"rec-2": _lines(_whole(recs["rec-2"], "careless"))}
    problems = check_delivery(truth, careless, max_wer=0.15)
    assert any("rec-2: word error rate" in p for p in problems)
    assert any("rec-2" in p and "speaker" in p for p in problems)
    assert not any("rec-1" in p for p in problems)


def test_speaker_names_need_only_be_consistent(recording: Recording) -> None:
    truth = recording.truth
    renamed = [
        d | {"speaker": {"spk_a": "Ann", "spk_b": "Bo", "spk_c": "Cy"}.get(d["speaker"])}
        for d in _lines(truth)
    ]
    assert check_delivery({"r": truth}, {"r": renamed}, max_wer=0.0) == []
    spoken = [d for d in _lines(truth) if d["event"] == "speech"]
    one_voice = [d | {"speaker": "spk_a"} for d in spoken]  # two thirds of them wrong
    assert check_delivery({"r": truth}, {"r": one_voice}, max_wer=0.0) != []
    assert speaker_mismatch(truth, []) == 1.0
    # A part alone cannot tell a renaming from a wrong speaker: without renaming, names count.
    heard_renamed = [heard(d) for d in renamed]
    assert speaker_mismatch(truth, heard_renamed) == 0.0
    assert speaker_mismatch(truth, heard_renamed, rename=False) == 1.0
    assert speaker_mismatch(truth, [heard(d) for d in _lines(truth)], rename=False) == 0.0


def test_normalized_wer() -> None:
    assert normalize("Their car, it's RED!") == "their car its red"
    assert wer("Turn left here.", "turn left here") == 0.0
    assert wer("Turn left here.", "turn right here") == pytest.approx(1 / 3)
    assert wer("", "") == 0.0
