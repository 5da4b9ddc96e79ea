"""The whole backbone driven with video: robot-vacuum floor scenes and dashboard-camera street
scenes, in turn, with known tracks.

A client pushes rendered videos into a video project; simulated annotators take clip tasks
and keyframe each object every few frames (the frames between are interpolated), some clips
wrong on purpose (an object left out, or a track shifted); reviewers compare each clip's
tracks with the truth and reject the wrong ones, which come back as rework; the delivery's MOT
tracks, stitched across clips, are checked against the truth (`mot_problems`).
"""

from __future__ import annotations

import asyncio
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aviary.client.config import Endpoints
from aviary.contracts.tracks import Track
from aviary_devkit.media.video import encode
from aviary_devkit.sim.flow import Flow, FlowConfig, FlowResult, Progress
from aviary_devkit.sim.video_scenes import Box, Scene, floor_scene, street_scene
from shared.domain.tracks import box_iou, frames_of

LABELS = ("foot", "table leg", "car", "pedestrian", "cyclist")
SCENES = (("floor", floor_scene), ("street", street_scene))
CLASS_IDS = {name: i + 1 for i, name in enumerate(LABELS)}
FPS = 25
DRAW_NOISE_PX = 0.8
# A clip's track and the truth agree when their boxes' mean IoU over the clip is this high.
REVIEW_IOU = 0.7
# The delivery's track and the truth agree when their mean IoU over the video is this high.
DELIVERY_IOU = 0.7


@dataclass
class VideoFlowConfig(FlowConfig):
    frames: int = 150  # per video
    clip_frames: int = 60
    clip_overlap: int = 6
    key_every: int = 5  # how often the simulated annotator places a keyframe


def present(truth: list[Box | None], start: int, stop: int) -> list[int]:
    return [f for f in range(start, stop) if truth[f] is not None]


def clip_tracks(
    scene: Scene, start: int, stop: int, config: VideoFlowConfig, rng: random.Random, wrong: bool
) -> list[dict[str, Any]]:
    """The tracks a simulated annotator draws in frames start..stop-1: each object keyframed
    every `key_every` frames and at its last frame, drawn with a little noise."""
    tracks: list[dict[str, Any]] = []
    for n, (truth, label) in enumerate(zip(scene.truth, scene.labels, strict=True)):
        frames = present(truth, start, stop)
        if not frames:
            continue
        keys = sorted({*frames[:: config.key_every], frames[-1]})
        keyframes: list[dict[str, Any]] = []
        for f in keys:
            box = truth[f]
            assert box is not None
            x, y, w, h = (v + rng.gauss(0, DRAW_NOISE_PX) for v in box)
            x, y = max(0.0, x), max(0.0, y)
            w, h = min(w, scene.width - x), min(h, scene.height - y)
            keyframes.append(
                {
                    "frame": f,
                    "shape": {"kind": "bbox", "class_id": CLASS_IDS[label], "bbox": [x, y, w, h]},
                }
            )
        tracks.append({"track_id": f"obj{n}", "keyframes": keyframes})
    if wrong and tracks:
        if len(tracks) > 1 and rng.random() < 0.5:
            return tracks[1:]  # an object left out
        for key in tracks[0]["keyframes"]:  # a track drawn half a box to the side
            x, y, w, h = key["shape"]["bbox"]
            key["shape"]["bbox"] = [min(x + w / 2, scene.width - w), y, w, h]
    return tracks


def mean_iou(boxes: dict[int, Box], truth: list[Box | None], frames: list[int]) -> float:
    if not frames:
        return 0.0
    return sum(box_iou(boxes.get(f), truth[f]) for f in frames) / len(frames)


def objects_in(scene: Scene, start: int, stop: int) -> int:
    return sum(1 for truth in scene.truth if present(truth, start, stop))


def clip_matches(tracks: list[dict[str, Any]], scene: Scene, start: int, stop: int) -> bool:
    """Every object of the clip has a track close to it, and there is no track besides."""
    drawn = []
    for t in tracks:
        track = Track.model_validate(t)
        drawn.append({f.frame: f.shape.bbox for f in frames_of(track, start, stop)})  # type: ignore[union-attr]
    objects = [n for n, truth in enumerate(scene.truth) if present(truth, start, stop)]
    if len(drawn) != len(objects):
        return False
    return all(
        max(mean_iou(d, scene.truth[n], present(scene.truth[n], start, stop)) for d in drawn)
        >= REVIEW_IOU
        for n in objects
    )


class VideoFlow(Flow):
    """Flow's onboarding, labeling loops and delivery, with video in place of images."""

    def __init__(
        self, endpoints: Endpoints, operator_key: str, config: VideoFlowConfig, progress: Progress
    ) -> None:
        super().__init__(endpoints, operator_key, config, progress)
        self.video_config = config
        self.scenes: dict[str, Scene] = {}  # item id -> the scene its video shows

    async def create_project(self) -> None:
        cfg = self.video_config
        project = await self._ok(
            "POST",
            f"{self.ep.ingest}/v1/projects",
            self.client_token,
            json={
                "name": "Floor and street footage",
                "ontology": {"classes": [{"id": i, "name": n} for n, i in CLASS_IDS.items()]},
                "instructions": (
                    "Follow every foot, table leg, car, pedestrian and cyclist; keyframe each "
                    "where it turns."
                ),
                "vendors": [{"vendor_id": v, "share": 0.5} for v in self.vendors],
                "review": {"mode": "all"},
                "reject_reasons": ["missing object", "track off the object"],
                "media": "video",
                "video": {"clip_frames": cfg.clip_frames, "clip_overlap": cfg.clip_overlap},
                "delivery_formats": ["mot", "cvat", "coco"],
            },
        )
        self.project_id = project["id"]
        batch = await self._ok(
            "POST",
            f"{self.ep.ingest}/v1/projects/{self.project_id}/batches",
            self.client_token,
            json={"name": "floor and street videos"},
        )
        self.batch_id = batch["id"]

    async def push(self) -> None:
        cfg = self.video_config
        for n in range(cfg.images):
            kind, make = SCENES[n % len(SCENES)]
            scene = await asyncio.to_thread(make, cfg.frames, 640, 360, cfg.seed * 1000 + n)
            data = await asyncio.to_thread(
                encode, scene.frames, scene.width, scene.height, FPS, "mp4", False, "bgr24"
            )
            item = await self.upload("videos", data, f"{kind}_{n:03d}.mp4", "video/mp4")
            self.scenes[item["id"]] = scene
            self.stats.uploaded += 1
            self.progress(
                f"[ingest]   {kind} video {n + 1}/{cfg.images}: {item['frame_count']} frames, "
                f"{item['clip_count']} clips"
            )
        await self._ok(
            "POST", f"{self.ep.ingest}/v1/batches/{self.batch_id}/seal", self.client_token
        )

    def work(self, task: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The clip's tracks, keyframed every few frames (wrong on a first attempt the seed
        picks)."""
        scene, clip = self.scenes[task["item_id"]], task["video"]["clip"]
        rng = random.Random(f"{self.config.seed}:{task['id']}:{task['rework']}")
        wrong = task["rework"] == 0 and rng.random() < self.config.error_rate
        tracks = clip_tracks(scene, clip["start"], clip["stop"], self.video_config, rng, wrong)
        return {"tracks": {"tracks": tracks}}, wrong

    def judge(self, review: dict[str, Any]) -> dict[str, str] | None:
        """Reject a clip whose tracks miss an object or drift off one."""
        scene, clip = self.scenes[review["item_id"]], review["clip"]
        tracks = (review.get("tracks") or {}).get("tracks", [])
        if clip_matches(tracks, scene, clip["start"], clip["stop"]):
            return None
        missing = len(tracks) < objects_in(scene, clip["start"], clip["stop"])
        return {
            "reason": "missing object" if missing else "track off the object",
            "comment": "Follow every object through the whole clip.",
        }


def mot_problems(zip_path: Path, scenes: dict[str, Scene]) -> list[str]:
    """Each video's MOT sequence against the truth: one track per object, no more, each close
    to its object over the whole video."""
    problems = []
    with zipfile.ZipFile(zip_path) as zf:
        for item_id, scene in scenes.items():
            name = f"mot/{item_id}/gt/gt.txt"
            if name not in zf.namelist():
                problems.append(f"{item_id}: no MOT sequence in the delivery")
                continue
            tracks: dict[int, dict[int, Box]] = {}
            for line in zf.read(name).decode().splitlines():
                f, t, x, y, w, h = line.split(",")[:6]
                tracks.setdefault(int(t), {})[int(f) - 1] = (float(x), float(y), float(w), float(h))
            if len(tracks) != len(scene.truth):
                problems.append(
                    f"{item_id}: {len(tracks)} tracks for {len(scene.truth)} objects "
                    "(a track broken at a clip boundary, or one missing)"
                )
            for n, truth in enumerate(scene.truth):
                frames = present(truth, 0, len(truth))
                best = max((mean_iou(b, truth, frames) for b in tracks.values()), default=0.0)
                if best < DELIVERY_IOU:
                    problems.append(
                        f"{item_id}: object {n} ({scene.labels[n]}) is followed at a mean IoU "
                        f"of {best:.2f} at best"
                    )
    return problems


async def run_video_flow(
    endpoints: Endpoints, operator_key: str, config: VideoFlowConfig, progress: Progress = print
) -> tuple[FlowResult, dict[str, Scene]]:
    flow = VideoFlow(endpoints, operator_key, config, progress)
    try:
        return await flow.run(), flow.scenes
    finally:
        await flow.close()
