"""Audio files in: refuse what is not a whole, decodable, bounded recording; turn what is into
16 kHz mono samples, and make from those what the tools need: the listening copy people hear,
the waveform peaks the tools draw, a waveform picture (the recording's image) and the plan of
parts a long recording is cut into.

Decoding is PyAV's (FFmpeg inside its wheels), for every format: WAV, FLAC, Ogg (Vorbis or
Opus), MP3 and M4A (AAC in MP4). The one encoder the project opens is libopus (BSD), for the
listening copy.

As for videos (video.py), a file's header may lie (a few bytes can claim hours, or a rate of
millions of samples a second), so every limit is checked twice: on what the header declares,
before decoding, and on what is decoded, block by block, so that decoding stops at the first
block past a limit. A declared length is one the file really declares: FFmpeg estimates an
MP3's from its bit rate (the count in its Xing, Info or VBRI frame is read here instead) and
clamps a WAV's to the file's size (which would hide a cut file; the `data` chunk's size is
read here instead).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePath
from typing import BinaryIO

import av
import av.error
import numpy as np
import numpy.typing as npt
from PIL import Image

from shared.errors import AppError

Samples = npt.NDArray[np.float32]

RATE = 16_000  # what every recording is normalised to: what speech models and the tools use
# Each format's FFmpeg demuxer (named when opening, so FFmpeg cannot read the bytes as another
# format than the one they were checked to be) and the codecs read in it.
DEMUXERS = {"wav": "wav", "flac": "flac", "ogg": "ogg", "mp3": "mp3", "m4a": "mp4"}
CODECS: dict[str, frozenset[str]] = {
    "wav": frozenset(),  # any PCM (pcm_*): integer, float, A-law, mu-law
    "flac": frozenset({"flac"}),
    "ogg": frozenset({"vorbis", "opus"}),
    "mp3": frozenset({"mp3"}),
    "m4a": frozenset({"aac"}),
}
CODEC_NAMES = {"mp3float": "mp3"}  # FFmpeg's decoder names, and what Aviary calls the codec
EXTENSIONS = {
    ".wav": "wav",
    ".wave": "wav",
    ".flac": "flac",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".opus": "ogg",
    ".mp3": "mp3",
    ".m4a": "m4a",
    ".mp4": "m4a",
}
HEAD_BYTES = 64
# Audio containers Aviary recognises but does not read, refused by name rather than as "not
# audio": (first bytes, bytes 8-12 or empty, name).
OTHER_AUDIO = (
    (b"FORM", b"AIFF", "AIFF"),
    (b"FORM", b"AIFC", "AIFF"),
    (b"\x1a\x45\xdf\xa3", b"", "Matroska/WebM"),
    (b"caff", b"", "Core Audio (CAF)"),
    (b"#!AMR", b"", "AMR"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", b"", "ASF/WMA"),
)
# A stream that decodes to less than this share of the duration its header declares, less
# WHOLE_SLACK_S, was cut short. The slack: an MP3's frame count includes the encoder's delay
# and padding, which decoding drops (up to 0.21 s at 8 kHz).
WHOLE_SHARE = 0.98
WHOLE_SLACK_S = 0.25
# MPEG audio: sample rates by version (1, 2, 2.5) and index; samples a frame by version and
# layer (I, II, III).
MPEG_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}
MPEG_FRAME_SAMPLES = {3: {3: 384, 2: 1152, 1: 1152}, 2: {3: 384, 2: 1152, 1: 576}}
# Packets that fail to decode: a few are a glitch each and are passed over, as players do (a
# cut file's last packet, the join of two MP3s glued together, one bad block of a rip); more
# than DAMAGED_RUN in a row, or more than DAMAGED_SHARE of all packets (and DAMAGED_RUN), is a
# damaged stream.
DAMAGED_RUN = 4
DAMAGED_SHARE = 0.01

LISTENING_BIT_RATE = 24_000
OPUS_COMPLEXITY = 6
LISTENING_CHUNK = RATE  # samples handed to the encoder at once (it re-frames them)
PEAK_STEPS = (160, 640, 2560, 10240)  # each 4x the one before: each level is made from the last
PEAK_SCALE = 127
PICTURE_BACKGROUND = (255, 255, 255)
PICTURE_PEAK = (150, 178, 222)  # min..max of each column
PICTURE_RMS = (38, 84, 160)  # +-RMS of each column, drawn over the peaks: where the energy is
PICTURE_AXIS = (200, 200, 200)


def invalid(code: str, message: str, status: int = 422) -> AppError:
    return AppError(code, message, status_code=status)


@dataclass(frozen=True)
class AudioLimits:
    max_duration_s: float = 4 * 3600.0
    max_channels: int = 8
    min_sample_rate: int = 8_000
    max_sample_rate: int = 192_000
    # Decoded values in all (samples x channels): what decoding costs, whatever the file's
    # size or what its header says.
    max_decoded_samples: int = 4 * 3600 * 192_000 * 8


@dataclass(frozen=True)
class Recording:
    """A recording read whole: what it was uploaded as, and its samples at 16 kHz mono."""

    format: str  # wav | flac | ogg | mp3 | m4a
    codec: str
    duration_s: float  # decoded
    sample_rate: int  # as uploaded
    channels: int  # as uploaded
    samples: Samples = field(repr=False, compare=False)


# --- What the bytes are -------------------------------------------------------------------


def format_of(f: BinaryIO) -> str | None:
    """What the file's first bytes say it is (`wav`, `flac`, `ogg`, `mp3`, `m4a`), or None
    when they are no audio Aviary reads. Refuses audio containers it recognises but does not
    read. Reads from the start of `f`; an ID3 tag is skipped to see what it tags."""
    f.seek(0)
    head = f.read(HEAD_BYTES)
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if _id3_end(head):
        f.seek(_id3_end(head))
        after = f.read(4)
        if after.startswith(b"fLaC"):
            return "flac"
        _refuse_adts(after)
        return "mp3"  # tagged as audio; decoding tells whether frames follow
    _refuse_adts(head)
    if _mpeg_audio_sync(head):
        return "mp3"
    for magic, form, name in OTHER_AUDIO:
        if head.startswith(magic) and (not form or head[8:12] == form):
            raise invalid(
                "unsupported_container",
                f"{name} files are not read; send WAV, FLAC, Ogg, MP3 or M4A",
                415,
            )
    return None


def _id3_end(head: bytes) -> int:
    """Where the ID3v2 tag the file begins with ends (0: none). Its size is syncsafe (7 bits a
    byte); a footer adds 10 bytes."""
    if not head.startswith(b"ID3") or len(head) < 10:
        return 0
    size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _mpeg_audio_sync(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then a version, layer, bit rate and sample
    rate that are not reserved values (so that few other files pass for one)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bit_rate, sample_rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bit_rate != 15 and sample_rate != 3


def _refuse_adts(head: bytes) -> None:
    # Raw AAC (ADTS): the MPEG sync bits with layer 0; AAC is read inside MP4 only.
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        raise invalid("unsupported_container", "raw AAC (ADTS) is not read; send it as M4A", 415)


def check_name(f: BinaryIO, file_name: str | None) -> str:
    """The format the bytes are; refused when they are no audio Aviary reads, or when the
    file's name says another format than its bytes (no or an unknown extension: the bytes)."""
    actual = format_of(f)
    if actual is None:
        raise invalid("not_audio", "the upload is not a WAV, FLAC, Ogg, MP3 or M4A recording", 415)
    named = EXTENSIONS.get(PurePath(file_name or "").suffix.lower())
    if named is not None and named != actual:
        raise invalid(
            "media_mismatch",
            f"the file is named {PurePath(file_name or '').name!r} but its bytes are {actual}",
            415,
        )
    return actual


# --- Reading ------------------------------------------------------------------------------


def read_recording(
    path: Path, file_name: str | None, limits: AudioLimits, spill_dir: Path | None = None
) -> Recording:
    """Validate and decode the recording at `path` into 16 kHz mono samples.

    With `spill_dir` the samples live in a file there, mapped into memory (see _Normaliser).
    Raises AppError with a machine code for every refusal.
    """
    with path.open("rb") as f:
        kind = check_name(f, file_name)
        declared = _declared_length(f, kind)
    try:
        container = av.open(str(path), mode="r", format=DEMUXERS[kind])
    except av.error.FFmpegError as exc:
        raise invalid("corrupt_audio", f"the recording could not be opened: {exc}") from exc
    with container:
        return _decode(container, kind, declared, limits, spill_dir)


@dataclass(frozen=True)
class _Declared:
    """A length the file's own header declares, where FFmpeg's would be a guess: `known`
    False means take FFmpeg's (it read it from the header), `seconds` None means the file
    declares none."""

    known: bool = False
    seconds: float | None = None


def _declared_length(f: BinaryIO, kind: str) -> _Declared:
    if kind == "wav":
        return _Declared(known=True, seconds=_wav_length(f))
    if kind == "mp3":
        return _Declared(known=True, seconds=_mp3_length(f))
    return _Declared()


def _wav_length(f: BinaryIO) -> float | None:
    """Seconds the `data` chunk's size declares: FFmpeg clamps it to the file's size, which
    would hide a cut file. None when the size says "unknown" (0 or all ones, as streaming
    writers leave it) or the chunks cannot be walked (RF64 keeps sizes elsewhere)."""
    f.seek(0)
    if f.read(4) != b"RIFF":
        return None
    f.seek(12)
    rate = block_align = 0
    for _ in range(64):  # a handful of chunks precede the data; never walk a file of them
        header = f.read(8)
        if len(header) < 8:
            return None
        chunk, size = header[:4], int.from_bytes(header[4:], "little")
        if chunk == b"fmt ":
            body = f.read(min(size, 16))
            if len(body) < 16:
                return None
            rate = int.from_bytes(body[4:8], "little")
            block_align = int.from_bytes(body[12:14], "little")
            f.seek(size - len(body) + (size & 1), io.SEEK_CUR)
        elif chunk == b"data":
            if not rate or not block_align or size in (0, 0xFFFFFFFF):
                return None
            return float(size / block_align / rate)
        else:
            f.seek(size + (size & 1), io.SEEK_CUR)  # chunks are padded to even sizes
    return None


def _mp3_length(f: BinaryIO) -> float | None:
    """Seconds an MP3's Xing, Info or VBRI frame declares (its frame count), the only place an
    MP3 says how long it is. FFmpeg's figure is no help: without such a frame it estimates
    from the first frame's bit rate (far off for a variable rate), and with one it may still
    estimate (two MP3s glued together). None when the first frame carries no count."""
    f.seek(0)
    f.seek(_id3_end(f.read(10)))
    first = f.read(200)  # the count sits within the first frame's first bytes
    if not _mpeg_audio_sync(first):
        return None
    version, layer = (first[1] >> 3) & 3, (first[1] >> 1) & 3
    rate = MPEG_RATES[version][(first[2] >> 2) & 3]
    frame_samples = MPEG_FRAME_SAMPLES[3 if version == 3 else 2][layer]
    frames: int | None = None
    for tag in (b"Xing", b"Info"):
        at = first.find(tag)
        if at >= 0 and len(first) >= at + 12 and first[at + 7] & 1:  # flag 1: a frame count
            frames = int.from_bytes(first[at + 8 : at + 12], "big")
    at = first.find(b"VBRI")
    if frames is None and at >= 0 and len(first) >= at + 18:
        frames = int.from_bytes(first[at + 14 : at + 18], "big")
    return frames * frame_samples / rate if frames else None


def _decode(
    container: av.container.InputContainer,
    kind: str,
    declared: _Declared,
    limits: AudioLimits,
    spill_dir: Path | None,
) -> Recording:
    if not container.streams.audio:
        what = "video but no" if container.streams.video else "no"
        raise invalid("no_audio_stream", f"the file has {what} audio stream")
    stream = container.streams.audio[0]
    decoder = stream.codec_context.name
    codec = CODEC_NAMES.get(decoder, decoder)
    allowed = CODECS[kind]
    if not (codec.startswith("pcm_") if kind == "wav" else codec in allowed):
        wanted = "PCM" if kind == "wav" else ", ".join(sorted(allowed))
        raise invalid(
            "unsupported_codec", f"{kind} with {codec} is not read; send {kind} with {wanted}", 415
        )
    rate = int(stream.codec_context.sample_rate or 0)
    channels = int(stream.codec_context.channels or 0)
    if rate <= 0 or channels <= 0:
        raise invalid("corrupt_audio", "the audio stream declares no sample rate or channels")
    _check_format(limits, rate, channels)
    declared_s = declared.seconds if declared.known else _ffmpeg_length(stream)
    if declared_s is not None:
        if declared_s > limits.max_duration_s:
            raise _too_long(limits)
        if declared_s * rate * channels > limits.max_decoded_samples:
            raise _too_many_samples(limits)

    normaliser = _Normaliser(declared_s or 60.0, limits.max_duration_s, spill_dir)
    seconds = 0.0
    values = 0
    packets = failed = failed_in_a_row = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = stream.codec_context.decode(packet if packet.size else None)
            except av.error.FFmpegError as exc:
                failed += 1
                failed_in_a_row += 1
                if failed_in_a_row > DAMAGED_RUN:
                    raise invalid("corrupt_audio", f"the audio stream is damaged: {exc}") from exc
                continue
            failed_in_a_row = 0
            for frame in frames:
                frame_channels = frame.layout.nb_channels
                _check_format(limits, frame.sample_rate, frame_channels)
                seconds += frame.samples / frame.sample_rate
                values += frame.samples * frame_channels
                if seconds > limits.max_duration_s:
                    raise _too_long(limits)
                if values > limits.max_decoded_samples:
                    raise _too_many_samples(limits)
                normaliser.add(frame)
    except av.error.PatchWelcomeError as exc:  # FFmpeg cannot demux it: chained Ogg streams
        raise invalid(
            "unsupported_container",
            f"the file's structure is not read (several Ogg streams one after another?): {exc}",
            415,
        ) from exc
    except av.error.FFmpegError as exc:  # the demuxer's: the file breaks off or is damaged
        if not seconds:
            raise invalid("corrupt_audio", f"the audio stream is damaged: {exc}") from exc
        failed += 1  # what decoded stands; a declared length says whether it is whole
    samples = normaliser.finish()
    if not seconds or not samples.size:
        raise invalid("corrupt_audio", "no audio of the recording could be decoded")
    if failed > max(DAMAGED_RUN, DAMAGED_SHARE * packets):
        raise invalid(
            "corrupt_audio", f"{failed} of the audio stream's {packets} packets are damaged"
        )
    if declared_s and seconds < declared_s * WHOLE_SHARE - WHOLE_SLACK_S:
        raise invalid(
            "truncated_audio",
            f"the stream decodes to {seconds:.2f} s of the {declared_s:.2f} s its header "
            "declares: the file was cut short or lost data",
        )
    return Recording(
        format=kind,
        codec=codec,
        duration_s=seconds,
        sample_rate=rate,
        channels=channels,
        samples=samples,
    )


def _ffmpeg_length(stream: av.audio.stream.AudioStream) -> float | None:
    """The stream's length as its header gives it (FLAC's STREAMINFO, Ogg's last granule
    position, MP4's index, an MP3's Xing frame); not the container's, which FFmpeg may have
    estimated from the bit rate."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _check_format(limits: AudioLimits, rate: int, channels: int) -> None:
    if channels > limits.max_channels:
        raise invalid(
            "too_many_channels",
            f"the recording has {channels} channels; at most {limits.max_channels} are read",
        )
    if rate < limits.min_sample_rate:
        raise invalid(
            "sample_rate_too_low",
            f"{rate} Hz is below the lowest sample rate read, {limits.min_sample_rate} Hz",
        )
    if rate > limits.max_sample_rate:
        raise invalid(
            "sample_rate_too_high",
            f"{rate} Hz is above the highest sample rate read, {limits.max_sample_rate} Hz",
        )


def _too_long(limits: AudioLimits) -> AppError:
    return invalid(
        "audio_too_long", f"the recording is longer than {limits.max_duration_s:g} s", 413
    )


def _too_many_samples(limits: AudioLimits) -> AppError:
    return invalid(
        "audio_too_long",
        f"the recording has more than {limits.max_decoded_samples:,} samples in all channels",
        413,
    )


class _Normaliser:
    """Decoded frames to one 16 kHz mono float32 array. FFmpeg resamples; channels are then
    averaged here (FFmpeg's own down-mix adds stereo channels at 0.71 each, louder than either,
    and past full scale where they agree). Rate or channel changes mid-stream (MP3s glued
    together) start a new resampler. The array is allocated once for the declared length
    (pages a lying header claims are never touched) and grown only if the recording is longer.

    With `spill_dir` the array is a file there mapped into memory: an hour is 230 MB of
    samples, which as file pages the kernel may write out and drop under memory pressure,
    where anonymous memory would get a long recording's ingest process killed."""

    def __init__(self, expected_s: float, max_s: float, spill_dir: Path | None = None) -> None:
        self._spill_dir = spill_dir
        self._spills = 0
        self._buffer = self._allocate(int(min(expected_s, max_s) * RATE) + RATE)
        self._size = 0
        self._resampler: av.AudioResampler | None = None
        self._input: tuple[str, str, int] | None = None
        self._channels = 1

    def add(self, frame: av.AudioFrame) -> None:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != self._input:
            self._drain(None)
            self._input = key
            self._channels = frame.layout.nb_channels
            self._resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=RATE)
        self._drain(frame)

    def finish(self) -> Samples:
        self._drain(None)
        # A view: the unused rest was never touched, so it costs no memory.
        return self._buffer[: self._size]

    def _allocate(self, size: int) -> Samples:
        if self._spill_dir is None:
            return np.empty(size, np.float32)
        self._spills += 1
        path = self._spill_dir / f"samples-{self._spills}.f32"
        return np.memmap(path, dtype=np.float32, mode="w+", shape=(size,))

    def _drain(self, frame: av.AudioFrame | None) -> None:
        if self._resampler is None:
            return
        for out in self._resampler.resample(frame):
            # flt: one plane, channels interleaved
            packed = out.to_ndarray().astype(np.float32, copy=False).reshape(-1, self._channels)
            mono = packed[:, 0].copy()
            for channel in range(1, self._channels):  # faster than a sum along the short axis
                mono += packed[:, channel]
            if self._channels > 1:
                mono *= np.float32(1 / self._channels)
            self._append(mono)
        if frame is None:
            self._resampler = None
            self._input = None

    def _append(self, block: Samples) -> None:
        end = self._size + block.size
        if end > self._buffer.size:
            grown = self._allocate(max(end, 2 * self._buffer.size))
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size : end] = block
        self._size = end


# --- What the tools get -------------------------------------------------------------------


def listening_copy(samples: Samples) -> bytes:
    """The copy people listen to: Ogg Opus, 16 kHz mono, about 24 kbit/s (speech stays clear;
    an hour is about 11 MB). Browsers play and seek it (Ogg pages carry granule positions)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        # Complexity 6: from 7 up libopus takes 4 times as long on room noise (measured: an
        # hour of speech with hiss, 22 s at 10, 5.6 s at 6), for little a listener hears.
        stream = container.add_stream(
            "libopus",
            rate=RATE,
            layout="mono",
            options={"compression_level": str(OPUS_COMPLEXITY)},
        )
        stream.bit_rate = LISTENING_BIT_RATE
        time_base = Fraction(1, RATE)
        for start in range(0, samples.size, LISTENING_CHUNK):
            block = np.ascontiguousarray(samples[start : start + LISTENING_CHUNK], np.float32)
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def peaks(samples: Samples) -> bytes:
    """Waveform peaks as JSON, the browser's format (docs/media.md):
    `{"sample_rate": 16000, "duration_s": D, "levels": [{"step": 160, "data": B}, ...]}`,
    each level's data base64 of int8 (min, max) pairs, one pair per `step` samples (the last
    pair covers what is left), scaled from [-1, 1] to [-127, 127].

    Only the finest level reads the samples; each coarser one takes the min and max of four
    pairs of the level before (rounding to int8 keeps order, so the result is the same)."""
    levels = []
    pairs = _min_max(samples, PEAK_STEPS[0])
    for index, step in enumerate(PEAK_STEPS):
        if index:
            pairs = _coarser(pairs, step // PEAK_STEPS[index - 1])
        levels.append({"step": step, "data": base64.b64encode(pairs.tobytes()).decode("ascii")})
    document = {"sample_rate": RATE, "duration_s": samples.size / RATE, "levels": levels}
    return json.dumps(document).encode()


def _min_max(samples: Samples, step: int) -> npt.NDArray[np.int8]:
    """(min, max) of every `step` samples, as int8 pairs in one flat array."""
    whole = samples.size // step * step
    blocks = samples[:whole].reshape(-1, step)
    lows, highs = [blocks.min(axis=1)], [blocks.max(axis=1)]
    if whole < samples.size:
        lows.append(samples[whole:].min(keepdims=True))
        highs.append(samples[whole:].max(keepdims=True))
    pairs = np.empty((sum(x.size for x in lows), 2), np.float32)
    pairs[:, 0] = np.concatenate(lows)
    pairs[:, 1] = np.concatenate(highs)
    return _to_int8(pairs).reshape(-1)


def _to_int8(values: npt.NDArray[np.float32]) -> npt.NDArray[np.int8]:
    scaled = np.rint(np.clip(values, -1.0, 1.0) * PEAK_SCALE)
    return scaled.astype(np.int8)


def _coarser(pairs: npt.NDArray[np.int8], factor: int) -> npt.NDArray[np.int8]:
    """Pairs for `factor` times the step: min of mins, max of maxes."""
    count = pairs.size // 2
    pad = -count % factor
    # Pad the last group with a copy of its last pair: a neutral value for min and max.
    grid = np.concatenate([pairs.reshape(-1, 2), np.repeat(pairs.reshape(-1, 2)[-1:], pad, 0)])
    groups = grid.reshape(-1, factor, 2)
    out = np.empty((groups.shape[0], 2), np.int8)
    out[:, 0] = groups[:, :, 0].min(axis=1)
    out[:, 1] = groups[:, :, 1].max(axis=1)
    return out.reshape(-1)


def waveform_picture(samples: Samples, width: int = 800, height: int = 160) -> bytes:
    """A PNG of the whole recording's waveform: each column's min..max in a light colour and
    its +-RMS in a dark one, about a middle line. The recording's image in lists and queues."""
    middle = (height - 1) / 2
    columns = _column_stats(samples, width)
    rows = np.arange(height, dtype=np.float32)[:, None]
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = PICTURE_BACKGROUND
    picture[round(middle), :] = PICTURE_AXIS
    if columns is not None:
        low, high, rms = columns
        # y grows downwards: a sample of +1 is row 0, -1 the last row.
        top, bottom = middle - high * middle, middle - low * middle
        picture[(rows >= np.floor(top)) & (rows <= np.ceil(bottom))] = PICTURE_PEAK
        quiet = np.minimum(rms, np.maximum(high, -low))  # RMS never past the peaks
        inner = (rows >= np.floor(middle - quiet * middle)) & (
            rows <= np.ceil(middle + quiet * middle)
        )
        picture[inner & (rms > 0)] = PICTURE_RMS
    out = io.BytesIO()
    Image.fromarray(picture, "RGB").save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _column_stats(samples: Samples, width: int) -> tuple[Samples, Samples, Samples] | None:
    """Per column: min, max (clipped to [-1, 1]) and RMS of the samples it covers. A recording
    with fewer samples than columns repeats samples across columns."""
    if not samples.size:
        return None
    edges = np.linspace(0, samples.size, width + 1).astype(np.int64)
    starts = np.minimum(edges[:-1], samples.size - 1)
    ends = np.maximum(edges[1:], starts + 1)
    low = np.minimum.reduceat(samples, starts)
    high = np.maximum.reduceat(samples, starts)
    # A dot product a column: squaring the whole recording at once would copy it.
    energy = np.array(
        [np.dot(samples[a:b], samples[a:b]) for a, b in zip(starts, ends, strict=True)],
        np.float64,
    )
    rms = np.sqrt(energy / (ends - starts)).astype(np.float32)
    if samples.size < width:  # reduceat reads one sample where a column is empty
        low, high = samples[starts], samples[starts]
    return np.clip(low, -1, 1), np.clip(high, -1, 1), np.minimum(rms, 1).astype(np.float32)


# --- Parts --------------------------------------------------------------------------------


def plan_parts(
    duration_s: float, speech: list[tuple[float, float]], max_part_s: float
) -> tuple[tuple[int, int], ...]:
    """Cut a recording into parts of at most `max_part_s`: (start, stop) in milliseconds,
    contiguous, from 0 to the duration.

    Each cut is in the middle of the longest silence in the window it ends, preferring
    silences after half of `max_part_s` (so parts are not short); with no silence in the
    window, the cut is at `max_part_s`, through speech. Silences are the gaps between `speech`
    segments and, when there is any speech, before the first and after the last one; with no
    speech segments at all (no detection ran, or none found) every cut is at `max_part_s`.
    """
    total = max(0, round(duration_s * 1000))
    longest = int(max_part_s * 1000)
    if longest <= 0:
        raise ValueError("parts need a positive length")
    silences = list(_silences(total, speech))
    parts: list[tuple[int, int]] = []
    start = 0
    while total - start > longest:
        end = start + longest
        cut = _cut_in(silences, start, start + longest // 2, end) or _cut_in(
            silences, start, start, end
        )
        cut = cut or end
        parts.append((start, cut))
        start = cut
    parts.append((start, total))
    return tuple(parts)


def _silences(total_ms: int, speech: list[tuple[float, float]]) -> Iterator[tuple[int, int]]:
    """The gaps between speech segments in milliseconds, sorted (segments may overlap)."""
    if not speech:
        return
    at = 0
    for start_s, end_s in sorted(speech):
        start = min(total_ms, max(0, round(start_s * 1000)))
        if start > at:
            yield at, start
        at = max(at, min(total_ms, round(end_s * 1000)))
    if at < total_ms:
        yield at, total_ms


def _cut_in(silences: list[tuple[int, int]], part_start: int, low: int, high: int) -> int | None:
    """The middle of the longest silence within [low, high] (of its part there), if any.
    Silences that begin where the part does are not candidates: the part began by cutting in
    one (or the recording begins with one), and cutting in it again makes a part of silence."""
    best: tuple[int, int] | None = None
    for start, end in silences:
        if start <= part_start or end <= low or start >= high:
            continue
        clipped = (max(start, low), min(end, high))
        if best is None or clipped[1] - clipped[0] > best[1] - best[0]:
            best = clipped
    if best is None:
        return None
    return max(low, min(high, (best[0] + best[1]) // 2))
