"""A recording's listening copy (the Ogg Opus ingest made), decoded back to 16 kHz mono
samples, for a delivery that includes the audio cut per segment."""

from __future__ import annotations

import io

import av
import numpy as np

SAMPLE_RATE = 16_000


def decode_listening_copy(data: bytes) -> np.ndarray:
    """The samples as float32 in [-1, 1]."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
