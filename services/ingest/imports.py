"""URL imports: a client lists image URLs; ingest's consumers fetch each one safely.

Each URL is a record with its own status (pending, done, failed), attempts and error, and an
`import.requested` event saved with it. The consumer fetches through the SSRF-safe fetcher,
retries what may succeed later (timeouts, 5xx) through the broker's back-off, and then records
the outcome once: a redelivered event for a finished URL changes nothing.
"""

from __future__ import annotations

import logging

import httpx

from services.ingest.fetcher import FetchError, FetchLimits, fetch
from services.ingest.store import IngestStore
from services.ingest.uploads import Incoming, Ingestor
from shared.errors import AppError, RetryLater
from shared.events import Envelope, ImportRequested
from shared.runtime import Runtime
from shared.shapes import Annotation
from shared.urlsafety import parse_networks

log = logging.getLogger(__name__)


class UrlImporter:
    """Fetches one imported URL per event and turns it into an item."""

    def __init__(self, runtime: Runtime, store: IngestStore) -> None:
        self.runtime = runtime
        self.store = store
        settings = runtime.settings
        self.max_attempts = min(settings.import_max_attempts, settings.max_attempts)
        self.limits = FetchLimits(
            max_bytes=settings.max_upload_bytes,
            total_timeout_s=settings.import_timeout_s,
            read_timeout_s=min(10.0, settings.import_timeout_s),
            allowed_networks=tuple(parse_networks(settings.import_allowed_networks)),
        )
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No proxies or credentials from the environment: we connect to checked addresses.
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def handle(self, envelope: Envelope) -> None:
        event = ImportRequested.model_validate(envelope.data)
        url = await self.store.get_import_url(event.url_id)
        if url is None or url["status"] != "pending":
            return  # already finished: a redelivery
        attempts = await self.store.count_import_attempt(event.url_id)
        try:
            data = await fetch(self.client(), url["url"], self.limits)
        except FetchError as exc:
            if exc.retryable and attempts < self.max_attempts:
                raise RetryLater(f"{exc.code}: {exc.message}") from exc
            await self.store.finish_import_url(url, "failed", error=exc.code, message=exc.message)
            return
        batch = await self.store.get_batch(None, event.batch_id)
        project = await self.store.get_project(None, event.project_id)
        pre = url.get("pre_annotation")
        incoming = Incoming(
            url.get("file_name") or url["url"].rsplit("/", 1)[-1],
            data,
            Annotation.model_validate(pre) if pre else None,
        )
        ingestor = Ingestor(self.runtime, self.store, batch, project)
        try:
            outcome = (await ingestor.ingest([incoming]))[0]
        except AppError as exc:
            if exc.status_code >= 500:
                raise  # storage or database down: retried through the broker
            await self.store.finish_import_url(url, "failed", error=exc.code, message=exc.message)
            return
        if outcome.error is not None:
            await self.store.finish_import_url(
                url, "failed", error=outcome.error.code, message=outcome.error.message
            )
        else:
            assert outcome.item is not None
            await self.store.finish_import_url(
                url, "done", item_id=outcome.item.id, duplicate=outcome.item.duplicate
            )
