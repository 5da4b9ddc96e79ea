"""The SDK's calls to assist: installing ONNX models, listing them, outlining an object."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aviary.client.answers import read_answer
from aviary.client.transport import Transport
from aviary.contracts.assist import Click, ModelManifest, ModelRead, SegmentRequest, SegmentResult


class AssistCalls(Transport):
    async def upload_model(
        self, manifest: ModelManifest | Mapping[str, Any], files: Mapping[str, bytes | Path]
    ) -> ModelRead:
        """Install an ONNX model (operator): `files` maps each role to its bytes or path,
        `model` for a detect or segment model, `encoder` and `decoder` for a promptable
        segmenter. Each upload of a name is its next version (docs/assist.md)."""
        spec = (
            manifest
            if isinstance(manifest, ModelManifest)
            else ModelManifest.model_validate(manifest)
        )
        parts = []
        for role, source in files.items():
            data = (
                await asyncio.to_thread(source.read_bytes) if isinstance(source, Path) else source
            )
            name = source.name if isinstance(source, Path) else f"{role}.onnx"
            parts.append((role, (name, data, "application/octet-stream")))
        data_json = await self._json(
            "POST",
            "assist",
            "/v1/models",
            data={"manifest": spec.model_dump_json()},
            files=parts,
        )
        return read_answer(ModelRead, data_json)

    async def models(self) -> list[ModelRead]:
        """The latest version of every installed model."""
        return [read_answer(ModelRead, m) for m in await self._json("GET", "assist", "/v1/models")]

    async def model_versions(self, name: str) -> list[ModelRead]:
        """Every version of one model, newest first."""
        return [
            read_answer(ModelRead, m)
            for m in await self._json("GET", "assist", f"/v1/models/{name}")
        ]

    async def segment(
        self,
        item_id: str,
        box: tuple[float, float, float, float] | None = None,
        clicks: Sequence[Click | tuple[float, float, bool]] = (),
        model: str | None = None,
        frame: int = 0,
    ) -> SegmentResult:
        """The outline of the object in `box` (left, top, width, height) or under the
        `clicks` ((x, y, positive) each): a polygon, the mask as COCO RLE, its box and score."""
        body = SegmentRequest(
            item_id=item_id,
            box=box,
            clicks=[
                c if isinstance(c, Click) else Click(x=c[0], y=c[1], positive=c[2]) for c in clicks
            ],
            model=model,
            frame=frame,
        )
        data = await self._json(
            "POST", "assist", "/v1/assist/segment", json=body.model_dump(mode="json")
        )
        return read_answer(SegmentResult, data)
