"""The asynchronous Python SDK: every API of the five services, over httpx (the plumbing
and its retries in transport.py; assist's and onboarding's calls in their own modules)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from aviary.client.answers import read_answer
from aviary.client.assist_calls import AssistCalls
from aviary.client.errors import AviaryError, DeletionTimeout
from aviary.client.onboarding_calls import OnboardingCalls
from aviary.client.packages import verify_package
from aviary.contracts.dispatch import DropResult, FlaggedTaskView, ReturnResult, SubmitResult
from aviary.contracts.export import DeliveryRead, WebhookRead
from aviary.contracts.ingest import (
    BatchRead,
    DeletionRead,
    ImportRead,
    ItemRead,
    OrgRead,
    ProjectRead,
    SequenceClose,
    SequenceFrameRead,
    TokenRead,
    UploadReport,
    VendorRead,
)
from aviary.contracts.personal import PersonalData
from aviary.contracts.shapes import Annotation


class AsyncClient(AssistCalls, OnboardingCalls):
    """One credential (a token, or the operator key) against one deployment."""

    # ----- operator ----------------------------------------------------------------------------

    async def create_org(self, name: str, kind: str) -> OrgRead:
        data = await self._json("POST", "ingest", "/v1/orgs", json={"name": name, "kind": kind})
        return read_answer(OrgRead, data)

    async def list_orgs(self) -> list[OrgRead]:
        return [read_answer(OrgRead, o) for o in await self._json("GET", "ingest", "/v1/orgs")]

    async def list_vendors(self) -> list[VendorRead]:
        """The vendors a client may name in its projects: ids and names."""
        data = await self._json("GET", "ingest", "/v1/vendors")
        return [read_answer(VendorRead, v) for v in data]

    async def issue_token(
        self, org_id: str, role: str, subject: str, ttl_s: int = 30 * 24 * 3600
    ) -> TokenRead:
        body = {"org_id": org_id, "role": role, "subject": subject, "ttl_s": ttl_s}
        return read_answer(TokenRead, await self._json("POST", "ingest", "/v1/tokens", json=body))

    # ----- projects and batches ----------------------------------------------------------------

    async def create_project(self, **fields: Any) -> ProjectRead:
        data = await self._json("POST", "ingest", "/v1/projects", json=fields)
        return read_answer(ProjectRead, data)

    async def update_project(self, project_id: str, **fields: Any) -> ProjectRead:
        data = await self._json("PUT", "ingest", f"/v1/projects/{project_id}", json=fields)
        return read_answer(ProjectRead, data)

    async def get_project(self, project_id: str) -> ProjectRead:
        return read_answer(
            ProjectRead, await self._json("GET", "ingest", f"/v1/projects/{project_id}")
        )

    async def list_projects(self) -> list[ProjectRead]:
        return [
            read_answer(ProjectRead, p) for p in await self._json("GET", "ingest", "/v1/projects")
        ]

    async def create_batch(self, project_id: str, name: str = "") -> BatchRead:
        data = await self._json(
            "POST", "ingest", f"/v1/projects/{project_id}/batches", json={"name": name}
        )
        return read_answer(BatchRead, data)

    async def list_batches(self, project_id: str) -> list[BatchRead]:
        return [
            read_answer(BatchRead, b)
            for b in await self._json("GET", "ingest", f"/v1/projects/{project_id}/batches")
        ]

    async def get_batch(self, batch_id: str) -> BatchRead:
        return read_answer(BatchRead, await self._json("GET", "ingest", f"/v1/batches/{batch_id}"))

    async def seal_batch(self, batch_id: str) -> BatchRead:
        return read_answer(
            BatchRead, await self._json("POST", "ingest", f"/v1/batches/{batch_id}/seal")
        )

    async def items(self, batch_id: str, page_size: int = 500) -> AsyncIterator[ItemRead]:
        """Every item of a batch, page by page."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if after:
                params["after"] = after
            page = await self._json("GET", "ingest", f"/v1/batches/{batch_id}/items", params=params)
            for item in page["items"]:
                yield read_answer(ItemRead, item)
            after = page["next_after"]
            if after is None:
                return

    # ----- uploads -----------------------------------------------------------------------------

    async def upload(
        self,
        batch_id: str,
        data: bytes,
        file_name: str = "",
        pre_annotation: Annotation | None = None,
    ) -> ItemRead:
        """One image as the request body; a duplicate comes back with `duplicate=True`."""
        headers = {"content-type": "application/octet-stream"}
        if pre_annotation is not None:
            headers["x-pre-annotation"] = pre_annotation.model_dump_json()
        data_json = await self._json(
            "POST",
            "ingest",
            f"/v1/batches/{batch_id}/items",
            content=data,
            params={"file_name": file_name},
            headers=headers,
        )
        return read_answer(ItemRead, data_json)

    async def check_import(
        self, project_id: str, fmt: str, data: bytes, mapping: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        """What another tool's file (a zip of the folder for yolo and voc) would become in the
        project: the report (`ok`, per label its class, refusals, what is left out)."""
        return dict(
            await self._json(
                "POST",
                "ingest",
                f"/v1/projects/{project_id}/imports/check",
                params={"format": fmt},
                content=data,
                headers=_mapping_header(mapping),
            )
        )

    async def import_annotations(
        self,
        batch_id: str,
        fmt: str,
        data: bytes,
        mapping: dict[str, str | None] | None = None,
        kind: str = "prelabels",
        checksums: Mapping[str, str] | None = None,
        item: str | None = None,
    ) -> dict[str, Any]:
        """Another tool's shapes for the batch's items already uploaded, as proposals on their
        open tasks, or (`kind="gold"`) as their known answers: all or nothing (422
        `import_refused`). An image matches the item uploaded under its file name or, where
        `checksums` gives its SHA-256 (hex), the item with that content. A CVAT for video
        file's tracks go to the video `item` (by default, the one the file names)."""
        body: dict[str, Any] = {"content": data}
        if checksums:
            listed = json.dumps(dict(checksums)).encode()
            body = {"files": [("file", ("annotations", data)), ("checksums", ("c.json", listed))]}
        return dict(
            await self._json(
                "POST",
                "ingest",
                f"/v1/batches/{batch_id}/imports/annotations",
                params={"format": fmt, "as": kind} | ({"item": item} if item else {}),
                headers=_mapping_header(mapping),
                **body,
            )
        )

    async def upload_files(self, batch_id: str, files: Sequence[tuple[str, bytes]]) -> UploadReport:
        """Many images in one multipart request; the report says what happened to each."""
        parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
        data = await self._json("POST", "ingest", f"/v1/batches/{batch_id}/items", files=parts)
        return read_answer(UploadReport, data)

    async def upload_paths(
        self, batch_id: str, paths: Sequence[Path], concurrency: int = 8
    ) -> list[ItemRead | AviaryError]:
        """Upload files concurrently, one request each; an outcome per path, in order."""
        limiter = asyncio.Semaphore(concurrency)

        async def one(path: Path) -> ItemRead | AviaryError:
            async with limiter:
                try:
                    data = await asyncio.to_thread(path.read_bytes)
                    return await self.upload(batch_id, data, path.name)
                except AviaryError as exc:
                    return exc

        return list(await asyncio.gather(*(one(p) for p in paths)))

    async def upload_video(
        self, batch_id: str, data: bytes, file_name: str, fps: float = 10.0
    ) -> ItemRead:
        """One video (MP4, WebM, Matroska) or a zip of frames (shown at `fps`) as one item of a
        video project's batch; a duplicate comes back with `duplicate=True`."""
        data_json = await self._json(
            "POST",
            "ingest",
            f"/v1/batches/{batch_id}/videos",
            content=data,
            params={"file_name": file_name, "fps": fps},
            headers={"content-type": "application/octet-stream"},
        )
        return read_answer(ItemRead, data_json)

    async def upload_recording(self, batch_id: str, data: bytes, file_name: str) -> ItemRead:
        """One recording (WAV, FLAC, OGG Vorbis or Opus, MP3, M4A) as one item of an audio
        project's batch, cut into parts (tasks) at silences; a duplicate comes back with
        `duplicate=True`."""
        data_json = await self._json(
            "POST",
            "ingest",
            f"/v1/batches/{batch_id}/recordings",
            content=data,
            params={"file_name": file_name},
            headers={"content-type": "application/octet-stream"},
        )
        return read_answer(ItemRead, data_json)

    async def put_sequence_frame(
        self, batch_id: str, sequence_id: str, index: int, data: bytes
    ) -> SequenceFrameRead:
        """One frame of an image sequence, at its index (sent again, it replaces the first)."""
        data_json = await self._json(
            "PUT",
            "ingest",
            f"/v1/batches/{batch_id}/sequences/{sequence_id}/frames/{index}",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        return read_answer(SequenceFrameRead, data_json)

    async def close_sequence(
        self, batch_id: str, sequence_id: str, frame_count: int, fps: float = 10.0
    ) -> ItemRead:
        """Frames 0..frame_count-1 become one video item (closing again gives the same)."""
        body = SequenceClose(frame_count=frame_count, fps=fps).model_dump()
        path = f"/v1/batches/{batch_id}/sequences/{sequence_id}/close"
        return read_answer(ItemRead, await self._json("POST", "ingest", path, json=body))

    async def upload_sequence(
        self,
        batch_id: str,
        sequence_id: str,
        frames: Sequence[bytes],
        fps: float = 10.0,
        concurrency: int = 8,
    ) -> ItemRead:
        """An image sequence frame by frame (`concurrency` at a time), then closed."""
        limiter = asyncio.Semaphore(concurrency)

        async def one(index: int, data: bytes) -> None:
            async with limiter:
                await self.put_sequence_frame(batch_id, sequence_id, index, data)

        await asyncio.gather(*(one(i, d) for i, d in enumerate(frames)))
        return await self.close_sequence(batch_id, sequence_id, len(frames), fps)

    async def import_urls(self, batch_id: str, urls: Sequence[str]) -> ImportRead:
        body = {"urls": [{"url": u} for u in urls]}
        return read_answer(
            ImportRead,
            await self._json("POST", "ingest", f"/v1/batches/{batch_id}/imports", json=body),
        )

    async def get_import(self, import_id: str, urls: bool = True) -> ImportRead:
        """The import's counts and, unless `urls=False` (to poll progress), every URL's status."""
        params = {"urls": "true" if urls else "false"}
        return read_answer(
            ImportRead, await self._json("GET", "ingest", f"/v1/imports/{import_id}", params=params)
        )

    # ----- deliveries --------------------------------------------------------------------------

    async def list_deliveries(self, project_id: str | None = None) -> list[DeliveryRead]:
        params = {"project_id": project_id} if project_id else {}
        return [
            read_answer(DeliveryRead, d)
            for d in await self._json("GET", "export", "/v1/deliveries", params=params)
        ]

    async def get_delivery(self, delivery_id: str) -> DeliveryRead:
        return read_answer(
            DeliveryRead, await self._json("GET", "export", f"/v1/deliveries/{delivery_id}")
        )

    async def request_delivery(
        self,
        batch_id: str,
        kind: str = "partial",
        formats: Sequence[str] | None = None,
        include_images: bool | None = None,
    ) -> DeliveryRead:
        body: dict[str, Any] = {"kind": kind}
        if formats is not None:
            body["formats"] = list(formats)
        if include_images is not None:
            body["include_images"] = include_images
        return read_answer(
            DeliveryRead,
            await self._json("POST", "export", f"/v1/batches/{batch_id}/deliveries", json=body),
        )

    async def download_delivery(self, delivery_id: str, dest: Path, verify: bool = True) -> Path:
        """Save the delivery's zip under `dest` (a folder); with `verify`, check every checksum."""
        delivery = await self.get_delivery(delivery_id)
        if delivery.status != "ready" or delivery.download_url is None:
            raise AviaryError(409, "not_ready", f"delivery {delivery_id} is {delivery.status}")
        async with httpx.AsyncClient(timeout=300) as bare:  # presigned: no credentials
            response = await bare.get(delivery.download_url)
            response.raise_for_status()
        if verify:
            verify_package(response.content, delivery.sha256)
        path = dest / f"{delivery_id}.zip"

        def save() -> None:
            dest.mkdir(parents=True, exist_ok=True)
            path.write_bytes(response.content)

        await asyncio.to_thread(save)
        return path

    async def delivery_webhooks(self, delivery_id: str) -> list[WebhookRead]:
        return [
            read_answer(WebhookRead, w)
            for w in await self._json("GET", "export", f"/v1/deliveries/{delivery_id}/webhooks")
        ]

    async def resend_webhook(self, delivery_id: str) -> WebhookRead:
        return read_answer(
            WebhookRead,
            await self._json("POST", "export", f"/v1/deliveries/{delivery_id}/webhooks"),
        )

    # ----- flagged tasks (clients for their own, the operator) ---------------------------------

    async def flagged_tasks(
        self, project_id: str | None = None, limit: int = 100
    ) -> list[FlaggedTaskView]:
        """Tasks skipped by too many people, longest waiting first."""
        params: dict[str, Any] = {"limit": limit}
        if project_id is not None:
            params["project_id"] = project_id
        page = await self._json("GET", "dispatch", "/v1/flagged-tasks", params=params)
        return [read_answer(FlaggedTaskView, t) for t in page["tasks"]]

    async def return_task(self, task_id: str, vendor_id: str | None = None) -> ReturnResult:
        """Back to the pool with its skips cleared, to its vendor or to `vendor_id`."""
        body = {} if vendor_id is None else {"vendor_id": vendor_id}
        path = f"/v1/flagged-tasks/{task_id}/return"
        return read_answer(ReturnResult, await self._json("POST", "dispatch", path, json=body))

    async def drop_item(self, task_id: str, reason: str) -> DropResult:
        """Take a flagged task's item out of its batch (its delivery completes without it)."""
        path = f"/v1/flagged-tasks/{task_id}/drop"
        body = {"reason": reason}
        return read_answer(DropResult, await self._json("POST", "dispatch", path, json=body))

    # ----- deletion (clients for their own, the operator) -------------------------------------

    async def delete_item(self, item_id: str) -> DeletionRead:
        """Delete one item everywhere: its media and everything made from it, its tasks, the
        work on it and its batch's delivery packages. The deletion comes back `pending`
        (reads of the item answer 404 at once); asking again returns the same deletion."""
        return await self._delete(f"/v1/items/{item_id}")

    async def delete_batch(self, batch_id: str) -> DeletionRead:
        """Delete a batch with every item in it, as `delete_item` does for one."""
        return await self._delete(f"/v1/batches/{batch_id}")

    async def delete_project(self, project_id: str) -> DeletionRead:
        """Delete a project: its versions, batches, items, the work on them and deliveries."""
        return await self._delete(f"/v1/projects/{project_id}")

    async def delete_org(self, org_id: str) -> DeletionRead:
        """Delete a client organisation (operator): every project of it, its tokens and
        itself (a vendor's: 422 `not_a_client`)."""
        return await self._delete(f"/v1/orgs/{org_id}")

    async def _delete(self, path: str) -> DeletionRead:
        return read_answer(DeletionRead, await self._json("DELETE", "ingest", path))

    async def deletion(self, deletion_id: str) -> DeletionRead:
        """A deletion: `pending` until every service has removed its part, then `complete`
        with its certificate (check it with `aviary.client.verify_certificate`)."""
        data = await self._json("GET", "ingest", f"/v1/deletions/{deletion_id}")
        return read_answer(DeletionRead, data)

    async def deletions(self, limit: int = 100) -> list[DeletionRead]:
        """The organisation's deletions (the operator: everyone's), newest first."""
        data = await self._json("GET", "ingest", "/v1/deletions", params={"limit": limit})
        return [read_answer(DeletionRead, d) for d in data]

    async def wait_for_deletion(
        self, deletion_id: str, timeout_s: float = 300.0, poll_s: float = 1.0
    ) -> DeletionRead:
        """The deletion once complete, with its certificate, asking every `poll_s`; raises
        `DeletionTimeout` (a TimeoutError) if it is still pending after `timeout_s`. The
        deletion goes on either way."""
        deadline = time.monotonic() + timeout_s
        while True:
            deletion = await self.deletion(deletion_id)
            if deletion.status == "complete":
                return deletion
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeletionTimeout(deletion, timeout_s)
            await asyncio.sleep(min(poll_s, left))

    # ----- annotators and reviewers ------------------------------------------------------------

    async def my_data(self) -> dict[str, Any]:
        """Everything the platform keeps about the caller (an annotator or a reviewer), service
        by service: `{"subject", "org_id", "services": {name: {kind: [records]}}}`."""
        names = [f.name for f in dataclasses.fields(self.endpoints)]
        answers = await asyncio.gather(*(self._json("GET", n, "/v1/me/data") for n in names))
        parts = [read_answer(PersonalData, a) for a in answers]
        return {
            "subject": parts[0].subject,
            "org_id": parts[0].org_id,
            "generated_at": max(p.generated_at for p in parts).isoformat(),
            "services": {p.service: p.records for p in parts},
        }

    async def next_task(self, wait_s: float = 0) -> dict[str, Any] | None:
        response = await self.request(
            "POST", "dispatch", "/v1/tasks/next", params={"wait_s": wait_s}
        )
        return None if response.status_code == 204 else dict(response.json())

    async def submit_task(self, task: dict[str, Any], shapes: list[dict[str, Any]]) -> SubmitResult:
        """Submit a picture's shapes (the submission's id: a training task's feedback)."""
        data = await self._json(
            "POST",
            "dispatch",
            f"/v1/tasks/{task['id']}/submit",
            json={"lease_id": task["lease_id"], "annotation": {"shapes": shapes}},
        )
        return read_answer(SubmitResult, data)

    async def submit_transcript(self, task: dict[str, Any], segments: list[dict[str, Any]]) -> None:
        """An audio task's segments (seconds from the recording's start, inside its part)."""
        await self.request(
            "POST",
            "dispatch",
            f"/v1/tasks/{task['id']}/submit",
            json={"lease_id": task["lease_id"], "transcript": {"segments": segments}},
        )

    async def next_review(self, wait_s: float = 0) -> dict[str, Any] | None:
        response = await self.request(
            "POST", "review", "/v1/reviews/next", params={"wait_s": wait_s}
        )
        return None if response.status_code == 204 else dict(response.json())

    async def accept_review(self, review_id: str) -> None:
        await self.request("POST", "review", f"/v1/reviews/{review_id}/accept")

    async def reject_review(self, review_id: str, reason: str, comment: str) -> None:
        await self.request(
            "POST",
            "review",
            f"/v1/reviews/{review_id}/reject",
            json={"reason": reason, "comment": comment},
        )


def _mapping_header(mapping: dict[str, str | None] | None) -> dict[str, str]:
    return {"X-Import-Mapping": json.dumps(mapping)} if mapping else {}
