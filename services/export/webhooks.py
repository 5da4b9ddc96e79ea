"""Sending `delivery.ready` webhooks: signed, retried with back-off for hours, each attempt logged.

Webhooks are records in export's database, created with the delivery in one transaction, so a
crash never loses one. Many are sent at once, each with a timeout, so a slow or dead receiver
never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import httpx

from aviary.contracts.webhooks import SIGNATURE_HEADER, sign
from services.export.domain import webhook_body, webhook_delay_s
from services.export.repositories import DeliveryRepository, WebhookRepository
from shared.domain.projects import ProjectReadModel
from shared.runtime import Runtime
from shared.security.urlsafety import UnsafeUrl, check_url, parse_networks
from shared.store.mongo import Doc, utcnow

log = logging.getLogger(__name__)


class CannotSend(Exception):
    """A webhook that no retry can send (no secret, an inward address)."""


class WebhookSender:
    def __init__(
        self,
        runtime: Runtime,
        webhooks: WebhookRepository,
        deliveries: DeliveryRepository,
        projects: ProjectReadModel,
        poll_s: float = 0.5,
    ) -> None:
        self.settings = runtime.settings
        self.storage = runtime.storage
        self.webhooks = webhooks
        self.deliveries = deliveries
        self.projects = projects
        self.poll_s = poll_s
        self.allowed = parse_networks(self.settings.webhook_allowed_networks)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        slots = asyncio.Semaphore(self.settings.webhook_concurrency)
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while True:
                await slots.acquire()
                try:
                    hook = await self.webhooks.claim_due(self.settings.webhook_timeout_s + 5)
                except Exception:
                    log.exception("webhook.claim_failed")
                    hook = None
                if hook is None:
                    slots.release()
                    await asyncio.sleep(self.poll_s)
                    continue
                task = asyncio.create_task(self._attempt(client, hook, slots))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _attempt(
        self, client: httpx.AsyncClient, hook: Doc, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self.attempt(client, hook)
        except Exception:
            log.exception("webhook.attempt_crashed", extra={"webhook": hook["_id"]})
        finally:
            slots.release()

    async def attempt(self, client: httpx.AsyncClient, hook: Doc) -> None:
        """One try: sign, post, record; schedule the next try or give up."""
        number = len(hook["attempts"]) + 1
        started = time.perf_counter()
        record: Doc = {"n": number, "at": utcnow(), "status_code": None, "error": None}
        final = False
        try:
            body, secret = await self._body_and_secret(hook)
            await check_url(hook["url"], self.allowed)
            timestamp = int(time.time())
            response = await client.post(
                hook["url"],
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "Aviary-Webhooks/1",
                    "X-Aviary-Event": "delivery.ready",
                    "X-Aviary-Delivery": hook["delivery_id"],
                    "X-Aviary-Webhook-Id": hook["_id"],
                    SIGNATURE_HEADER: sign(secret, timestamp, body),
                },
            )
            record["status_code"] = response.status_code
            delivered = 200 <= response.status_code < 300
            if not delivered:
                record["error"] = f"HTTP {response.status_code}"
        except (UnsafeUrl, CannotSend) as exc:
            delivered, final = False, True  # retrying cannot make it safe
            record["error"] = f"refused: {exc}"
        except httpx.HTTPError as exc:
            delivered = False
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        await self._record(
            hook, record, delivered, final or number >= self.settings.webhook_max_attempts
        )

    async def _record(self, hook: Doc, record: Doc, delivered: bool, give_up: bool) -> None:
        number = record["n"]
        if delivered:
            await self.webhooks.record_attempt(hook["_id"], record, "delivered", None)
        elif give_up:
            await self.webhooks.record_attempt(hook["_id"], record, "failed", None)
            log.warning("webhook.failed", extra={"webhook": hook["_id"], "attempts": number})
        else:
            delay = webhook_delay_s(
                number, self.settings.webhook_retry_base_s, self.settings.webhook_retry_max_s
            )
            next_at = utcnow() + timedelta(seconds=delay)
            await self.webhooks.record_attempt(hook["_id"], record, "pending", next_at)

    async def _body_and_secret(self, hook: Doc) -> tuple[bytes, str]:
        delivery = await self.deliveries.get(None, hook["delivery_id"])
        project = await self.projects.get(hook["project_id"])
        if project is None or not project.webhook_secret:
            raise CannotSend("the project has no webhook secret to sign with")
        ttl = self.settings.presign_ttl_s
        url = self.storage.presigned_get(delivery["bucket"], delivery["object_key"], ttl)
        return webhook_body(delivery, url, ttl, utcnow()), project.webhook_secret
