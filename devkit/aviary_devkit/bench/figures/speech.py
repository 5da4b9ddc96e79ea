"""`speech`: how fast recordings go in, how fast parts are agreed on, how fast deliveries go out.

`speech_ingest_realtime_factor`: seconds of audio ingested per second of wall time, as a client
sees it: a 10-minute 44.1 kHz stereo WAV of speech-like sound between pauses
(`speech_ingest_bench.write_recording`) sent as the body of `POST /v1/batches/{id}/recordings`
to one ingest process, timed until its 201 answer. In that time ingest receives the body to
disk, decodes and normalises it to 16 kHz mono, computes the waveform peaks, runs voice-activity
detection, encodes the listening copy and the waveform picture, plans the parts, stores all of
it in SeaweedFS and records the item with its event. Goal: 100 or more.
`speech_ingest_mp3_realtime_factor` is the same for the recording as a 128 kbit/s MP3 (the
decoding costs more, the body is 11 times smaller).

`speech_consensus_ms` (`speech_consensus_bench.py`): review's word-error-rate consensus of three
transcripts of a 30 s part, in process. Goal: 5 ms or less.

`speech_export_10h_s` (`speech_export_bench.py`): a delivery of 10 hours of segments in NeMo,
RTTM and WebVTT without audio, in a process of its own. Goal: 10 s or less.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from aviary_devkit.bench import speech_consensus_bench
from aviary_devkit.bench.figures.setups import Figures, ingest_alone, new_batch
from aviary_devkit.bench.speech_ingest_bench import write_recording
from aviary_devkit.processes import isolated_settings

RECORDING_S = 600.0
MAX_PART_S = 60.0


def bench_speech(runs: int) -> Figures:
    settings = isolated_settings()
    wav: list[float] = []
    mp3: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="aviary-speech-bench-") as folder,
        ingest_alone(settings) as (_, base, token, _project),
    ):
        project = _audio_project(base, token)
        # The first upload warms the model session and the storage connections.
        for run in range(runs + 1):
            for kind, factors in (("wav", wav), ("mp3", mp3)):
                path = Path(folder) / f"talk{run}.{kind}"
                write_recording(path, RECORDING_S, seed=run, mp3=kind == "mp3")
                factor = _upload(base, token, new_batch(base, token, project), path)
                path.unlink()
                print(f"  {kind} run {run}: {factor:.0f}x real time", flush=True)
                if run:
                    factors.append(factor)
    consensus = speech_consensus_bench.measure()["speech_consensus_ms"]
    exports = [_export_once() for _ in range(runs)]
    print(f"  consensus {consensus:.2f} ms; exports {', '.join(f'{e:.2f}' for e in exports)} s")
    return {
        "speech_ingest_realtime_factor": round(statistics.median(wav), 1),
        "speech_ingest_mp3_realtime_factor": round(statistics.median(mp3), 1),
        "speech_consensus_ms": round(consensus, 2),
        "speech_export_10h_s": round(statistics.median(exports), 2),
    }


def _audio_project(base: str, token: str) -> str:
    """An audio project beside the tenant's image project, shared with the same vendor."""
    with httpx.Client(base_url=base, timeout=30) as http:
        existing = http.get("/v1/projects", headers={"Authorization": f"Bearer {token}"})
        existing.raise_for_status()
        answer = http.post(
            "/v1/projects",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "name": "speech bench",
                "media": "audio",
                "audio": {"max_part_s": MAX_PART_S},
                "vendors": existing.json()[0]["vendors"],
            },
        )
        if answer.status_code != 201:
            raise RuntimeError(f"project refused: {answer.status_code} {answer.text[:300]}")
        return str(answer.json()["id"])


def _upload(base: str, token: str, batch: str, path: Path) -> float:
    """Real-time factor of one upload: the recording's seconds over the request's."""
    with httpx.Client(base_url=base, timeout=600) as http, path.open("rb") as body:
        started = time.perf_counter()
        answer = http.post(
            f"/v1/batches/{batch}/recordings",
            params={"file_name": path.name},
            headers={"Authorization": f"Bearer {token}"},
            content=body,
        )
        elapsed = time.perf_counter() - started
    if answer.status_code != 201:
        raise RuntimeError(f"upload refused: {answer.status_code} {answer.text[:300]}")
    return float(answer.json()["duration_s"]) / elapsed


def _export_once() -> float:
    result = subprocess.run(
        [sys.executable, "-m", "aviary_devkit.bench.speech_export_bench", "--runs", "1"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(result.stdout)["speech_export_10h_s"])
