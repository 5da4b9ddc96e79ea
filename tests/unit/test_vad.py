"""Voice-activity detection (services/ingest/vad.py) and its model's fetching
(scripts/vad_model.py).

The loading and running code is tested on tiny ONNX models made here with the inputs and
outputs of Silero's sequence export (input [frames, 576], h and c [1, 1, 128] in; speech_probs
[frames], hn, cn out), whose outputs are simple functions of what they are fed: the frames'
energy, the state handed in, the context each frame is prefixed with. The real model
(fetched by `make install`) is tested on speech-like sound made here and on sounds that are
not speech; and on spoken words where Debian's espeak-ng is installed.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
import soundfile  # type: ignore[import-untyped]  # ships no type hints
from onnx import TensorProto, helper

from aviary_devkit.bench.speech_ingest_bench import speech_like
from aviary_devkit.processes import ROOT
from services.ingest import vad
from services.ingest.vad import (
    CONTEXT,
    FRAME,
    MODEL_FILE,
    SpeechDetector,
    packaged_model,
    speech_segments,
)
from shared.errors import StartupError

Samples = npt.NDArray[np.float32]
RATE = 16_000


# --- Tiny models --------------------------------------------------------------------------


def _const(name: str, values: list[float] | list[int], dtype: int = TensorProto.FLOAT) -> Any:
    return helper.make_tensor(name, dtype, [len(values)], values)


def tiny_model(
    folder: Path, probs: str = "energy", names: tuple[str, ...] = ("input", "h", "c")
) -> Path:
    """A model with Silero's sequence inputs and outputs. `probs`: what speech_probs is:
    `energy` (a sigmoid of each frame's mean square: loud is speech), `state` (the mean of h
    plus the mean of c handed in, the same for every frame; hn = h + 1, cn = c + 2), `context`
    (the mean of the 64 samples each frame is prefixed with)."""
    frames, h, c = names
    nodes = [
        helper.make_node("Slice", [frames, "new_start", "new_end", "axis1"], ["new"]),
        helper.make_node("Slice", [frames, "ctx_start", "ctx_end", "axis1"], ["ctx"]),
        helper.make_node("Mul", ["new", "new"], ["squares"]),
        helper.make_node("ReduceMean", ["squares"], ["energy"], axes=[1], keepdims=0),
        helper.make_node("Add", [h, "one"], ["hn"]),
        helper.make_node("Add", [c, "two"], ["cn"]),
    ]
    if probs == "energy":
        nodes += [
            helper.make_node("Sub", ["energy", "floor"], ["above"]),
            helper.make_node("Mul", ["above", "gain"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["speech_probs"]),
        ]
    elif probs == "state":
        nodes += [
            helper.make_node("ReduceMean", [h], ["h_mean"], keepdims=0),
            helper.make_node("ReduceMean", [c], ["c_mean"], keepdims=0),
            helper.make_node("Add", ["h_mean", "c_mean"], ["state_sum"]),
            helper.make_node("Mul", ["energy", "zero"], ["zeros"]),
            helper.make_node("Add", ["zeros", "state_sum"], ["speech_probs"]),
        ]
    else:
        nodes += [helper.make_node("ReduceMean", ["ctx"], ["speech_probs"], axes=[1], keepdims=0)]
    graph = helper.make_graph(
        nodes,
        "tiny-vad",
        [
            helper.make_tensor_value_info(frames, TensorProto.FLOAT, ["frames", CONTEXT + FRAME]),
            helper.make_tensor_value_info(h, TensorProto.FLOAT, [1, 1, 128]),
            helper.make_tensor_value_info(c, TensorProto.FLOAT, [1, 1, 128]),
        ],
        [
            helper.make_tensor_value_info("speech_probs", TensorProto.FLOAT, ["frames"]),
            helper.make_tensor_value_info("hn", TensorProto.FLOAT, [1, 1, 128]),
            helper.make_tensor_value_info("cn", TensorProto.FLOAT, [1, 1, 128]),
        ],
        initializer=[
            _const("new_start", [CONTEXT], TensorProto.INT64),
            _const("new_end", [CONTEXT + FRAME], TensorProto.INT64),
            _const("ctx_start", [0], TensorProto.INT64),
            _const("ctx_end", [CONTEXT], TensorProto.INT64),
            _const("axis1", [1], TensorProto.INT64),
            _const("floor", [0.01]),
            _const("gain", [1000.0]),
            _const("one", [1.0]),
            _const("two", [2.0]),
            _const("zero", [0.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime 1.17, the oldest allowed, reads
    onnx.checker.check_model(model)
    path = folder / f"tiny-{probs}.onnx"
    onnx.save(model, str(path))
    return path


def stretches(*parts: tuple[str, float]) -> Samples:
    """Loud noise ("loud") and digital silence ("quiet") one after another."""
    rng = np.random.default_rng(5)
    out = []
    for kind, seconds in parts:
        n = round(seconds * RATE)
        if kind == "loud":
            out.append((0.3 * rng.standard_normal(n)).astype(np.float32))
        else:
            out.append(np.zeros(n, np.float32))
    return np.concatenate(out)


def test_a_model_with_silero_inputs_is_loaded_and_run(tmp_path: Path) -> None:
    detector = SpeechDetector(tiny_model(tmp_path))
    samples = stretches(("quiet", 1), ("loud", 2), ("quiet", 1), ("loud", 1.5), ("quiet", 1))
    found = detector.detect(samples)
    # Frames are 32 ms; the pad is 50 ms each side.
    assert len(found) == 2
    for (start, end), (loud_from, loud_to) in zip(found, [(1.0, 3.0), (4.0, 5.5)], strict=True):
        assert start == pytest.approx(loud_from - 0.05, abs=0.033)
        assert end == pytest.approx(loud_to + 0.05, abs=0.033)


@pytest.mark.parametrize("length", [0, 1, 511, 512, 513, 16_000, 512 * 1_030 + 7])
def test_every_frame_gets_a_probability(tmp_path: Path, length: int) -> None:
    detector = SpeechDetector(tiny_model(tmp_path))
    samples = np.full(length, 0.5, np.float32)
    probs = detector.probabilities(samples)
    assert probs.shape == (-(-length // FRAME),)
    assert probs.dtype == np.float32
    if length >= FRAME:
        assert probs[: length // FRAME].min() > 0.99  # whole frames: loud everywhere
    assert detector.detect(samples) == ([(0.0, length / RATE)] if length > 4_000 else [])


def test_the_state_is_handed_from_call_to_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vad, "BLOCK_FRAMES", 10)
    detector = SpeechDetector(tiny_model(tmp_path, "state"))
    probs = detector.probabilities(np.zeros(FRAME * 35, np.float32))
    # Each call adds 1 to h and 2 to c: the k-th call sees 3k.
    expected = np.repeat(np.arange(4) * 3.0, 10)[:35]
    np.testing.assert_array_equal(probs, expected)


def test_each_frame_is_prefixed_with_the_end_of_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vad, "BLOCK_FRAMES", 7)  # across calls too
    detector = SpeechDetector(tiny_model(tmp_path, "context"))
    samples = np.random.default_rng(1).uniform(-1, 1, FRAME * 20 + 100).astype(np.float32)
    probs = detector.probabilities(samples)
    assert probs[0] == 0.0  # the first frame's context is silence
    for index in range(1, probs.size):
        context = samples[index * FRAME - CONTEXT : index * FRAME]
        assert probs[index] == pytest.approx(float(context.mean()), abs=1e-6)


def test_a_model_with_other_inputs_is_refused(tmp_path: Path) -> None:
    streaming = tiny_model(tmp_path, names=("input", "state", "sr_like"))
    with pytest.raises(StartupError, match="sequence export"):
        SpeechDetector(streaming)


def test_a_missing_packaged_model_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vad, "MODEL_FILE", "not-there.onnx")
    with pytest.raises(StartupError, match="make install"):
        packaged_model()


def test_the_detector_takes_mono_only(tmp_path: Path) -> None:
    detector = SpeechDetector(tiny_model(tmp_path))
    with pytest.raises(ValueError, match="mono"):
        detector.probabilities(np.zeros((2, 1_000), np.float32))


# --- From probabilities to segments -------------------------------------------------------


def probs_of(*runs: tuple[float, int]) -> npt.NDArray[np.float32]:
    """Frame probabilities: (value, frames) runs."""
    return np.concatenate([np.full(n, value, np.float32) for value, n in runs])


def segments(*runs: tuple[float, int], **kw: float) -> list[tuple[float, float]]:
    probs = probs_of(*runs)
    return speech_segments(probs, probs.size * FRAME, **kw)


F = FRAME / RATE  # seconds a frame


def test_no_speech_no_segments() -> None:
    assert segments((0.0, 100)) == []
    assert segments((0.49, 100)) == []
    assert speech_segments(np.zeros(0, np.float32), 0) == []


def test_a_segment_is_padded_on_both_sides() -> None:
    found = segments((0.0, 50), (0.9, 40), (0.0, 50))
    assert found == [pytest.approx((50 * F - 0.05, 90 * F + 0.05), abs=1 / RATE)]


def test_speech_shorter_than_the_minimum_is_dropped() -> None:
    assert segments((0.0, 20), (0.9, 7), (0.0, 40)) == []  # 224 ms
    assert len(segments((0.0, 20), (0.9, 8), (0.0, 40))) == 1  # 256 ms


def test_a_pause_shorter_than_the_minimum_silence_does_not_end_speech() -> None:
    assert len(segments((0.9, 30), (0.0, 9), (0.9, 30), (0.0, 40))) == 1  # 288 ms pause
    assert len(segments((0.9, 30), (0.0, 11), (0.9, 30), (0.0, 40))) == 2  # 352 ms


def test_speech_ends_only_below_the_lower_threshold() -> None:
    # 0.4 is under the threshold (0.5) but over the lower one (0.35): speech goes on.
    assert len(segments((0.9, 30), (0.4, 30), (0.9, 30), (0.0, 40))) == 1
    found = segments((0.9, 30), (0.4, 30), (0.0, 40))
    assert found[0][1] == pytest.approx(60 * F + 0.05, abs=1 / RATE)


def test_close_segments_share_the_gap_between_them() -> None:
    # A 352 ms gap, under two pads of 200 ms: each side takes half of it.
    found = segments((0.0, 20), (0.9, 30), (0.0, 11), (0.9, 30), (0.0, 20), pad_s=0.2)
    assert len(found) == 2
    assert found[0][1] == pytest.approx(found[1][0], abs=1 / RATE)


def test_speech_running_to_the_end_ends_with_the_recording() -> None:
    found = speech_segments(probs_of((0.0, 10), (0.9, 30)), 40 * FRAME - 100)
    assert found[-1][1] == (40 * FRAME - 100) / RATE
    assert found[0][0] == pytest.approx(10 * F - 0.05, abs=1 / RATE)


def test_a_segment_at_the_start_is_not_padded_before_zero() -> None:
    assert segments((0.9, 30), (0.0, 40))[0][0] == 0.0


# --- The real model -----------------------------------------------------------------------


@pytest.fixture
def vad_model(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/vad_model.py, imported as `make install` runs it: from scripts/."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    return importlib.import_module("vad_model")


@pytest.fixture(scope="module")
def silero() -> SpeechDetector:
    try:
        return SpeechDetector()
    except StartupError as exc:  # an install without the model is a broken install
        pytest.fail(f"{exc}")


def covered(found: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] inside the found segments."""
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in found)


def test_the_packaged_model_is_the_pinned_release(
    silero: SpeechDetector, vad_model: ModuleType
) -> None:
    assert hashlib.sha256(packaged_model()).hexdigest() == vad_model.SHA256


def test_speech_like_sound_is_found_and_silences_are_not(silero: SpeechDetector) -> None:
    rng = np.random.default_rng(11)
    layout = [("hiss", 1.5), ("speech", 3.0), ("hiss", 2.0), ("speech", 4.0), ("hiss", 1.5)]
    pieces, truth, at = [], [], 0.0
    for index, (kind, seconds) in enumerate(layout):
        piece = (0.002 * rng.standard_normal(round(seconds * RATE))).astype(np.float32)
        if kind == "speech":
            piece += speech_like(seconds, seed=index)
            truth.append((at, at + seconds))
        pieces.append(piece)
        at += seconds
    found = silero.detect(np.concatenate(pieces))
    assert len(found) == 2, found
    for start, end in truth:
        assert covered(found, start, end) >= 0.9 * (end - start)
    # What lies outside speech, beyond the pad and a frame's slack, is not found.
    speech_and_pad = sum(e - s + 0.2 for s, e in truth)
    assert sum(e - s for s, e in found) <= speech_and_pad


@pytest.mark.parametrize(
    "kind", ["silence", "room hiss", "loud white noise", "a 440 Hz tone", "a chord"]
)
def test_what_is_not_speech_is_not_found(silero: SpeechDetector, kind: str) -> None:
    rng = np.random.default_rng(2)
    t = np.arange(5 * RATE) / RATE
    sound = {
        "silence": np.zeros_like(t),
        "room hiss": 0.002 * rng.standard_normal(t.size),
        "loud white noise": 0.3 * rng.standard_normal(t.size),
        "a 440 Hz tone": 0.5 * np.sin(2 * np.pi * 440 * t),
        "a chord": sum(0.2 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)),
    }[kind]
    assert silero.detect(np.asarray(sound, np.float32)) == []


def test_speech_like_sound_scores_high_and_silence_low(silero: SpeechDetector) -> None:
    probs = silero.probabilities(speech_like(4, seed=3))
    assert float(np.median(probs)) > 0.9
    assert float(silero.probabilities(np.zeros(4 * RATE, np.float32)).max()) < 0.1


def test_blocks_of_any_size_give_the_same_probabilities(
    silero: SpeechDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = speech_like(20, seed=4)
    whole = silero.probabilities(samples)
    monkeypatch.setattr(vad, "BLOCK_FRAMES", 37)
    np.testing.assert_allclose(silero.probabilities(samples), whole, atol=1e-5)


def test_one_detector_serves_several_threads(silero: SpeechDetector) -> None:
    recordings = [speech_like(6, seed=seed) for seed in range(4)]
    alone = [silero.detect(r) for r in recordings]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(silero.detect, recordings))
    assert together == alone


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="Debian's espeak-ng not installed")
def test_spoken_words_are_found(silero: SpeechDetector, tmp_path: Path) -> None:
    spoken = tmp_path / "spoken.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(spoken), "the quick brown fox jumps over the lazy dog"],
        check=True,
    )
    samples, rate = soundfile.read(spoken, dtype="float32")
    if rate != RATE:  # espeak-ng speaks at 22,050 Hz: a plain linear resampling is enough
        at = np.arange(round(samples.size * RATE / rate)) * rate / RATE
        samples = np.interp(at, np.arange(samples.size), samples).astype(np.float32)
    quiet = np.zeros(RATE, np.float32)
    found = silero.detect(np.concatenate([quiet, samples, quiet]))
    assert found
    assert covered(found, 1.0, 1.0 + samples.size / RATE) > 0.7 * samples.size / RATE


# --- Fetching the model -------------------------------------------------------------------


def fake_wheel(folder: Path, member: str, model: bytes) -> None:
    with zipfile.ZipFile(folder / "silero_vad-6.2.3-py3-none-any.whl", "w") as wheel:
        wheel.writestr(member, model)
        wheel.writestr("silero_vad/__init__.py", "import torch\n")


def test_the_script_takes_the_one_model_file_out_of_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vad_model: ModuleType
) -> None:
    model = b"an onnx model"
    calls: list[list[str]] = []

    def pip(command: list[str], check: bool) -> None:
        calls.append(command)
        fake_wheel(Path(command[command.index("-d") + 1]), vad_model.MEMBER, model)

    target = tmp_path / "models" / MODEL_FILE
    monkeypatch.setattr(subprocess, "run", pip)
    monkeypatch.setattr(vad_model, "TARGET", target)
    monkeypatch.setattr(vad_model, "ROOT", tmp_path)
    monkeypatch.setattr(vad_model, "SHA256", hashlib.sha256(model).hexdigest())
    vad_model.main()
    assert target.read_bytes() == model
    assert [c[1:4] for c in calls] == [["-m", "pip", "download"]]
    assert "--no-deps" in calls[0] and "silero-vad==6.2.3" in calls[0]  # never torch
    vad_model.main()  # there already: pip is not asked again
    assert len(calls) == 1


def test_the_script_refuses_a_model_that_is_not_the_pinned_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vad_model: ModuleType
) -> None:
    def pip(command: list[str], check: bool) -> None:
        fake_wheel(Path(command[command.index("-d") + 1]), vad_model.MEMBER, b"something else")

    target = tmp_path / MODEL_FILE
    monkeypatch.setattr(subprocess, "run", pip)
    monkeypatch.setattr(vad_model, "TARGET", target)
    with pytest.raises(SystemExit, match="sha256"):
        vad_model.main()
    assert not target.exists()


def test_the_model_file_is_the_sequence_export(
    silero: SpeechDetector, vad_model: ModuleType
) -> None:
    assert vad_model.MEMBER.endswith(MODEL_FILE)
    assert vad_model.TARGET.name == MODEL_FILE
    model = onnx.load_model_from_string(packaged_model())
    assert [i.name for i in model.graph.input] == ["input", "h", "c"]
    assert io.BytesIO(packaged_model()).getbuffer().nbytes > 1_000_000
