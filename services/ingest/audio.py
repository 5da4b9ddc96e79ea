"""Audio files in: refuse what is not a whole, decodable, bounded recording; turn what is into
16 kHz mono samples. What the tools get from those is made in audio_views.py (the listening
copy, the peaks, the picture), the plan of parts in audio_parts.py.

Decoding is PyAV's (FFmpeg inside its wheels), for every format: WAV, FLAC, Ogg (Vorbis or
Opus), MP3 and M4A (AAC in MP4).

As for videos (video.py), a file's header may lie (a few bytes can claim hours, or a rate of
millions of samples a second), so every limit is checked twice: on what the header declares,
before decoding, and on what is decoded, block by block, so that decoding stops at the first
block past a limit. A declared length is one the file really declares: FFmpeg estimates an
MP3's from its bit rate (the count in its Xing, Info or VBRI frame is read here instead) and
clamps a WAV's to the file's size (which would hide a cut file; the `data` chunk's size is
read here instead).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt

from shared.errors import AppError

if TYPE_CHECKING:
    import av

# PyAV is imported where a recording is read, not here: a replica that never sees audio or
# video (an image-only tenant's) does not carry its 21 MB (docs/benchmarks.md, interop).

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
    import av
    import av.error

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
    import av.error

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
            import av

            self._resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=RATE)
        self._drain(frame)

    def finish(self) -> Samples:
        self._drain(None)
        # A view: the unused rest was never touched, so it costs no memory.
        return self._buffer[: self._size]

    def _allocate(self, size: int) -> Samples:
        if self._spill_dir is None:
            return np.empty(size, np.float32)
        # A name of its own: readers sharing a folder never map each other's samples.
        with tempfile.NamedTemporaryFile(
            dir=self._spill_dir, prefix="samples-", suffix=".f32", delete=False
        ) as f:
            return np.memmap(f.name, dtype=np.float32, mode="w+", shape=(size,))

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
