"""Voice-activity detection: where a recording has speech, proposed to annotators as segments
and used to cut long recordings at silences (audio_parts.plan_parts).

The model is Silero VAD's (MIT licence), the ONNX export that takes a whole sequence of frames
in one call (`silero_vad_16k_sequence.onnx`), run with onnxruntime on the CPU. The streaming
export takes one 32 ms frame a call; an hour is 112,500 calls, and Python's share of each
dominates. The sequence export gives the same probabilities (bit for bit: the recurrent state
runs inside the model) for a few hundred calls an hour. The `silero-vad` package that ships
the model imports torch, so it is never installed: `scripts/vad_model.py` (run by
`make install`) takes the one model file out of its wheel into `services/ingest/models/`,
which the server's wheel ships as package data. How probabilities become segments follows
Silero's own `get_speech_timestamps`, in numpy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from shared.errors import StartupError

RATE = 16_000
FRAME = 512  # samples the model judges at a time, at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous frame each frame is prefixed with
STATE_SHAPE = (1, 1, 128)  # the recurrent layer's hidden and cell state
# Frames per model call: 16 s. Longer blocks save nothing measurable, and the block's input
# (576 floats a frame) stays small.
BLOCK_FRAMES = 512
MODEL_FILE = "silero_vad_16k_sequence.onnx"
INPUTS = ("input", "h", "c")
OUTPUTS = ("speech_probs", "hn", "cn")

Samples = npt.NDArray[np.float32]


def packaged_model() -> bytes:
    """The model file shipped with the service (package data)."""
    model = resources.files("services.ingest").joinpath("models", MODEL_FILE)
    if not model.is_file():
        raise StartupError(
            f"the speech detector's model services/ingest/models/{MODEL_FILE} is missing; "
            "`make install` fetches it (scripts/vad_model.py)"
        )
    return model.read_bytes()


class SpeechDetector:
    """One model session; `detect` may be called from several threads at once (onnxruntime's
    sessions are thread-safe, and each call keeps its own recurrent state)."""

    def __init__(self, model: Path | None = None, threads: int = 1) -> None:
        # Imported with the first recording, not with ingest: a replica that never sees
        # audio does not carry onnxruntime's 37 MB.
        import onnxruntime as ort  # type: ignore[import-untyped]  # ships no type hints

        options = ort.SessionOptions()
        # One core a recording: ingest reads a few recordings at once, each on its own thread.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # the export's unused initialisers warn at every load
        source = model.read_bytes() if model is not None else packaged_model()
        self._session = ort.InferenceSession(
            source, sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = tuple(i.name for i in self._session.get_inputs())
        outputs = tuple(o.name for o in self._session.get_outputs())
        if sorted(inputs) != sorted(INPUTS) or sorted(outputs) != sorted(OUTPUTS):
            raise StartupError(
                f"the speech model takes {inputs} and gives {outputs}; the detector needs "
                f"Silero's sequence export ({MODEL_FILE}): {INPUTS} to {OUTPUTS}"
            )

    def probabilities(self, samples: Samples) -> npt.NDArray[np.float32]:
        """Speech probability of each 512-sample frame of 16 kHz mono `samples` (the last
        frame zero-padded)."""
        if samples.ndim != 1:
            raise ValueError("the detector takes mono samples")
        count = -(-samples.size // FRAME)
        hidden = np.zeros(STATE_SHAPE, np.float32)
        cell = np.zeros(STATE_SHAPE, np.float32)
        previous = np.zeros(CONTEXT, np.float32)
        out: list[npt.NDArray[np.float32]] = []
        for first in range(0, count, BLOCK_FRAMES):
            frames = min(BLOCK_FRAMES, count - first)
            block = np.zeros((frames, CONTEXT + FRAME), np.float32)
            part = samples[first * FRAME : (first + frames) * FRAME]
            whole = part.size // FRAME
            block[:whole, CONTEXT:] = part[: whole * FRAME].reshape(whole, FRAME)
            if whole < frames:  # the recording's last frame, short: zero-padded
                block[whole, CONTEXT : CONTEXT + part.size - whole * FRAME] = part[whole * FRAME :]
            # Each frame is prefixed with the end of the one before, as the streaming model
            # keeps it between calls.
            block[0, :CONTEXT] = previous
            block[1:, :CONTEXT] = block[:-1, -CONTEXT:]
            previous = block[-1, -CONTEXT:].copy()
            probs, hidden, cell = self._session.run(
                list(OUTPUTS), {"input": block, "h": hidden, "c": cell}
            )
            out.append(np.asarray(probs, np.float32).reshape(-1))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def detect(
        self,
        samples16k: Samples,
        threshold: float = 0.5,
        min_speech_s: float = 0.25,
        min_silence_s: float = 0.3,
        pad_s: float = 0.05,
    ) -> list[tuple[float, float]]:
        """Speech segments (start, end) in seconds of 16 kHz mono samples."""
        return speech_segments(
            self.probabilities(samples16k),
            samples16k.size,
            threshold=threshold,
            min_speech_s=min_speech_s,
            min_silence_s=min_silence_s,
            pad_s=pad_s,
        )


def speech_segments(
    probs: npt.NDArray[np.float32],
    total_samples: int,
    threshold: float = 0.5,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.3,
    pad_s: float = 0.05,
) -> list[tuple[float, float]]:
    """Frames' speech probabilities to segments in seconds, as Silero's
    `get_speech_timestamps` does: speech starts at a frame at or above `threshold` and ends
    where the probability stays below a lower threshold (hysteresis) for `min_silence_s`;
    segments no longer than `min_speech_s` are dropped; each is padded by `pad_s` on both
    sides, or by half the gap to its neighbour where the gap is shorter than two pads."""
    low = max(threshold - 0.15, 0.01)
    min_speech = RATE * min_speech_s
    min_silence = RATE * min_silence_s
    pad = RATE * pad_s
    found: list[list[int]] = []
    speaking = False
    start = quiet_from = 0  # quiet_from: where the probability last fell below `low`
    for index, prob in enumerate(probs.tolist()):
        at = index * FRAME
        if prob >= threshold:
            quiet_from = 0
            if not speaking:
                speaking, start = True, at
            continue
        if speaking and prob < low:
            quiet_from = quiet_from or at
            if at - quiet_from < min_silence:
                continue
            if quiet_from - start > min_speech:
                found.append([start, quiet_from])
            speaking, quiet_from = False, 0
    if speaking and total_samples - start > min_speech:
        found.append([start, total_samples])

    # Padding, with Silero's rounding (the pad stays fractional; each bound is truncated).
    for index, segment in enumerate(found):
        if index == 0:
            segment[0] = int(max(0, segment[0] - pad))
        if index + 1 < len(found):
            following = found[index + 1]
            gap = following[0] - segment[1]
            if gap < 2 * pad:
                segment[1] += gap // 2
                following[0] = max(0, following[0] - gap // 2)
            else:
                segment[1] = int(min(total_samples, segment[1] + pad))
                following[0] = int(max(0, following[0] - pad))
        else:
            segment[1] = int(min(total_samples, segment[1] + pad))
    return [(s / RATE, e / RATE) for s, e in found]
