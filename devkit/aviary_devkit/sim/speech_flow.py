"""The whole backbone driven with speech: recorded conversations with known words.

A client pushes recordings (espeak-ng speech from known sentences, several voices as speakers,
silences, noise; WAV, FLAC, MP3, OGG and M4A in turn) into an audio project; simulated
transcribers take part tasks and start from the segments voice-activity detection proposed,
transcribing with a good person's errors (some first attempts careless on purpose); reviewers
compare each part's words with the truth and reject the careless ones, which come back as
rework; the delivery's NeMo manifest is checked against the truth (`speech_problems`) within
the word error rate review lets through.
"""

from __future__ import annotations

import asyncio
import json
import random
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aviary.client.config import Endpoints
from aviary.contracts.speech import Transcript
from aviary_devkit.media.speech import encode, render_recording
from aviary_devkit.sim.flow import Flow, FlowConfig, FlowResult, Progress
from aviary_devkit.sim.speech_checks import check_delivery, heard, speaker_mismatch, wer
from aviary_devkit.sim.speech_transcriber import in_part, transcribe

FORMATS = ("wav", "flac", "mp3", "ogg", "m4a")
CONTENT_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
}
# A part whose words differ from the truth more than this is rejected; the delivery is held to
# the same rate over each whole recording (a good transcriber makes about 6%).
REVIEW_MAX_WER = 0.2
SAMPLE_RATE = 44_100


@dataclass
class SpeechFlowConfig(FlowConfig):
    utterances: int = 8  # sentences a recording
    speakers: int = 3
    max_part_s: float = 20.0


class SpeechFlow(Flow):
    """Flow's onboarding, labeling loops and delivery, with recordings in place of images."""

    def __init__(
        self, endpoints: Endpoints, operator_key: str, config: SpeechFlowConfig, progress: Progress
    ) -> None:
        super().__init__(endpoints, operator_key, config, progress)
        self.speech_config = config
        self.truths: dict[str, Transcript] = {}  # item id -> what its recording says

    async def create_project(self) -> None:
        project = await self._ok(
            "POST",
            f"{self.ep.ingest}/v1/projects",
            self.client_token,
            json={
                "name": "Smart speaker conversations",
                "media": "audio",
                "instructions": (
                    "Transcribe every word as spoken, in lower case is fine; one segment per "
                    "utterance; name each speaker consistently (spk_a, spk_b, ...)."
                ),
                "audio": {
                    "max_part_s": self.speech_config.max_part_s,
                    "languages": ["en"],
                },
                "vendors": [{"vendor_id": v, "share": 0.5} for v in self.vendors],
                "review": {"mode": "all"},
                "reject_reasons": ["words wrong", "segment missing", "wrong speaker"],
                "delivery_formats": ["nemo", "rttm", "vtt", "srt"],
            },
        )
        self.project_id = project["id"]
        batch = await self._ok(
            "POST",
            f"{self.ep.ingest}/v1/projects/{self.project_id}/batches",
            self.client_token,
            json={"name": "conversations"},
        )
        self.batch_id = batch["id"]

    async def push(self) -> None:
        cfg = self.speech_config
        for n in range(cfg.images):
            fmt = FORMATS[n % len(FORMATS)]
            samples, truth = await asyncio.to_thread(
                render_recording,
                seed=cfg.seed * 1000 + n,
                speakers=cfg.speakers,
                utterances=cfg.utterances,
                sample_rate=SAMPLE_RATE,
                channels=1 + n % 2,
            )
            data = await asyncio.to_thread(encode, samples, SAMPLE_RATE, fmt)
            name = f"conversation_{n:03d}.{fmt}"
            item = await self.upload("recordings", data, name, CONTENT_TYPES[fmt])
            self.truths[item["id"]] = truth
            self.stats.uploaded += 1
            self.progress(
                f"[ingest]   recording {n + 1}/{cfg.images} ({fmt}): "
                f"{item['duration_s']:.1f} s, {item['clip_count']} parts"
            )
        await self._ok(
            "POST", f"{self.ep.ingest}/v1/batches/{self.batch_id}/seal", self.client_token
        )

    def work(self, task: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The part's transcript, from the proposed segments: a good transcriber's, or a
        careless one on a first attempt the seed picks."""
        rng = random.Random(f"{self.config.seed}:{task['id']}:{task['rework']}")
        wrong = task["rework"] == 0 and rng.random() < self.config.error_rate
        audio = task["audio"]
        proposed = Transcript.model_validate(task.get("pre_transcript") or {})
        transcript = transcribe(
            (audio["start"], audio["end"]),
            proposed,
            self.truths[task["item_id"]],
            "careless" if wrong else "good",
            seed=rng.randrange(2**31),
        )
        return {"transcript": transcript.model_dump(mode="json")}, wrong

    def judge(self, review: dict[str, Any]) -> dict[str, str] | None:
        """Reject a part whose words are too far from what was said, or that gives a speech
        segment the wrong speaker."""
        audio = review["audio"]
        truth = in_part(self.truths[review["item_id"]], audio["start"], audio["end"])
        transcript = review.get("transcript") or {}
        said = Transcript.model_validate(transcript)
        if wer(truth.text, said.text) > REVIEW_MAX_WER:
            return {"reason": "words wrong", "comment": "Listen again: many words differ."}
        segments = [heard(s) for s in transcript.get("segments", [])]
        # The reviewer knows the recording's voices by name from its other parts.
        if speaker_mismatch(truth, segments, rename=False) > 0:
            return {"reason": "wrong speaker", "comment": "Check who says each sentence."}
        return None


def delivered_segments(zip_path: Path) -> dict[str, list[dict[str, Any]]]:
    """The delivery's NeMo manifest lines, by item."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with zipfile.ZipFile(zip_path) as zf:
        for line in zf.read("nemo/manifest.jsonl").decode().splitlines():
            entry = json.loads(line)
            by_item[entry["item_id"]].append(entry)
    return dict(by_item)


def speech_problems(zip_path: Path, truths: dict[str, Transcript]) -> list[str]:
    """Each recording's delivered words against what was said."""
    return check_delivery(truths, delivered_segments(zip_path), REVIEW_MAX_WER)


async def run_speech_flow(
    endpoints: Endpoints, operator_key: str, config: SpeechFlowConfig, progress: Progress = print
) -> tuple[FlowResult, dict[str, Transcript]]:
    flow = SpeechFlow(endpoints, operator_key, config, progress)
    try:
        return await flow.run(), flow.truths
    finally:
        await flow.close()
