"""Speech through all four services as processes, driven by the simulation: conversations
spoken by espeak-ng in several formats, part tasks transcribed by simulated people from the
segments voice-activity detection proposed (some careless on purpose and sent back by
review), and a delivery whose words match what was said."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from aviary_devkit.processes import ServiceSet
from aviary_devkit.sim.speech_flow import SpeechFlowConfig, run_speech_flow, speech_problems
from tests.e2e.test_slice import endpoints

pytestmark = pytest.mark.e2e


async def test_spoken_conversations_end_in_transcripts_that_match_what_was_said(
    services: ServiceSet, tmp_path: Path
) -> None:
    config = SpeechFlowConfig(
        images=2, utterances=6, error_rate=1.0, seed=2, deliveries_dir=tmp_path, timeout_s=180
    )
    key = services.settings.operator_key.get_secret_value()
    result, truths = await run_speech_flow(endpoints(services), key, config, lambda _: None)
    assert speech_problems(result.zip_path, truths) == []
    # Every first attempt is careless (so the count does not hang on chance) and is rejected;
    # so is a good one that gave a sentence to the wrong speaker.
    assert result.stats.rejected >= result.stats.wrong_submissions >= 1
    assert result.stats.submissions == result.stats.accepted + result.stats.rejected

    # The check finds a recording whose words were swapped for others.
    with zipfile.ZipFile(result.zip_path) as zf:
        lines = [json.loads(x) for x in zf.read("nemo/manifest.jsonl").decode().splitlines()]
    for line in lines:
        line["text"] = "nothing of the kind was said here"
    spoiled = tmp_path / "spoiled.zip"
    with zipfile.ZipFile(spoiled, "w") as zf:
        zf.writestr("nemo/manifest.jsonl", "\n".join(json.dumps(x) for x in lines))
    assert any("word error rate" in p for p in speech_problems(spoiled, truths))
