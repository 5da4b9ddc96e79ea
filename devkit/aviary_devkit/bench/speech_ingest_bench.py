"""How fast ingest turns a recording into what the tools need, in process: read and normalise
(services/ingest/audio.py), voice-activity detection (vad.py), the waveform peaks, the
listening copy and the waveform picture (audio_views.py) and the plan of parts
(audio_parts.py), each timed on its own. Ingest must run at
100 times real time or better (an hour of audio in 36 s, all steps together).

The recording is made here: stretches of speech-like sound (vowel-like syllables: a pulse
train at a voice's pitch through three formant resonances, with noise bursts for consonants),
which Silero's model takes for speech, between stretches of room hiss, as a 44.1 kHz stereo
WAV (or MP3). The tests use the same synthesiser (`speech_like`).

    .venv/bin/python -m aviary_devkit.bench.speech_ingest_bench [--seconds 600] [--mp3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import soundfile  # type: ignore[import-untyped]  # ships no type hints

from services.ingest.audio import AudioLimits, read_recording
from services.ingest.audio_parts import plan_parts
from services.ingest.audio_views import listening_copy, peaks, waveform_picture
from services.ingest.vad import SpeechDetector

Samples = npt.NDArray[np.float32]

# Formants (F1, F2, F3 in Hz) of a few English vowels: a, i, u, e, ae, er.
VOWELS = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (660, 1720, 2410),
    (490, 1350, 1690),
)
FORMANT_GAINS = (1.0, 0.5, 0.25)
BANK = 48  # distinct syllables a recording is made of
HISS = 0.002  # room noise between speech: not digital silence
MAX_PART_S = 60.0


def _formant(rate: int, frequency: float, bandwidth: float) -> Samples:
    """The impulse response of a two-pole resonance, 60 ms long (closed form: no filter
    loop)."""
    n = np.arange(int(0.06 * rate))
    radius = np.exp(-np.pi * bandwidth / rate)
    theta = 2 * np.pi * frequency / rate
    response: Samples = (radius**n * np.sin((n + 1) * theta) / np.sin(theta)).astype(np.float32)
    return response


def _syllable(rate: int, rng: np.random.Generator) -> Samples:
    """A consonant-like noise burst, then a vowel with a pitch contour, shaped by a swell."""
    length = int(rate * rng.uniform(0.15, 0.3))
    position = np.arange(length)
    pitch = (100 + 60 * rng.random()) * (1 + 0.1 * np.sin(np.pi * position / length))
    phase = np.cumsum(pitch / rate)
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float32)
    formants = VOWELS[int(rng.integers(len(VOWELS)))]
    response = np.zeros(int(0.06 * rate), np.float32)
    for f, gain in zip(formants, FORMANT_GAINS, strict=True):
        response += gain * _formant(rate, f, 80 + 0.05 * f)
    size = length + response.size - 1
    spectrum = np.fft.rfft(pulses, size) * np.fft.rfft(response, size)
    vowel = np.fft.irfft(spectrum, size)[:length] * np.sin(np.pi * position / length) ** 0.7
    vowel /= np.abs(vowel).max() + 1e-9
    burst_length = int(rate * rng.uniform(0.03, 0.08))
    burst = 0.3 * rng.standard_normal(burst_length) * np.hanning(burst_length)
    return np.concatenate([burst, vowel]).astype(np.float32)


def speech_like(seconds: float, rate: int = 16_000, seed: int = 0) -> Samples:
    """Mono speech-like sound, `seconds` long, peaking near 0.5."""
    rng = np.random.default_rng(seed)
    bank = [_syllable(rate, rng) for _ in range(BANK)]
    return _talk(bank, int(seconds * rate), rng)


def _talk(bank: list[Samples], length: int, rng: np.random.Generator) -> Samples:
    out = np.empty(length, np.float32)
    at = 0
    while at < length:
        piece = 0.5 * bank[int(rng.integers(len(bank)))]
        end = min(length, at + piece.size)
        out[at:end] = piece[: end - at]
        at = end
    return out


def write_recording(
    path: Path, seconds: float, rate: int = 44_100, seed: int = 0, mp3: bool = False
) -> list[tuple[float, float]]:
    """A stereo recording of speech stretches (3-12 s) between pauses (0.5-3 s) at `path`,
    written a stretch at a time; returns where the speech is, in seconds."""
    rng = np.random.default_rng(seed)
    bank = [_syllable(rate, rng) for _ in range(BANK)]
    total = int(seconds * rate)
    speech: list[tuple[float, float]] = []
    with _StereoWriter(path, rate, mp3) as out:
        at = 0
        talking = False
        while at < total:
            length = min(total - at, int(rate * rng.uniform(*((3, 12) if talking else (0.5, 3)))))
            mono = HISS * rng.standard_normal(length).astype(np.float32)
            if talking:
                mono += _talk(bank, length, rng)
                speech.append((at / rate, (at + length) / rate))
            # The right channel: quieter and a little later, as from a second microphone.
            right = np.concatenate([mono[:20] * 0, mono[:-20]]) * np.float32(0.8)
            out.write(np.stack([mono, right], axis=1))
            at += length
            talking = not talking
    return speech


class _StereoWriter:
    """A WAV (soundfile) or MP3 (PyAV, libmp3lame) written block by block."""

    def __init__(self, path: Path, rate: int, mp3: bool) -> None:
        self.path, self.rate, self.mp3 = path, rate, mp3
        self.written = 0

    def __enter__(self) -> _StereoWriter:
        if self.mp3:
            self.container = av.open(str(self.path), mode="w", format="mp3")
            self.stream = self.container.add_stream("libmp3lame", rate=self.rate, layout="stereo")
            self.stream.bit_rate = 128_000
        else:
            self.wav = soundfile.SoundFile(
                str(self.path), "w", self.rate, 2, subtype="PCM_16", format="WAV"
            )
        return self

    def write(self, block: Samples) -> None:
        if not self.mp3:
            self.wav.write(block)
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block.T), format="fltp", layout="stereo"
        )
        frame.sample_rate = self.rate
        frame.pts = self.written
        frame.time_base = Fraction(1, self.rate)
        self.written += block.shape[0]
        self.container.mux(self.stream.encode(frame))

    def __exit__(self, *exc: object) -> None:
        if self.mp3:
            self.container.mux(self.stream.encode(None))
            self.container.close()
        else:
            self.wav.close()


def measure(seconds_of_audio: float, mp3: bool = False) -> dict[str, float]:
    """Seconds each ingest step takes on a synthetic recording `seconds_of_audio` long, and
    the real-time factor of all of them together (the recording's making is not counted)."""
    detector = SpeechDetector()
    with tempfile.TemporaryDirectory(prefix="aviary-speech-bench-") as folder:
        path = Path(folder) / ("talk.mp3" if mp3 else "talk.wav")
        truth = write_recording(path, seconds_of_audio, mp3=mp3)
        times: dict[str, float] = {}

        def timed(step: str, start: float) -> float:
            now = time.perf_counter()
            times[step] = now - start
            return now

        at = time.perf_counter()
        recording = read_recording(path, path.name, AudioLimits())
        at = timed("read_normalise_s", at)
        samples = recording.samples
        peaks(samples)
        at = timed("peaks_s", at)
        speech = detector.detect(samples)
        at = timed("vad_s", at)
        listening_copy(samples)
        at = timed("listening_copy_s", at)
        waveform_picture(samples)
        at = timed("picture_s", at)
        plan_parts(recording.duration_s, speech, MAX_PART_S)
        timed("plan_s", at)
    total = sum(times.values())
    return {
        "audio_s": recording.duration_s,
        **times,
        "total_s": total,
        "speech_ingest_realtime_factor": recording.duration_s / total,
        "speech_segments": float(len(speech)),
        # Of the speech written, the share found; of what was found, the share that is speech.
        "vad_recall": _overlap(truth, speech) / sum(e - s for s, e in truth),
        "vad_precision": _overlap(speech, truth) / max(1e-9, sum(e - s for s, e in speech)),
    }


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds of `a`'s segments inside `b`'s (each list without overlaps of its own)."""
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the recording")
    parser.add_argument("--mp3", action="store_true", help="an MP3 instead of a WAV")
    args = parser.parse_args()
    figures = measure(args.seconds, mp3=args.mp3)
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
