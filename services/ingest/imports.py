"""URL imports: a client lists image URLs; ingest's consumers fetch them safely, many at a time.

Each URL is a record with its own status (pending, done, failed), attempts and error; an
`import.urls_requested` event for every few URLs is saved with them. The consumer fetches
through the SSRF-safe fetcher, retries what may succeed later (timeouts, 5xx) through the
broker's back-off (the event again: its URLs finished meanwhile are skipped), and records
each outcome once: a redelivered event for a finished URL changes nothing.

The URLs of the events handled at the same moment (up to the consumer's prefetch) form
groups of up to GROUP_MAX: their records are read in one query, fetched concurrently, stored
as one upload per batch (through the upload path's group commit), and their outcomes
recorded in one transaction. One by one, each URL cost about fifteen database round trips,
and every outcome updated the same import record, so concurrent URLs conflicted and retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from aviary.contracts.shapes import Annotation
from services.ingest.fetch_pool import OriginPool
from services.ingest.fetcher import FetchError, FetchLimits, fetch
from services.ingest.group_commit import GroupCommitter
from services.ingest.ledger import BatchLedger
from services.ingest.repositories import (
    BatchRepository,
    ImportOutcome,
    ImportRepository,
    ItemRepository,
    ProjectRepository,
)
from services.ingest.uploads import Incoming, Ingestor
from shared.errors import AppError, RetryLater
from shared.events import Envelope, ImportRequested, ImportUrlsRequested, RoutingKey
from shared.runtime import Runtime
from shared.security.urlsafety import parse_networks
from shared.store.batching import Batcher
from shared.store.mongo import Doc

log = logging.getLogger(__name__)

GROUP_MAX = 64


class UrlImporter:
    """Fetches imported URLs and turns them into items."""

    def __init__(
        self,
        runtime: Runtime,
        imports: ImportRepository,
        batches: BatchRepository,
        projects: ProjectRepository,
        items: ItemRepository,
        ledger: BatchLedger,
        committer: GroupCommitter | None = None,
    ) -> None:
        self.runtime = runtime
        self.imports = imports
        self.batches = batches
        self.projects = projects
        self.items = items
        self.ledger = ledger
        self.committer = committer
        settings = runtime.settings
        self.max_attempts = min(settings.import_max_attempts, settings.max_attempts)
        self.limits = FetchLimits(
            max_bytes=settings.max_upload_bytes,
            total_timeout_s=settings.import_timeout_s,
            read_timeout_s=min(10.0, settings.import_timeout_s),
            allowed_networks=tuple(parse_networks(settings.import_allowed_networks)),
        )
        self._client: httpx.AsyncClient | None = None
        # Two groups in flight: one fetches while the other is written.
        self._groups: Batcher[Envelope, None] = Batcher(
            self._import_group, max_size=GROUP_MAX, in_flight=2, weight=urls_named
        )

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No proxies or credentials from the environment: we connect to checked addresses.
            pool = OriginPool(max_connections=GROUP_MAX * 2, max_idle=GROUP_MAX * 2)
            self._client = httpx.AsyncClient(
                transport=pool, trust_env=False, follow_redirects=False
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def handle(self, envelope: Envelope) -> None:
        """Import the event's URLs with the others arriving now; raises the error of one of
        its URLs that did not finish (the broker retries or dead-letters that event alone)."""
        await self._groups.submit(envelope)

    async def _import_group(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        requests = [requested(envelope) for envelope in envelopes]
        events: dict[str, ImportUrlsRequested] = {}
        for request in requests:
            for url_id in request.url_ids:
                events.setdefault(url_id, request)
        urls = await self.imports.urls_by_id(list(events))
        # A URL already finished is a redelivery: nothing to do.
        pending = {url_id: url for url_id, url in urls.items() if url["status"] == "pending"}
        errors: dict[str, BaseException] = {}
        if pending:
            await self.imports.count_attempts(list(pending))
            fetched = await asyncio.gather(
                *(fetch(self.client(), url["url"], self.limits) for url in pending.values()),
                return_exceptions=True,
            )
            finished: list[ImportOutcome] = []
            per_batch: dict[tuple[str, str], list[tuple[Doc, bytes]]] = {}
            for (url_id, url), result in zip(pending.items(), fetched, strict=True):
                if isinstance(result, FetchError):
                    if result.retryable and url["attempts"] + 1 < self.max_attempts:
                        errors[url_id] = RetryLater(f"{result.code}: {result.message}")
                    else:
                        finished.append(failed(url, result.code, result.message))
                elif isinstance(result, BaseException):
                    errors[url_id] = result
                else:
                    event = events[url_id]
                    per_batch.setdefault((event.batch_id, event.project_id), []).append(
                        (url, result)
                    )
            for (batch_id, project_id), downloads in per_batch.items():
                try:
                    finished += await self._store(batch_id, project_id, downloads)
                except Exception as exc:  # storage or database down: retried by the broker
                    errors.update((url["_id"], exc) for url, _ in downloads)
            if finished:
                await self.imports.finish(finished)
        return [
            next((errors[u] for u in request.url_ids if u in errors), None) for request in requests
        ]

    async def _store(
        self, batch_id: str, project_id: str, downloads: list[tuple[Doc, bytes]]
    ) -> list[ImportOutcome]:
        """The downloaded images of one batch as one upload: validated, stored, recorded."""
        batch = await self.batches.get(None, batch_id)
        project = await self.projects.get(None, project_id)
        incoming = [
            Incoming(
                url.get("file_name") or url["url"].rsplit("/", 1)[-1],
                data,
                Annotation.model_validate(url["pre_annotation"])
                if url.get("pre_annotation")
                else None,
            )
            for url, data in downloads
        ]
        ingestor = Ingestor(self.runtime, self.items, self.ledger, batch, project, self.committer)
        try:
            outcomes = await ingestor.ingest(incoming)
        except AppError as exc:
            if exc.status_code >= 500:
                raise
            return [failed(url, exc.code, exc.message) for url, _ in downloads]
        finished = []
        for (url, _), outcome in zip(downloads, outcomes, strict=True):
            if outcome.error is not None:
                finished.append(failed(url, outcome.error.code, outcome.error.message))
            else:
                assert outcome.item is not None
                item = {"item_id": outcome.item.id, "duplicate": outcome.item.duplicate}
                finished.append(ImportOutcome(url, "done", item))
        return finished


def requested(envelope: Envelope) -> ImportUrlsRequested:
    """The URLs an event names, in either shape (`import.requested` named one)."""
    if envelope.type == RoutingKey.IMPORT_REQUESTED:
        one = ImportRequested.model_validate(envelope.data)
        return ImportUrlsRequested(
            import_id=one.import_id,
            url_ids=(one.url_id,),
            batch_id=one.batch_id,
            project_id=one.project_id,
            org_id=one.org_id,
        )
    return ImportUrlsRequested.model_validate(envelope.data)


def urls_named(envelope: Envelope) -> int:
    """An event's weight in a group: its URLs."""
    return len(envelope.data.get("url_ids") or ()) or 1


def failed(url: Doc, code: str, message: str) -> ImportOutcome:
    return ImportOutcome(url, "failed", {"error": code, "message": message})
