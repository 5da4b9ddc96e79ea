"""`aviary-sim`: the whole backbone driven by simulated people (`make demo`).

Onboards a client and two vendors, pushes generated street scenes with known boxes (or, with
`--media video`, rendered floor videos with known tracks; with `--media speech`, spoken
conversations with known words), lets simulated annotators (right or wrong on purpose) and
reviewers work, waits for the delivery, downloads it and checks every box (every track, every
recording's words) against the truth.
"""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from aviary.cli.common import Context, make_context
from aviary_devkit.sim.assist_flow import OUTLINE_IOU, outline_problems, run_assist_flow
from aviary_devkit.sim.assist_person import ActionCosts, Tally
from aviary_devkit.sim.checks import coco_problems
from aviary_devkit.sim.flow import FlowConfig, FlowResult, run_flow
from aviary_devkit.sim.speech_flow import (
    REVIEW_MAX_WER,
    SpeechFlowConfig,
    run_speech_flow,
    speech_problems,
)
from aviary_devkit.sim.video_flow import VideoFlowConfig, mot_problems, run_video_flow
from shared.settings import get_settings

# Exit code when the delivery differs from the truth (the CLI's own codes end at 5).
PROBLEMS = 6


def report(result: FlowResult, problems: list[str]) -> str:
    s = result.stats
    folders = Counter(f["path"].split("/")[0] for f in result.manifest["files"])
    listed = ", ".join(f"{name}/ ({n} files)" for name, n in sorted(folders.items()))
    counts = result.manifest["counts"]
    lines = [
        "",
        "=== delivery ===",
        f"zip:         {result.zip_path.resolve()}",
        f"delivery id: {result.delivery_id}   project: {result.project_id}"
        f"   batch: {result.batch_id}",
        f"contents:    {listed}, manifest.json",
        f"             {counts['images']} images, {counts['annotations']} shapes,"
        " checksums verified",
        "",
        "=== what happened ===",
        f"pushed {s.uploaded} images; {s.submissions} submissions ({s.wrong_submissions} wrong"
        f" on purpose); {s.rejected} rejected and reworked; {s.accepted} accepted by review",
        *(f"  {stage:<22} {seconds:7.1f} s" for stage, seconds in s.stage_seconds.items()),
        f"  {'total':<22} {result.seconds:7.1f} s",
    ]
    if problems:
        lines += ["", "PROBLEMS:", *(f"  {p}" for p in problems[:20])]
    else:
        lines += ["", "pycocotools loaded the COCO file; every box matches the truth."]
    return "\n".join(lines)


def progress_of(context: Context) -> Callable[[str], None]:
    """Progress lines for people (`[stage] ...`, printed as written), none with --json."""
    if context.json:
        return lambda _: None
    return lambda line: context.console.print(line, markup=False)


def simulate(
    images: Annotated[
        int, typer.Option(min=1, max=100_000, help="Street scenes (or videos) to push.")
    ] = 50,
    media: Annotated[
        str,
        typer.Option(
            help="image: street scenes; video: floor videos with tracks; speech: spoken "
            "conversations with transcripts."
        ),
    ] = "image",
    frames: Annotated[int, typer.Option(min=10, max=10_000, help="Frames a video.")] = 150,
    accuracy: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of first attempts that are right.")
    ] = 0.8,
    annotators: Annotated[int, typer.Option(min=1, max=100, help="Annotators per vendor.")] = 2,
    think_ms: Annotated[int, typer.Option(min=0, help="Time an annotator spends per task.")] = 0,
    seed: Annotated[int, typer.Option(help="Scenes and mistakes are fixed by the seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Where the delivery zip is saved.")] = Path(
        "var/deliveries"
    ),
    timeout_s: Annotated[float, typer.Option(min=1)] = 1800,
    assist: Annotated[
        bool,
        typer.Option(
            "--assist",
            help="Images: outline objects with help from the assist service (polygons).",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    token: Annotated[
        str | None, typer.Option(help="Operator key (default: $AVIARY_OPERATOR_KEY).")
    ] = None,
) -> None:
    """Run the whole backbone end to end with simulated people, and check the delivery.

    Needs the operator key (AVIARY_OPERATOR_KEY, or --token) to create the organisations;
    the services' URLs come from AVIARY_INGEST_URL and its siblings.
    """
    context: Context = make_context(json_output, token, None, None, None, None)
    key = context.token or get_settings().operator_key.get_secret_value()
    if media == "video":
        return simulate_video(
            context, key, images, frames, accuracy, annotators, seed, out, timeout_s
        )
    if media == "speech":
        return simulate_speech(context, key, images, accuracy, annotators, seed, out, timeout_s)
    if media != "image":
        raise typer.BadParameter("--media is image, video or speech")
    if assist:
        return simulate_assist(context, key, images, accuracy, annotators, seed, out, timeout_s)
    config = FlowConfig(
        images=images,
        error_rate=1 - accuracy,
        seed=seed,
        annotators_per_vendor=annotators,
        think_s=think_ms / 1000,
        deliveries_dir=out,
        timeout_s=timeout_s,
    )
    if not context.json:
        context.console.print(
            f"Aviary simulation: {images} street scenes, 2 vendors x {annotators} annotators "
            f"+ 1 reviewer each, {1 - accuracy:.0%} of first attempts wrong on purpose\n"
        )
    progress = progress_of(context)
    result = asyncio.run(run_flow(context.endpoints, key, config, progress=progress))
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(result.zip_path) as zf:
        problems = coco_problems(result, Path(zf.extract("coco/annotations.json", tmp)))
    summary: dict[str, Any] = {
        "delivery_id": result.delivery_id,
        "project_id": result.project_id,
        "batch_id": result.batch_id,
        "zip": str(result.zip_path),
        "seconds": result.seconds,
        "stats": vars(result.stats),
        "counts": result.manifest["counts"],
        "problems": problems,
    }
    context.emit(summary, report(result, problems))
    if problems:
        raise typer.Exit(PROBLEMS)


def simulate_video(
    context: Context,
    key: str,
    videos: int,
    frames: int,
    accuracy: float,
    annotators: int,
    seed: int,
    out: Path,
    timeout_s: float,
) -> None:
    config = VideoFlowConfig(
        images=videos,
        frames=frames,
        error_rate=1 - accuracy,
        seed=seed,
        annotators_per_vendor=annotators,
        deliveries_dir=out,
        timeout_s=timeout_s,
    )
    if not context.json:
        context.console.print(
            f"Aviary simulation: {videos} floor videos of {frames} frames, clips of "
            f"{config.clip_frames}, 2 vendors x {annotators} annotators + 1 reviewer each, "
            f"{1 - accuracy:.0%} of first attempts wrong on purpose\n"
        )
    progress = progress_of(context)
    result, scenes = asyncio.run(run_video_flow(context.endpoints, key, config, progress))
    problems = mot_problems(result.zip_path, scenes)
    s, counts = result.stats, result.manifest["counts"]
    conclude(
        context,
        result,
        problems,
        contents=f"{counts['videos']} videos, {counts['tracks']} tracks, "
        f"{counts['boxes']} frame boxes in MOT, CVAT and COCO",
        happened=f"pushed {s.uploaded} videos; {s.submissions} clip submissions "
        f"({s.wrong_submissions} wrong on purpose)",
        good="every object is one track in the delivery, close to the truth in every frame.",
    )


def simulate_speech(
    context: Context,
    key: str,
    recordings: int,
    accuracy: float,
    annotators: int,
    seed: int,
    out: Path,
    timeout_s: float,
) -> None:
    config = SpeechFlowConfig(
        images=recordings,
        error_rate=1 - accuracy,
        seed=seed,
        annotators_per_vendor=annotators,
        deliveries_dir=out,
        timeout_s=timeout_s,
    )
    if not context.json:
        context.console.print(
            f"Aviary simulation: {recordings} spoken conversations of {config.utterances} "
            f"sentences by {config.speakers} voices, parts of at most {config.max_part_s:g} s, "
            f"2 vendors x {annotators} transcribers + 1 reviewer each, {1 - accuracy:.0%} of "
            "first attempts careless on purpose\n"
        )
    progress = progress_of(context)
    result, truths = asyncio.run(run_speech_flow(context.endpoints, key, config, progress))
    problems = speech_problems(result.zip_path, truths)
    s, counts = result.stats, result.manifest["counts"]
    conclude(
        context,
        result,
        problems,
        contents=f"{counts['recordings']} recordings, {counts['audio_seconds']:.1f} s of audio, "
        f"{counts['segments']} segments ({counts['transcribed_segments']} transcribed) in NeMo, "
        "RTTM, WebVTT and SRT",
        happened=f"pushed {s.uploaded} recordings; {s.submissions} part submissions "
        f"({s.wrong_submissions} careless on purpose)",
        good="every recording's words match what was said within "
        f"{REVIEW_MAX_WER:.0%} word error rate, speakers included.",
    )


def simulate_assist(
    context: Context,
    key: str,
    images: int,
    accuracy: float,
    annotators: int,
    seed: int,
    out: Path,
    timeout_s: float,
) -> None:
    config = FlowConfig(
        images=images,
        error_rate=1 - accuracy,
        seed=seed,
        annotators_per_vendor=annotators,
        deliveries_dir=out,
        timeout_s=timeout_s,
    )
    if not context.json:
        context.console.print(
            f"Aviary simulation with help: {images} street scenes outlined through assist, "
            f"2 vendors x {annotators} annotators + 1 reviewer each, {1 - accuracy:.0%} of "
            "first attempts missing an object on purpose\n"
        )
    progress = progress_of(context)
    result, helped = asyncio.run(run_assist_flow(context.endpoints, key, config, progress))
    problems = outline_problems(result)
    tally = Tally(helped.outlined)
    s, costs, counts = result.stats, ActionCosts(), result.manifest["counts"]
    conclude(
        context,
        result,
        problems,
        contents=f"{counts['images']} images, {counts['annotations']} outlines in COCO and JSONL",
        happened=f"pushed {s.uploaded} images; {s.submissions} submissions "
        f"({s.wrong_submissions} wrong on purpose); {len(tally.objects)} objects outlined with "
        f"{sum(o.clicks for o in tally.objects)} corrective clicks, "
        f"{sum(o.by_hand for o in tally.objects)} drawn by hand after all: "
        f"{tally.ratio(costs):.1f}x less of a person's time than drawing every polygon",
        good=f"every object's delivered outline covers its true mask (IoU >= {OUTLINE_IOU}).",
    )


def conclude(
    context: Context,
    result: FlowResult,
    problems: list[str],
    contents: str,
    happened: str,
    good: str,
) -> None:
    """Print (or emit as JSON) what the delivery holds, what happened and what is wrong with
    it; exit PROBLEMS when anything is."""
    s = result.stats
    summary: dict[str, Any] = {
        "delivery_id": result.delivery_id,
        "zip": str(result.zip_path),
        "seconds": result.seconds,
        "stats": vars(s),
        "counts": result.manifest["counts"],
        "problems": problems,
    }
    text = "\n".join(
        [
            "",
            "=== delivery ===",
            f"zip:      {result.zip_path.resolve()}",
            f"contents: {contents}; checksums verified",
            "",
            "=== what happened ===",
            f"{happened}; {s.rejected} rejected and reworked; {s.accepted} accepted by review; "
            f"{result.seconds:.1f} s in all",
            "",
            *(["PROBLEMS:", *(f"  {p}" for p in problems[:20])] if problems else [good]),
        ]
    )
    context.emit(summary, text)
    if problems:
        raise typer.Exit(PROBLEMS)


app = typer.Typer(name="aviary-sim", add_completion=False, pretty_exceptions_enable=False)
app.command()(simulate)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
