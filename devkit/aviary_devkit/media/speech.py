"""Recordings of real speech for tests and the simulator, with their exact transcript.

Random noise tells us nothing about voice-activity detection, cutting at silences or the
labeling tool's waveform: those need speech. Debian's espeak-ng (installed by `make
speech-tools`) speaks known sentences in several voices, so every recording's truth is known
to the word and to the millisecond, with nothing downloaded at run time. Encoding uses
libsndfile (through soundfile) and the encoders inside PyAV's wheels; as with video, only the
development kit encodes, never a service.
"""

from __future__ import annotations

import functools
import io
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import numpy.typing as npt
import soundfile as sf  # type: ignore[import-untyped]  # ships no type hints

from aviary.contracts.speech import Segment, SpeechEvent, Transcript

Samples = npt.NDArray[np.float32]

# Short sentences from the footage Aviary's customers label: streets, robot vacuums and smart
# speakers. No digits or abbreviations, so what is said is exactly what is written.
SENTENCES: tuple[str, ...] = (
    "The robot vacuum stopped under the kitchen table.",
    "A red bus turned left at the corner by the bakery.",
    "Turn the volume down a little, please.",
    "Their car was parked too close to the crossing.",
    "The cyclist waited for the light to turn green.",
    "Set a timer for twenty minutes.",
    "The vacuum found its way back to the charging dock.",
    "What will the weather be like tomorrow morning?",
    "Two children ran across the street after the ball.",
    "The speaker did not hear me over the dishwasher.",
    "Please play some quiet music in the living room.",
    "A delivery van blocked the bike lane for an hour.",
    "The brush got tangled in a long phone cable.",
    "There is a new pothole near the school gate.",
    "Remind me to buy milk on the way home.",
    "The taxi driver honked twice at the slow truck.",
    "Skip this song and play the next one.",
    "The robot bumped into the sofa and turned right.",
    "Pedestrians crowded the pavement outside the station.",
    "Is it going to rain before four in the afternoon?",
    "The dust bin is full, so the cleaning has paused.",
    "An ambulance passed with its siren on.",
    "Add batteries and coffee to my shopping list.",
    "The scooter rider wore a bright yellow jacket.",
    "Clean the hallway while we are out.",
    "The traffic lights on the main road are broken again.",
    "Call my sister and tell her we will be late.",
    "The vacuum went around the water bowl of the cat.",
    "A man walked his dog past the parked cars.",
    "Lower the blinds in the bedroom.",
    "The map shows the kitchen, the hall and two bedrooms.",
    "Which bus goes to the airport from here?",
    "The speaker lit up blue and said it was listening.",
    "Roadworks have closed one lane of the bridge.",
    "The side brush is worn and should be replaced soon.",
    "Read me the news headlines, please.",
    "A woman on a bicycle rang her bell at the crossing.",
    "The robot could not find the charger in the dark.",
    "Wake me up at half past six tomorrow.",
    "The delivery robot waited patiently at the kerb.",
    "Stop the alarm and start the coffee machine.",
    "Rain made the road shine under the street lamps.",
)

# Voices for the speakers of a recording: espeak-ng's English accents with its female (+f)
# and male (+m) variants, all in Debian's espeak-ng-data (no MBROLA voices).
VOICES: tuple[str, ...] = (
    "en-us",
    "en-gb+f3",
    "en-us+m3",
    "en-gb-scotland+f2",
    "en-029+m7",
    "en-gb-x-rp+f4",
    "en-us+f5",
    "en-gb+m1",
)
ESPEAK_RATE = 22_050  # what espeak-ng writes
TRIM_FRACTION = 0.02  # speech starts and ends where it first and last passes 2% of its peak
SPEECH_PEAK = 0.7  # each utterance is scaled to this peak (times the speaker's gain)

# (container format, encoder) for each kind of file PyAV writes; soundfile writes the others.
PYAV_ENCODINGS = {"mp3": ("mp3", "libmp3lame"), "m4a": ("ipod", "aac"), "opus": ("ogg", "libopus")}
SOUNDFILE_ENCODINGS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
}
FORMATS: tuple[str, ...] = (*SOUNDFILE_ENCODINGS, *PYAV_ENCODINGS)
WRITE_BLOCK = 8192  # frames soundfile is given at a time


class Recording(NamedTuple):
    """A rendered recording: `samples` (frames x channels, float32 in [-1, 1]) and its truth."""

    samples: Samples
    truth: Transcript


def speak(
    text: str, voice: str = "en-us", rate_wpm: int = 160, sample_rate: int = 16_000
) -> Samples:
    """`text` spoken by espeak-ng, mono float32 at `sample_rate`, with espeak's own silence
    before and after it (see `trim`)."""
    data, rate = sf.read(io.BytesIO(_espeak(text, voice, rate_wpm)), dtype="float32")
    return resample(data, rate, sample_rate)


@functools.cache
def _espeak(text: str, voice: str, rate_wpm: int) -> bytes:
    """The WAV espeak-ng writes; kept, as a simulation speaks the same sentences again."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise RuntimeError("espeak-ng is not installed: run `make speech-tools`")
    result = subprocess.run(  # noqa: S603 - Debian's espeak-ng, our own sentences as arguments
        [program, "--stdout", "-v", voice, "-s", str(rate_wpm), "--", text],
        capture_output=True,
        check=False,
        timeout=60,
    )
    # An unknown voice writes nothing: with exit status 1 or, in some versions, 0.
    if result.returncode != 0 or len(result.stdout) <= 44:
        raise ValueError(f"espeak-ng spoke nothing: {result.stderr.decode(errors='replace')}")
    return result.stdout


def resample(samples: Samples, rate: int, target: int) -> Samples:
    """Mono float32 samples from `rate` to `target` Hz, with FFmpeg's resampler (PyAV)."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    out = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    return out.astype(np.float32, copy=False)


def trim(samples: Samples, fraction: float = TRIM_FRACTION) -> Samples:
    """The samples from the first to the last one louder than `fraction` of the peak."""
    loud = np.flatnonzero(np.abs(samples) > fraction * float(np.abs(samples).max()))
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


def voices_for(seed: int, speakers: int) -> dict[str, str]:
    """The recording's speakers (`spk_a`, `spk_b`, ...) and the espeak-ng voice of each."""
    if not 1 <= speakers <= len(VOICES):
        raise ValueError(f"between 1 and {len(VOICES)} speakers")
    chosen = random.Random(seed).sample(VOICES, speakers)
    return {f"spk_{chr(ord('a') + n)}": voice for n, voice in enumerate(chosen)}


def render_recording(
    seed: int = 0,
    speakers: int = 3,
    utterances: int = 12,
    sample_rate: int = 44_100,
    channels: int = 1,
    noise_db: float | None = -35.0,
    noise_bursts: int = 3,
    music: int = 0,
) -> Recording:
    """A conversation of `utterances` sentences by `speakers` rotating speakers, with its truth.

    Utterances are separated by 0.4-2.5 s of silence; `noise_bursts` of the gaps hold a burst
    of noise (a thud or a clatter, event `noise`) and `music` of them a few seconds of chords
    (event `music`), with at least 0.2 s of silence on either side (one sound a gap at most:
    those that do not fit are left out). White background noise at
    `noise_db` dBFS (RMS; None: none) lies under everything. The truth's speech segments span
    each utterance from its first to its last audible sample (espeak's own silence trimmed),
    so their bounds are tight to within a few milliseconds. The same seed gives the same
    recording, sample for sample.
    """
    if utterances < 1 or channels < 1 or noise_bursts < 0 or music < 0:
        raise ValueError("at least one utterance and one channel")
    # One sound at most in each gap between utterances; music first.
    music = min(music, utterances - 1)
    noise_bursts = min(noise_bursts, utterances - 1 - music)
    rng = random.Random(seed)
    voices = voices_for(seed, speakers)
    names = list(voices)
    rates = {name: rng.randint(145, 185) for name in names}
    gains = {name: rng.uniform(0.7, 1.0) for name in names}
    pans = {name: _pan(rng, channels) for name in names}
    order = list(SENTENCES)
    rng.shuffle(order)
    texts = [order[n % len(order)] for n in range(utterances)]
    gaps = rng.sample(range(utterances - 1), noise_bursts + music)
    extras: dict[int, SpeechEvent] = {g: "noise" for g in gaps[:noise_bursts]}
    extras |= {g: "music" for g in gaps[noise_bursts:]}

    # Lay out the sources first (start sample, mono samples, channel gains), then mix.
    sources: list[tuple[int, Samples, npt.NDArray[np.float32]]] = []
    # start, end, event, text, speaker
    segments: list[tuple[int, int, SpeechEvent, str, str | None]] = []
    at = round(rng.uniform(0.5, 1.0) * sample_rate)
    for n, text in enumerate(texts):
        name = names[n % len(names)]
        voiced = trim(speak(text, voices[name], rates[name], sample_rate))
        voiced = voiced * np.float32(SPEECH_PEAK * gains[name] / float(np.abs(voiced).max()))
        sources.append((at, voiced, pans[name]))
        segments.append((at, at + len(voiced), "speech", text, name))
        at += len(voiced)
        if n == len(texts) - 1:
            break
        gap = rng.uniform(0.4, 2.5)
        event = extras.get(n)
        if event is not None:
            sound = _burst(rng, sample_rate) if event == "noise" else _chords(rng, sample_rate)
            gap = max(gap, len(sound) / sample_rate + rng.uniform(0.4, 1.0))
            lead = round(rng.uniform(0.2, gap - len(sound) / sample_rate - 0.2) * sample_rate)
            sources.append((at + lead, sound, _pan(rng, channels)))
            segments.append((at + lead, at + lead + len(sound), event, "", None))
        at += round(gap * sample_rate)
    total = at + round(rng.uniform(0.5, 1.0) * sample_rate)

    mix = np.zeros((total, channels), dtype=np.float32)
    for start, sound, gain in sources:
        mix[start : start + len(sound)] += sound[:, None] * gain[None, :]
    if noise_db is not None:
        level = 10 ** (noise_db / 20)
        noise = np.random.default_rng(seed).normal(0.0, level, (total, channels))
        mix += noise.astype(np.float32)
    np.clip(mix, -1.0, 1.0, out=mix)

    segments.sort(key=lambda s: s[0])
    truth = Transcript(
        segments=tuple(
            Segment(
                segment_id=f"s{n:03d}",
                start=start / sample_rate,
                end=end / sample_rate,
                event=event,
                text=text,
                speaker=speaker,
                language="en" if event == "speech" else None,
            )
            for n, (start, end, event, text, speaker) in enumerate(segments, start=1)
        )
    )
    return Recording(mix, truth)


def _pan(rng: random.Random, channels: int) -> npt.NDArray[np.float32]:
    """A source's gain in each channel: all of it in mono, somewhere left to right in stereo."""
    if channels == 1:
        return np.ones(1, dtype=np.float32)
    if channels == 2:
        angle = rng.uniform(0.15, 0.35) * np.pi  # never hard left or right
        return np.array([np.cos(angle), np.sin(angle)], dtype=np.float32) * np.float32(np.sqrt(2))
    return np.array([rng.uniform(0.5, 1.0) for _ in range(channels)], dtype=np.float32)


def _burst(rng: random.Random, sample_rate: int) -> Samples:
    """A thud (low, dull) or a clatter (bright): noise that decays to 5% of its start by its
    end, as loud as speech or louder."""
    length = round(rng.uniform(0.15, 0.5) * sample_rate)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0.0, 1.0, length)
    if rng.random() < 0.5:  # a thud: smoothed over 2 ms, which keeps the low part
        width = max(1, sample_rate // 500)
        noise = np.convolve(noise, np.ones(width) / width, mode="same")
    else:  # a clatter: differenced, which keeps the high part
        noise = np.diff(noise, prepend=0.0)
    t = np.arange(length) / length
    envelope = np.minimum(1.0, t * length / (0.005 * sample_rate)) * np.exp(-3.0 * t)
    shaped = noise * envelope
    loudness = rng.uniform(0.06, 0.12)  # RMS: speech's is about 0.08
    burst: Samples = np.clip(shaped * (loudness / np.sqrt(np.mean(shaped**2))), -0.9, 0.9).astype(
        np.float32
    )
    return burst


def _chords(rng: random.Random, sample_rate: int) -> Samples:
    """A few seconds of music, more or less: major chords changing every half second."""
    chords = rng.randint(3, 6)
    step = round(0.5 * sample_rate)
    t = np.arange(step) / sample_rate
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms in and out: no clicks
    pieces = []
    for _ in range(chords):
        root = 220.0 * 2 ** (rng.randint(0, 11) / 12)
        tone = sum(np.sin(2 * np.pi * root * 2 ** (k / 12) * t) for k in (0, 4, 7))
        pieces.append(tone * fade / 3)
    return (np.concatenate(pieces) * rng.uniform(0.15, 0.3)).astype(np.float32)


def encode(samples: Samples, sample_rate: int, fmt: str = "wav") -> bytes:
    """An audio file of the samples (frames, or frames x channels) in one of FORMATS."""
    frames = samples.reshape(len(samples), -1)
    if fmt in SOUNDFILE_ENCODINGS:
        container, subtype = SOUNDFILE_ENCODINGS[fmt]
        out = io.BytesIO()
        with sf.SoundFile(out, "w", sample_rate, frames.shape[1], subtype, format=container) as f:
            # In blocks: libsndfile's Vorbis encoder crashes on one large write.
            for at in range(0, len(frames), WRITE_BLOCK):
                f.write(frames[at : at + WRITE_BLOCK])
        return out.getvalue()
    if fmt not in PYAV_ENCODINGS:
        raise ValueError(f"unknown audio format {fmt!r}: one of {', '.join(FORMATS)}")
    container_format, encoder = PYAV_ENCODINGS[fmt]
    layout = {1: "mono", 2: "stereo"}.get(frames.shape[1])
    if layout is None:
        raise ValueError(f"{fmt} is written mono or stereo only")
    # Opus runs at 48 kHz only; the others keep the recording's rate.
    rate = 48_000 if encoder == "libopus" else sample_rate
    # An MP4 container seeks back to write its index: only a file will do.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"audio.{fmt}"
        with av.open(str(path), "w", format=container_format) as output:
            stream = output.add_stream(encoder, rate=rate, layout=layout)
            assert isinstance(stream, av.AudioStream)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(frames.T, dtype=np.float32), format="fltp", layout=layout
            )
            frame.sample_rate = sample_rate
            # The codec context resamples and cuts into the encoder's frame size itself.
            for packet in stream.encode(frame):
                output.mux(packet)
            for packet in stream.encode(None):
                output.mux(packet)
        return path.read_bytes()
