"""Audio files in (services/ingest/audio.py): real files, made here with soundfile (WAV, FLAC,
Ogg Vorbis, AIFF) and PyAV's encoders (MP3, M4A, Opus, ALAC, MP2, raw AAC), decoded by PyAV.

Every refusal is made from a real file: cut, damaged or lying ones where a header can lie.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import struct
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
import soundfile  # type: ignore[import-untyped]  # ships no type hints
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aviary_devkit.bench.speech_ingest_bench import speech_like
from aviary_devkit.media.video import render
from services.ingest import audio, audio_parts
from services.ingest.audio import AudioLimits, Recording, read_recording
from services.ingest.audio_parts import plan_parts
from services.ingest.audio_views import PEAK_STEPS, listening_copy, peaks, waveform_picture
from shared.errors import AppError

Samples = npt.NDArray[np.float32]
LIMITS = AudioLimits()


# --- Making files -------------------------------------------------------------------------


def tone(
    seconds: float, rate: int, channels: int = 1, hz: float = 440.0, amp: float = 0.5
) -> Samples:
    """A sine; (frames, channels) when more than one channel, each channel the same."""
    t = np.arange(round(seconds * rate)) / rate
    x = (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def sf_file(x: Samples, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, x, rate, format=fmt, subtype=subtype)
    return out.getvalue()


class _Unseekable(io.RawIOBase):
    """Output a muxer cannot seek back in: it leaves out what it would write last (an MP3's
    Xing frame, an MP4's early index)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)


def av_file(
    x: Samples,
    rate: int,
    fmt: str,
    codec: str,
    *,
    options: dict[str, str] | None = None,
    seekable: bool = True,
) -> bytes:
    """`x` encoded by PyAV: (frames,) mono or (frames, channels)."""
    planes = np.ascontiguousarray(x.reshape(1, -1) if x.ndim == 1 else x.T, np.float32)
    layout = {1: "mono", 2: "stereo"}[planes.shape[0]]
    out: io.BytesIO | _Unseekable = io.BytesIO() if seekable else _Unseekable()
    with av.open(out, mode="w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        # Planar float: PyAV converts it to what the encoder takes.
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue() if isinstance(out, io.BytesIO) else bytes(out.data)


def mp3(x: Samples, rate: int, **kw: Any) -> bytes:
    return av_file(x, rate, "mp3", "libmp3lame", **kw)


def m4a(x: Samples, rate: int, faststart: bool = False) -> bytes:
    if not faststart:
        return av_file(x, rate, "mp4", "aac")
    # The index moved before the samples: the muxer rewrites the file, so it needs a path.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.m4a"
        planes = np.ascontiguousarray(x.reshape(1, -1), np.float32)
        with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
            stream = container.add_stream("aac", rate=rate, layout="mono")
            frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="mono")
            frame.sample_rate = rate
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return path.read_bytes()


def opus(x: Samples, rate: int = 48_000) -> bytes:
    return av_file(x, rate, "ogg", "libopus")


def wav(x: Samples, rate: int, subtype: str = "PCM_16") -> bytes:
    return sf_file(x, rate, "WAV", subtype)


def flac(x: Samples, rate: int) -> bytes:
    return sf_file(x, rate, "FLAC")


def vorbis(x: Samples, rate: int) -> bytes:
    return sf_file(x, rate, "OGG", "VORBIS")


def with_flac_total(data: bytes, total: int) -> bytes:
    """A FLAC whose STREAMINFO declares `total` samples (0: unknown)."""
    out = bytearray(data)
    fields = int.from_bytes(out[18:26], "big")
    fields = (fields & ~((1 << 36) - 1)) | total
    out[18:26] = fields.to_bytes(8, "big")
    return bytes(out)


def with_wav_data_size(data: bytes, size: int) -> bytes:
    out = bytearray(data)
    at = out.find(b"data")
    out[at + 4 : at + 8] = struct.pack("<I", size)
    return bytes(out)


def with_wav_fmt(data: bytes, offset: int, value: bytes) -> bytes:
    """A WAV with bytes of its fmt chunk's body replaced (2: channels, 4: sample rate, 12:
    block align)."""
    out = bytearray(data)
    at = out.find(b"fmt ") + 8 + offset
    out[at : at + len(value)] = value
    return bytes(out)


def read(
    tmp_path: Path, data: bytes, name: str | None = None, limits: AudioLimits = LIMITS
) -> Recording:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return read_recording(path, name, limits)


def refusal(
    tmp_path: Path, data: bytes, name: str | None = None, limits: AudioLimits = LIMITS
) -> AppError:
    with pytest.raises(AppError) as caught:
        read(tmp_path, data, name, limits)
    return caught.value


def dominant_hz(samples: Samples, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


# --- Accepted formats ---------------------------------------------------------------------


FORMATS: dict[str, tuple[Callable[[], bytes], str, tuple[str, str, int, int]]] = {
    "wav-s16-stereo-44k": (
        lambda: wav(tone(2, 44_100, 2), 44_100),
        "a.wav",
        ("wav", "pcm_s16le", 44_100, 2),
    ),
    "wav-float-48k": (
        lambda: wav(tone(2, 48_000), 48_000, "FLOAT"),
        "a.WAV",
        ("wav", "pcm_f32le", 48_000, 1),
    ),
    "wav-mulaw-8k": (
        lambda: wav(tone(2, 8_000), 8_000, "ULAW"),
        "call.wav",
        ("wav", "pcm_mulaw", 8_000, 1),
    ),
    "flac-48k": (lambda: flac(tone(2, 48_000), 48_000), "a.flac", ("flac", "flac", 48_000, 1)),
    "flac-stereo-96k": (
        lambda: flac(tone(2, 96_000, 2), 96_000),
        "a.flac",
        ("flac", "flac", 96_000, 2),
    ),
    "ogg-vorbis": (lambda: vorbis(tone(2, 44_100), 44_100), "a.ogg", ("ogg", "vorbis", 44_100, 1)),
    "ogg-opus": (lambda: opus(tone(2, 48_000)), "a.opus", ("ogg", "opus", 48_000, 1)),
    "mp3-stereo": (lambda: mp3(tone(2, 44_100, 2), 44_100), "a.mp3", ("mp3", "mp3", 44_100, 2)),
    "m4a-aac": (lambda: m4a(tone(2, 44_100), 44_100), "a.m4a", ("m4a", "aac", 44_100, 1)),
    "mp4-aac-stereo-48k": (
        lambda: m4a(tone(2, 48_000, 2), 48_000),
        "a.mp4",
        ("m4a", "aac", 48_000, 2),
    ),
}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_each_accepted_format_decodes_to_16k_mono(tmp_path: Path, kind: str) -> None:
    make, name, (fmt, codec, rate, channels) = FORMATS[kind]
    recording = read(tmp_path, make(), name)
    assert (recording.format, recording.codec) == (fmt, codec)
    assert (recording.sample_rate, recording.channels) == (rate, channels)  # as uploaded
    # Lossy codecs add an encoder delay or drop a few ms at the ends.
    assert recording.duration_s == pytest.approx(2.0, abs=0.06)
    samples = recording.samples
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size == pytest.approx(recording.duration_s * 16_000, abs=32)
    middle = samples[8_000:24_000]
    assert dominant_hz(middle) == pytest.approx(440, abs=2)
    # The level is kept: channels are averaged, not summed.
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("kind", ["wav-s16-stereo-44k", "mp3-stereo"])
def test_samples_spilled_to_a_file_are_the_same_and_grow_past_a_missing_length(
    tmp_path: Path, kind: str
) -> None:
    make, name, _ = FORMATS[kind]
    data = make()
    in_memory = read(tmp_path, data, name).samples
    spill = tmp_path / "spill"
    spill.mkdir()
    path = tmp_path / "spilled"
    path.write_bytes(data)
    spilled = read_recording(path, name, LIMITS, spill_dir=spill).samples
    assert isinstance(spilled, np.memmap) and sorted(p.name for p in spill.iterdir())
    np.testing.assert_array_equal(spilled, in_memory)
    # A WAV that declares no length starts from a guess and grows its file, twice here.
    unknown = bytearray(wav(tone(150, 16_000), 16_000))
    at = unknown.find(b"data") + 4
    unknown[at : at + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(unknown))
    long = read_recording(path, "long.wav", LIMITS, spill_dir=spill).samples
    assert long.size == 150 * 16_000 and len(list(spill.iterdir())) >= 3
    assert dominant_hz(long[-16_000:]) == pytest.approx(440, abs=2)


def test_the_bytes_decide_when_the_name_says_nothing(tmp_path: Path) -> None:
    data = flac(tone(1, 16_000), 16_000)
    for name in (None, "", "recording", "recording.bin", "take.dat", "x.jpg"):
        assert read(tmp_path, data, name).format == "flac"


def test_an_id3_tag_is_looked_past(tmp_path: Path) -> None:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 1, 0])  # 128 bytes of tag (syncsafe size)
    padded = tag + b"\x00" * 128
    assert read(tmp_path, padded + flac(tone(1, 16_000), 16_000), "a.flac").format == "flac"
    raw = mp3(tone(1, 44_100), 44_100, options={"id3v2_version": "0"})
    assert raw[:3] != b"ID3"  # a bare MPEG frame first: found by its sync bits
    assert read(tmp_path, raw, "a.mp3").format == "mp3"


def test_stereo_is_the_mean_of_its_channels(tmp_path: Path) -> None:
    left = tone(2, 48_000, amp=0.8)
    both = np.stack([left, np.zeros_like(left)], axis=1)
    samples = read(tmp_path, wav(both, 48_000, "FLOAT"), "a.wav").samples
    assert np.abs(samples[4_000:-4_000]).max() == pytest.approx(0.4, abs=0.01)
    opposite = np.stack([left, -left], axis=1)
    samples = read(tmp_path, wav(opposite, 48_000, "FLOAT"), "a.wav").samples
    assert np.abs(samples).max() < 1e-3


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000, 192_000])
def test_every_rate_becomes_16k_with_the_pitch_kept(tmp_path: Path, rate: int) -> None:
    recording = read(tmp_path, wav(tone(1.5, rate, 2, hz=1_000.0), rate), "a.wav")
    assert recording.sample_rate == rate
    assert recording.samples.size == pytest.approx(24_000, abs=2)
    assert dominant_hz(recording.samples[2_000:-2_000]) == pytest.approx(1_000, abs=2)


def test_a_recording_whose_rate_and_channels_change_midway_is_read_whole(
    tmp_path: Path,
) -> None:
    first = mp3(tone(1, 44_100), 44_100, options={"write_xing": "0"})
    second = mp3(tone(1, 48_000, 2), 48_000, options={"write_xing": "0", "id3v2_version": "0"})
    recording = read(tmp_path, first + second, "joined.mp3")
    assert recording.duration_s == pytest.approx(2.0, abs=0.1)
    assert recording.samples.size == pytest.approx(32_000, abs=1_600)


# --- Refused: what the file is ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"plainly not audio\n" * 100,
        b"%PDF-1.7\n" + b"\x00" * 200,
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",  # RIFF, but not a WAVE
    ],
    ids=["empty", "text", "pdf", "webp"],
)
def test_what_is_no_audio_is_refused(tmp_path: Path, data: bytes) -> None:
    error = refusal(tmp_path, data, "a.wav")
    assert (error.code, error.status_code) == ("not_audio", 415)


def test_an_image_is_no_audio(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    error = refusal(tmp_path, out.getvalue(), "a.mp3")
    assert (error.code, error.status_code) == ("not_audio", 415)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: flac(tone(1, 16_000), 16_000), "a.wav"),
        (lambda: wav(tone(1, 16_000), 16_000), "a.flac"),
        (lambda: mp3(tone(1, 44_100), 44_100), "a.m4a"),
        (lambda: m4a(tone(1, 44_100), 44_100), "a.mp3"),
        (lambda: vorbis(tone(1, 44_100), 44_100), "a.mp3"),
    ],
)
def test_a_name_that_says_another_format_is_refused(tmp_path: Path, make: Any, name: str) -> None:
    error = refusal(tmp_path, make(), name)
    assert (error.code, error.status_code) == ("media_mismatch", 415)
    assert name in error.message


def test_a_video_without_sound_has_no_audio_stream(tmp_path: Path) -> None:
    error = refusal(tmp_path, render("mp4", frames=6), "clip.mp4")
    assert (error.code, error.status_code) == ("no_audio_stream", 422)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: av_file(tone(1, 44_100), 44_100, "ipod", "alac"), "a.m4a"),
        (lambda: av_file(tone(1, 44_100), 44_100, "mp2", "mp2"), "a.mp3"),
        (lambda: wav(tone(1, 44_100), 44_100, "IMA_ADPCM"), "a.wav"),
        (lambda: wav(tone(1, 44_100), 44_100, "GSM610"), "a.wav"),
    ],
    ids=["alac-in-m4a", "mp2", "adpcm-wav", "gsm-wav"],
)
def test_an_unsupported_codec_is_refused(tmp_path: Path, make: Any, name: str) -> None:
    error = refusal(tmp_path, make(), name)
    assert (error.code, error.status_code) == ("unsupported_codec", 415)


def _chained_ogg() -> bytes:
    return vorbis(tone(1, 44_100), 44_100) + vorbis(tone(1, 44_100, 2), 44_100)


@pytest.mark.parametrize(
    "make",
    [
        lambda: sf_file(tone(1, 44_100), 44_100, "AIFF", "PCM_16"),
        lambda: av_file(tone(1, 44_100), 44_100, "adts", "aac"),
        lambda: av_file(tone(1, 48_000), 48_000, "webm", "libopus"),
        _chained_ogg,
    ],
    ids=["aiff", "raw-aac", "webm", "chained-ogg"],
)
def test_audio_in_a_container_not_read_is_refused_by_name(tmp_path: Path, make: Any) -> None:
    error = refusal(tmp_path, make())
    assert (error.code, error.status_code) == ("unsupported_container", 415)


# --- Refused: limits, on the header and while decoding ------------------------------------


def counting_decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the decoded samples (per channel, source rate) that reach the normaliser."""
    seen = [0]
    add = audio._Normaliser.add

    def counted(self: audio._Normaliser, frame: av.AudioFrame) -> None:
        seen[0] += frame.samples
        add(self, frame)

    monkeypatch.setattr(audio._Normaliser, "add", counted)
    return seen


def test_too_many_channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = counting_decoded(monkeypatch)
    error = refusal(tmp_path, wav(tone(1, 16_000, 3), 16_000), "a.wav", AudioLimits(max_channels=2))
    assert (error.code, error.status_code) == ("too_many_channels", 422)
    assert seen == [0]  # the header said so: nothing was decoded


@pytest.mark.parametrize(
    ("data", "limits", "code"),
    [
        (lambda: wav(tone(1, 6_000), 6_000), LIMITS, "sample_rate_too_low"),
        (
            lambda: wav(tone(1, 16_000), 16_000),
            AudioLimits(min_sample_rate=22_050),
            "sample_rate_too_low",
        ),
        (lambda: wav(tone(0.5, 384_000), 384_000), LIMITS, "sample_rate_too_high"),
        (
            lambda: flac(tone(1, 48_000), 48_000),
            AudioLimits(max_sample_rate=44_100),
            "sample_rate_too_high",
        ),
        # A header that lies: 3 kHz declared for 16 kHz of samples.
        (
            lambda: with_wav_fmt(wav(tone(1, 16_000), 16_000), 4, struct.pack("<I", 3_000)),
            LIMITS,
            "sample_rate_too_low",
        ),
    ],
)
def test_sample_rates_outside_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Any, limits: AudioLimits, code: str
) -> None:
    seen = counting_decoded(monkeypatch)
    error = refusal(tmp_path, data(), "a.wav" if code != "sample_rate_too_high" else None, limits)
    assert (error.code, error.status_code) == (code, 422)
    assert seen == [0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: wav(tone(3, 16_000), 16_000),
        lambda: flac(tone(3, 16_000), 16_000),
        lambda: mp3(tone(3, 44_100), 44_100),  # its Xing frame declares the length
        lambda: m4a(tone(3, 44_100), 44_100),
        lambda: opus(tone(3, 48_000)),
        # Headers that claim hours for seconds of sound.
        lambda: with_wav_data_size(wav(tone(1, 16_000), 16_000), 0x7FFF_0000),
        lambda: with_flac_total(flac(tone(1, 16_000), 16_000), 16_000 * 36_000),
    ],
    ids=["wav", "flac", "mp3", "m4a", "opus", "wav-lying", "flac-lying"],
)
def test_a_declared_length_past_the_limit_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    seen = counting_decoded(monkeypatch)
    error = refusal(tmp_path, make(), None, AudioLimits(max_duration_s=2.0))
    assert (error.code, error.status_code) == ("audio_too_long", 413)
    assert seen == [0]


@pytest.mark.parametrize(
    ("make", "rate"),
    [
        # No declared length: a FLAC streamed without its total, a WAV whose size says
        # "unknown", an MP3 with no Xing frame.
        (lambda: with_flac_total(flac(tone(30, 16_000), 16_000), 0), 16_000),
        (lambda: with_wav_data_size(wav(tone(30, 16_000), 16_000), 0xFFFF_FFFF), 16_000),
        (lambda: mp3(tone(30, 44_100), 44_100, seekable=False), 44_100),
        # A header that lies short: 1 s declared, 30 s there.
        (lambda: with_flac_total(flac(tone(30, 16_000), 16_000), 16_000), 16_000),
    ],
    ids=["flac-no-total", "wav-unknown-size", "mp3-no-xing", "flac-lying-short"],
)
def test_decoding_stops_at_the_first_block_past_the_length_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any, rate: int
) -> None:
    data = make()
    seen = counting_decoded(monkeypatch)
    error = refusal(tmp_path, data, None, AudioLimits(max_duration_s=2.0))
    assert (error.code, error.status_code) == ("audio_too_long", 413)
    # Stopped at 2 s, not 30: the block past the limit (FLAC's are 4,096 samples) was never
    # handed on.
    assert 2.0 * rate - 4_096 <= seen[0] <= 2.0 * rate


def test_decoded_samples_are_bounded_in_all_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stereo = wav(tone(3, 16_000, 2), 16_000)
    limits = AudioLimits(max_decoded_samples=50_000)
    seen = counting_decoded(monkeypatch)
    error = refusal(tmp_path, stereo, "a.wav", limits)  # 96,000 declared
    assert (error.code, error.status_code) == ("audio_too_long", 413)
    assert seen == [0]
    unknown = with_wav_data_size(stereo, 0xFFFF_FFFF)
    error = refusal(tmp_path, unknown, "a.wav", limits)
    assert (error.code, error.status_code) == ("audio_too_long", 413)
    assert 0 < seen[0] * 2 <= 50_000


def test_channels_that_grow_midway_are_refused_while_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long mono stream (what FFmpeg's probe sees), then stereo frames.
    first = mp3(tone(20, 44_100), 44_100, options={"write_xing": "0"})
    second = mp3(tone(1, 44_100, 2), 44_100, options={"write_xing": "0", "id3v2_version": "0"})
    seen = counting_decoded(monkeypatch)
    error = refusal(tmp_path, first + second, "a.mp3", AudioLimits(max_channels=1))
    assert (error.code, error.status_code) == ("too_many_channels", 422)
    assert seen[0] >= 19 * 44_100  # refused where the stereo frames begin


# --- Refused: damaged files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: wav(tone(6, 16_000), 16_000), "cut.wav"),
        (lambda: wav(tone(6, 44_100, 2), 44_100), "cut.wav"),
        (lambda: flac(tone(6, 44_100), 44_100), "cut.flac"),
        (lambda: mp3(tone(6, 44_100), 44_100), "cut.mp3"),
        (lambda: mp3(tone(6, 8_000), 8_000), "cut.mp3"),
        (lambda: m4a(tone(6, 44_100), 44_100, faststart=True), "cut.m4a"),
    ],
    ids=["wav", "wav-stereo", "flac", "mp3", "mp3-8k", "m4a-faststart"],
)
def test_a_file_cut_short_is_truncated(tmp_path: Path, make: Any, name: str) -> None:
    whole = make()
    error = refusal(tmp_path, whole[: len(whole) // 2], name)
    assert (error.code, error.status_code) == ("truncated_audio", 422)
    assert "cut short" in error.message
    assert b"moov" in whole[:200] or not name.endswith(".m4a")  # the index came first


@pytest.mark.parametrize("rate", [8_000, 16_000, 44_100])  # MPEG 2.5, 2 and 1
def test_a_very_short_mp3_is_whole(tmp_path: Path, rate: int) -> None:
    # Its Xing frame counts the encoder's delay and padding too: up to a fifth of a second.
    recording = read(tmp_path, mp3(tone(0.3, rate), rate), "short.mp3")
    assert recording.duration_s == pytest.approx(0.3, abs=0.01)


def test_a_file_missing_less_than_two_percent_is_read(tmp_path: Path) -> None:
    whole = wav(tone(10, 16_000), 16_000)
    recording = read(tmp_path, whole[: len(whole) - 3_200], "a.wav")  # 0.1 s of 10
    assert recording.duration_s == pytest.approx(9.9, abs=0.001)


def test_an_m4a_cut_before_its_index_cannot_be_opened(tmp_path: Path) -> None:
    whole = m4a(tone(6, 44_100), 44_100)  # the index (moov) after the samples
    error = refusal(tmp_path, whole[: len(whole) // 2], "cut.m4a")
    assert (error.code, error.status_code) == ("corrupt_audio", 422)


def garbage_after(data: bytes, keep: int) -> bytes:
    noise = np.random.default_rng(7).bytes(len(data) - keep)
    return data[:keep] + noise


@pytest.mark.parametrize(
    ("make", "keep", "name"),
    [
        (lambda: flac(tone(3, 44_100), 44_100), 42, "a.flac"),  # STREAMINFO, then noise
        (lambda: mp3(tone(3, 44_100), 44_100), 600, "a.mp3"),  # tag and Xing, then noise
        (lambda: m4a(tone(3, 44_100), 44_100), 40, "a.m4a"),
        (lambda: opus(tone(3, 48_000)), 40, "a.opus"),
        (lambda: vorbis(tone(3, 44_100), 44_100), 60, "a.ogg"),
    ],
    ids=["flac", "mp3", "m4a", "opus", "vorbis"],
)
def test_garbage_after_a_valid_header_is_corrupt(
    tmp_path: Path, make: Any, keep: int, name: str
) -> None:
    error = refusal(tmp_path, garbage_after(make(), keep), name)
    assert (error.code, error.status_code) == ("corrupt_audio", 422)


def damaged_inside(data: bytes, size: int = 2_000) -> bytes:
    out = bytearray(data)
    middle = len(out) // 2
    out[middle : middle + size] = np.random.default_rng(3).bytes(size)
    return bytes(out)


def test_damage_inside_a_stream_is_corrupt(tmp_path: Path) -> None:
    # MP4 indexes its packets: a damaged stretch fails to decode, and good packets follow.
    damaged = damaged_inside(m4a(tone(6, 44_100), 44_100), 8_000)
    error = refusal(tmp_path, damaged, "a.m4a")
    assert (error.code, error.status_code) == ("corrupt_audio", 422)


def test_a_few_bad_packets_are_passed_over(tmp_path: Path) -> None:
    # Two MP3s glued together: the second's tag, between frames, is one packet that fails.
    joined = mp3(tone(3, 44_100), 44_100) + mp3(tone(3, 44_100, 2), 44_100)
    recording = read(tmp_path, joined, "joined.mp3")
    assert recording.duration_s == pytest.approx(6.0, abs=0.1)


def test_frames_lost_inside_a_stream_make_it_short(tmp_path: Path) -> None:
    # FLAC's parser skips what fails its checksums: less decodes than the header declares.
    whole = flac(tone(6, 44_100), 44_100)
    error = refusal(tmp_path, damaged_inside(whole, len(whole) // 3), "a.flac")
    assert (error.code, error.status_code) == ("truncated_audio", 422)
    assert "lost data" in error.message


@pytest.mark.parametrize(
    ("offset", "value"),
    [(2, b"\x00\x00"), (4, b"\x00\x00\x00\x00")],
    ids=["no-channels", "no-rate"],
)
def test_a_wav_header_that_makes_no_sense_is_corrupt(
    tmp_path: Path, offset: int, value: bytes
) -> None:
    data = with_wav_fmt(wav(tone(1, 16_000), 16_000), offset, value)
    error = refusal(tmp_path, data, "a.wav")
    assert (error.code, error.status_code) == ("corrupt_audio", 422)


def test_a_header_with_no_samples_is_corrupt(tmp_path: Path) -> None:
    error = refusal(tmp_path, wav(np.zeros(0, np.float32), 16_000), "a.wav")
    assert (error.code, error.status_code) == ("corrupt_audio", 422)


# --- Peaks --------------------------------------------------------------------------------


def decode_levels(document: bytes) -> tuple[dict[str, Any], dict[int, npt.NDArray[np.int8]]]:
    parsed = json.loads(document)
    levels = {
        level["step"]: np.frombuffer(base64.b64decode(level["data"]), np.int8).reshape(-1, 2)
        for level in parsed["levels"]
    }
    return parsed, levels


def reference_pairs(samples: Samples, step: int) -> npt.NDArray[np.int8]:
    """(min, max) of each step, the slow obvious way."""
    out = []
    for start in range(0, samples.size, step):
        block = np.clip(samples[start : start + step], -1, 1)
        out.append((round(float(block.min()) * 127), round(float(block.max()) * 127)))
    return np.array(out, np.int8).reshape(-1, 2)


@pytest.mark.parametrize("length", [1, 159, 160, 161, 10_240, 10_241, 33_333, 100_000])
def test_peaks_are_the_documented_json_and_round_trip(length: int) -> None:
    rng = np.random.default_rng(length)
    samples = (rng.standard_normal(length) * 0.4).astype(np.float32)
    samples[::97] = 1.5  # past full scale: clipped to 127
    parsed, levels = decode_levels(peaks(samples))
    assert list(parsed) == ["sample_rate", "duration_s", "levels"]
    assert parsed["sample_rate"] == 16_000
    assert parsed["duration_s"] == pytest.approx(length / 16_000)
    assert [level["step"] for level in parsed["levels"]] == [160, 640, 2560, 10240]
    assert all(list(level) == ["step", "data"] for level in parsed["levels"])
    for step in PEAK_STEPS:
        pairs = levels[step]
        assert pairs.shape == (-(-length // step), 2)
        np.testing.assert_array_equal(pairs, reference_pairs(samples, step))
        assert (pairs[:, 0] <= pairs[:, 1]).all()
        assert pairs.min() >= -127 and pairs.max() <= 127


def test_peaks_show_where_the_sound_is() -> None:
    samples = np.zeros(16_000 * 4, np.float32)
    samples[16_000:32_000] = tone(1, 16_000, amp=0.5)
    _, levels = decode_levels(peaks(samples))
    coarse = levels[10240]  # 0.64 s a pair
    assert coarse[0].tolist() == [0, 0]
    assert coarse[2].tolist() == [-64, 64]  # 0.5 of full scale, within the loud second
    assert coarse[-1].tolist() == [0, 0]


def test_an_hours_peaks_take_well_under_a_second() -> None:
    samples = np.random.default_rng(0).uniform(-1, 1, 16_000 * 3600).astype(np.float32)
    peaks(samples)  # warm
    started = time.perf_counter()
    document = peaks(samples)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"peaks of an hour took {elapsed:.2f} s"
    _, levels = decode_levels(document)
    assert levels[160].shape == (360_000, 2)


# --- Listening copy -----------------------------------------------------------------------


def decoded(data: bytes) -> tuple[av.container.InputContainer, Samples]:
    container = av.open(io.BytesIO(data), mode="r")
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
    blocks = [
        out.to_ndarray().reshape(-1)
        for frame in container.decode(stream)
        for out in resampler.resample(frame)
    ]
    blocks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return container, np.concatenate(blocks)


@pytest.mark.parametrize("seconds", [0.3, 7.0, 61.5])
def test_the_listening_copy_is_ogg_opus_of_the_same_length(seconds: float) -> None:
    samples = speech_like(seconds, seed=2)
    data = listening_copy(samples)
    assert data[:4] == b"OggS" and b"OpusHead" in data[:200]
    container, back = decoded(data)
    with container:
        stream = container.streams.audio[0]
        assert (container.format.name, stream.codec_context.name) == ("ogg", "opus")
        assert stream.codec_context.channels == 1
        assert back.size / 16_000 == pytest.approx(seconds, abs=0.05)
        assert stream.duration is not None and stream.time_base is not None
        declared = float(stream.duration * stream.time_base)
        assert declared == pytest.approx(seconds, abs=0.05)
    if seconds > 5:
        kbps = len(data) * 8 / seconds / 1000
        assert 12 < kbps < 40
        # What is heard is what was uploaded: the envelopes agree.
        length = min(samples.size, back.size) // 1600 * 1600
        envelope = np.abs(samples[:length]).reshape(-1, 1600).mean(axis=1)
        heard = np.abs(back[:length]).reshape(-1, 1600).mean(axis=1)
        assert np.corrcoef(envelope, heard)[0, 1] > 0.9


def test_the_listening_copy_can_be_seeked() -> None:
    # A tone that rises a semitone a second: where playback lands says when it is.
    seconds = 30
    pieces = [tone(1, 16_000, hz=220 * 2 ** (i / 12), amp=0.4) for i in range(seconds)]
    data = listening_copy(np.concatenate(pieces))
    for target in (3, 17, 26):
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.audio[0]
            assert stream.time_base is not None
            container.seek(int(target / stream.time_base), stream=stream)
            frames = []
            for frame in container.decode(stream):
                if float(frame.time or 0) >= target + 0.2:
                    frames.append(frame.to_ndarray().reshape(-1).astype(np.float32))
                if sum(f.size for f in frames) > 48_000 * 0.5:
                    break
            landed = np.concatenate(frames)[: int(48_000 * 0.5)]
        hz = dominant_hz(landed, 48_000)
        assert hz == pytest.approx(220 * 2 ** (target / 12), rel=0.02)


# --- Waveform picture ---------------------------------------------------------------------


def picture_of(samples: Samples, **kw: int) -> npt.NDArray[np.uint8]:
    image = Image.open(io.BytesIO(waveform_picture(samples, **kw)))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def test_the_picture_is_a_png_of_the_requested_size() -> None:
    samples = speech_like(5)
    assert picture_of(samples).shape == (160, 800, 3)
    assert picture_of(samples, width=300, height=60).shape == (60, 300, 3)


def test_the_picture_shows_where_the_sound_is() -> None:
    samples = np.zeros(16_000 * 10, np.float32)
    samples[: 16_000 * 5] = tone(5, 16_000, amp=0.9)
    pixels = picture_of(samples)
    ink = (pixels != 255).any(axis=2)  # anything not background
    assert ink[:, :380].sum(axis=0).min() > 100  # the loud half fills most of its height
    assert ink[:, 420:].sum(axis=0).max() <= 3  # the silent half: the middle line only


@pytest.mark.parametrize("length", [1, 5, 799, 800, 801])
def test_the_picture_of_a_very_short_recording(length: int) -> None:
    samples = np.full(length, 0.5, np.float32)
    assert picture_of(samples).shape == (160, 800, 3)


# --- Parts --------------------------------------------------------------------------------


def test_a_short_recording_is_one_part() -> None:
    assert plan_parts(42.5, [(1.0, 40.0)], 60) == ((0, 42_500),)
    assert plan_parts(60.0, [], 60) == ((0, 60_000),)
    assert plan_parts(0.0, [], 60) == ((0, 0),)


def test_without_speech_segments_parts_are_cut_at_the_longest() -> None:
    assert plan_parts(150.0, [], 60) == ((0, 60_000), (60_000, 120_000), (120_000, 150_000))


def test_cuts_fall_in_the_middle_of_the_longest_late_silence() -> None:
    speech = [(0.0, 35.0), (36.0, 50.0), (54.0, 58.0), (59.0, 80.0), (81.0, 100.0)]
    parts = plan_parts(100.0, speech, 60)
    # In the first window, gaps at 35-36 (1 s), 50-54 (4 s), 58-59 (1 s): the longest.
    assert parts == ((0, 52_000), (52_000, 100_000))


def test_a_late_silence_wins_over_a_longer_early_one() -> None:
    speech = [(0.0, 10.0), (20.0, 50.0), (51.0, 100.0)]  # 10 s of silence early, 1 s late
    assert plan_parts(100.0, speech, 60)[0] == (0, 50_500)


def test_an_early_silence_is_used_when_the_late_half_has_none() -> None:
    speech = [(0.0, 10.0), (12.0, 100.0)]
    assert plan_parts(100.0, speech, 60)[:2] == ((0, 11_000), (11_000, 71_000))


def test_speech_without_a_pause_is_cut_hard() -> None:
    parts = plan_parts(130.0, [(0.0, 130.0)], 60)
    assert parts == ((0, 60_000), (60_000, 120_000), (120_000, 130_000))


def test_silence_after_the_last_speech_is_a_place_to_cut() -> None:
    parts = plan_parts(100.0, [(0.0, 55.0)], 60)
    assert parts[0] == (0, 57_500)  # middle of 55..60, the window's part of the silence


segments_strategy = st.lists(
    st.tuples(st.floats(0, 900, allow_nan=False), st.floats(0, 30, allow_nan=False)),
    max_size=40,
).map(lambda pairs: [(start, start + length) for start, length in pairs])


@settings(max_examples=300, deadline=None)
@given(
    duration=st.floats(0, 900, allow_nan=False),
    speech=segments_strategy,
    max_part_s=st.floats(5, 120, allow_nan=False),
)
def test_parts_cover_the_recording_within_bounds_and_cut_in_silence(
    duration: float, speech: list[tuple[float, float]], max_part_s: float
) -> None:
    parts = plan_parts(duration, speech, max_part_s)
    total, longest = round(duration * 1000), int(max_part_s * 1000)
    # Coverage: contiguous, from 0 to the end.
    assert parts[0][0] == 0 and parts[-1][1] == total
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    # Bounds: never longer than max_part_s, never empty (unless the recording is).
    assert all(0 < stop - start <= longest for start, stop in parts) or parts == ((0, 0),)
    if total <= longest:
        assert len(parts) == 1
    speaking = [(round(s * 1000), round(e * 1000)) for s, e in speech]
    silences = list(audio_parts._silences(total, speech))
    for start, cut in parts[:-1]:
        window_end = start + longest
        # Candidates: silences that begin inside the part (not the one it began by cutting in).
        in_window = [(a, b) for a, b in silences if start < a < window_end]
        if not in_window:
            assert cut == window_end  # a hard cut, only where there is no silence
            continue
        # The cut is in a silence: inside no speech segment.
        assert any(a <= cut <= b for a, b in silences)
        assert not any(a < cut < b for a, b in speaking)
        late = [(a, b) for a, b in in_window if b > start + longest // 2]
        if late:
            assert cut >= start + longest // 2  # a late silence is preferred


@settings(max_examples=100, deadline=None)
@given(
    duration=st.floats(0, 600, allow_nan=False),
    max_part_s=st.floats(5, 120, allow_nan=False),
)
def test_without_speech_every_part_but_the_last_is_the_longest(
    duration: float, max_part_s: float
) -> None:
    parts = plan_parts(duration, [], max_part_s)
    longest = int(max_part_s * 1000)
    assert all(stop - start == longest for start, stop in parts[:-1])
    assert 0 <= parts[-1][1] - parts[-1][0] <= longest
