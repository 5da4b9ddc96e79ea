"""A speech delivery of 10 hours of transcribed segments, in NeMo, RTTM and WebVTT, without
audio: how long the writer (services/export/formats/speech.py) takes. Goal: 10 s or less.

The delivery: 20 recordings of 30 minutes, each 360 segments of about 5 s (7,200 in all) of
three speakers taking turns, with a sentence of about a dozen words each; the per-recording
segments file (always written) included. Making the segments is not counted.

    .venv/bin/python -m aviary_devkit.bench.speech_export_bench [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from aviary.contracts.speech import Segment
from services.export.formats.speech import SpeechItem, SpeechPackageWriter, SpeechSpec

RECORDINGS, SEGMENTS, RECORDING_S = 20, 360, 1800.0  # 20 x 360 = 7,200 segments, 10 hours
SPEAKERS = ("ana", "ben", "chloe")
_SPOKEN = (
    "the a we it is to and of that you this was for on are with they be at one have from or "
    "had by word but what some can out other were all there when up use your how said an each "
    "she which do their time if will way about many then them would write like so these her"
)
WORDS = tuple(_SPOKEN.split())


def items(seed: int = 0) -> list[SpeechItem]:
    rng = random.Random(seed)
    step = RECORDING_S / SEGMENTS
    out = []
    for r in range(RECORDINGS):
        segments = tuple(
            Segment(
                segment_id=f"s{n}",
                start=round(n * step + rng.uniform(0, 0.2), 3),
                end=round((n + 1) * step - rng.uniform(0, 0.2), 3),
                text=" ".join(rng.choices(WORDS, k=rng.randint(8, 16))).capitalize() + ".",
                speaker=SPEAKERS[n % 3],
                language="en",
            )
            for n in range(SEGMENTS)
        )
        out.append(SpeechItem(f"itm_rec{r:04d}", f"call-{r}.wav", RECORDING_S, segments))
    return out


def write_once(recordings: list[SpeechItem]) -> float:
    spec = SpeechSpec("dlv_bench", "prj_bench", "bat_bench", ("nemo", "rttm", "vtt"))
    with tempfile.TemporaryDirectory(prefix="aviary-speech-export-bench-") as folder:
        started = time.perf_counter()
        with SpeechPackageWriter(Path(folder) / "delivery.zip", Path(folder), spec) as writer:
            for item in recordings:
                writer.add(item)
            summary = writer.close()
        elapsed = time.perf_counter() - started
    assert summary.annotations == RECORDINGS * SEGMENTS, summary.annotations
    return elapsed


def measure(runs: int = 3) -> dict[str, float]:
    """`speech_export_10h_s`: the median of `runs` writes of the package, in seconds."""
    recordings = items()
    times = [write_once(recordings) for _ in range(runs)]
    return {
        "speech_export_10h_s": statistics.median(times),
        "speech_export_segments": float(RECORDINGS * SEGMENTS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="writes to take the median of")
    args = parser.parse_args()
    print(json.dumps({k: round(v, 3) for k, v in measure(args.runs).items()}, indent=2))


if __name__ == "__main__":
    main()
