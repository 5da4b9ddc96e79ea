"""What people hear and see of a recording, made once at ingest from its 16 kHz mono samples
(audio.py): the listening copy annotators and reviewers play, the waveform peaks the tools draw
(their format is docs/media.md's) and the waveform picture lists show as the recording's image.

The one encoder the project opens is libopus (BSD), for the listening copy.
"""

from __future__ import annotations

import base64
import io
import json
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from PIL import Image

from services.ingest.audio import RATE, Samples

LISTENING_BIT_RATE = 24_000
OPUS_COMPLEXITY = 6
LISTENING_CHUNK = RATE  # samples handed to the encoder at once (it re-frames them)
PEAK_STEPS = (160, 640, 2560, 10240)  # each 4x the one before: each level is made from the last
PEAK_SCALE = 127
PICTURE_BACKGROUND = (255, 255, 255)
PICTURE_PEAK = (150, 178, 222)  # min..max of each column
PICTURE_RMS = (38, 84, 160)  # +-RMS of each column, drawn over the peaks: where the energy is
PICTURE_AXIS = (200, 200, 200)


def listening_copy(samples: Samples) -> bytes:
    """The copy people listen to: Ogg Opus, 16 kHz mono, about 24 kbit/s (speech stays clear;
    an hour is about 11 MB). Browsers play and seek it (Ogg pages carry granule positions)."""
    import av  # here, not at the top: see audio.py

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
