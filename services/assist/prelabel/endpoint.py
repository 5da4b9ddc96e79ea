"""Asking a client's own model for an item's pre-labels, over HTTP(S), safely.

Each item is one signed POST (`X-Aviary-Signature`, the very signing of webhooks:
HMAC-SHA256 over `<timestamp>.<body>` with the endpoint's secret) of
`{item_id, project_id, image_url, width, height, classes}`; `image_url` is a presigned GET
that expires in minutes. The endpoint is held to the rules URL imports are
(shared/security/urlsafety.py): its host is resolved before every attempt and refused when any
address is inward (loopback, private, link-local, metadata) unless the allow-list has it, and
the connection goes to the checked address, never to the name again (no DNS rebinding).
Redirects are not followed. Each attempt has the endpoint's timeout; timeouts, refused
connections, 429 and 5xx are retried with back-off, and count towards the endpoint's circuit
breaker (breaker.py); other answers are final.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from aviary.contracts.assist import EndpointSettings, Prelabels
from aviary.contracts.shapes import Annotation
from aviary.contracts.webhooks import SIGNATURE_HEADER, sign
from services.assist.models.proposals import lowest_confidence
from services.assist.prelabel.answers import BadAnswer, read_answer
from services.assist.prelabel.breaker import Breakers
from shared.events import ItemIngested, ProjectUpserted
from shared.security.urlsafety import (
    IPAddress,
    IPNetwork,
    Resolve,
    Unresolved,
    UnsafeUrl,
    parse_networks,
    resolve_checked,
    resolve_host,
)
from shared.settings import Settings
from shared.store.storage import ObjectStorage

USER_AGENT = "Aviary-Assist/1"
EVENT_HEADER = "X-Aviary-Event"


@dataclass(frozen=True)
class EndpointPolicy:
    """How client endpoints are called (one policy per process)."""

    allowed_networks: tuple[IPNetwork, ...] = ()  # inward addresses allowed all the same
    attempts: int = 3
    backoff_s: float = 0.5  # before the second attempt; doubled each time, with jitter
    backoff_max_s: float = 5.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    max_answer_bytes: int = 8 * 1024 * 1024
    image_url_ttl_s: int = 600

    @classmethod
    def from_settings(cls, settings: Settings) -> EndpointPolicy:
        """The deployment's policy: the networks URL imports may reach, these may too."""
        return cls(allowed_networks=tuple(parse_networks(settings.import_allowed_networks)))


class EndpointError(Exception):
    """Why a call brought no pre-labels. `code`: `unsafe_url`, `no_secret`, `circuit_open`,
    `timeout`, `connection_failed`, `http_status`, `redirect`, `too_large`; `transient`: the
    endpoint may answer a later call (these count towards its breaker)."""

    def __init__(self, code: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def request_body(event: ItemIngested, project: ProjectUpserted, image_url: str) -> bytes:
    classes = [{"id": c.id, "name": c.name, "kind": c.kind} for c in project.ontology.classes]
    body = {
        "item_id": event.item_id,
        "project_id": event.project_id,
        "image_url": image_url,
        "width": event.image.width,
        "height": event.image.height,
        "classes": classes,
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def checked_address(
    url: httpx.URL, allowed: tuple[IPNetwork, ...], resolve: Resolve
) -> IPAddress:
    """The first address of the URL's host, every one of them checked first."""
    host = url.host
    if url.scheme not in ("http", "https") or not host:
        raise EndpointError("unsafe_url", "only http and https URLs with a host are called")
    if url.userinfo or "%" in host:
        raise EndpointError("unsafe_url", "URLs with user:password@ or a zone id are refused")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await resolve_checked(host, port, allowed, resolve)
    except UnsafeUrl as exc:
        raise EndpointError("unsafe_url", str(exc)) from exc
    except Unresolved as exc:
        raise EndpointError("connection_failed", str(exc), transient=exc.transient) from exc
    except ValueError as exc:
        raise EndpointError("unsafe_url", str(exc)) from exc
    return addresses[0]


class EndpointCaller:
    """Calls client endpoints: one breaker each, one HTTP client for all."""

    def __init__(
        self,
        storage: ObjectStorage,
        policy: EndpointPolicy,
        *,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.storage = storage
        self.policy = policy
        self.resolve = resolve
        self.breakers = Breakers(policy.breaker_failures, policy.breaker_cooldown_s)
        # Made for calling strangers: no proxies or settings from the environment, and
        # nothing of ours (cookies, auth) goes along.
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def prelabel(self, event: ItemIngested, project: ProjectUpserted) -> Prelabels:
        """The endpoint's pre-labels for one item, or why there are none (`error`)."""
        endpoint = project.assist.endpoint
        if endpoint is None:
            return Prelabels(error="no_endpoint: the project has no model endpoint")
        model = f"endpoint:{endpoint.name}"
        ttl = self.policy.image_url_ttl_s
        image_url = self.storage.presigned_get(event.image.bucket, event.image.object_key, ttl)
        try:
            answer = await self.call(
                endpoint, request_body(event, project, image_url), event.item_id
            )
            shapes = read_answer(
                answer,
                project.ontology,
                event.image.width,
                event.image.height,
                model,
                project.assist.min_confidence,
            )
        except (EndpointError, BadAnswer) as exc:
            code = "bad_answer: " if isinstance(exc, BadAnswer) else ""
            return Prelabels(model=model, error=f"{code}{exc}"[:1000])
        return Prelabels(
            annotation=Annotation(shapes=tuple(shapes)),
            confidence=lowest_confidence(shapes),
            model=model,
        )

    async def call(self, endpoint: EndpointSettings, body: bytes, item_id: str) -> bytes:
        """The body of the endpoint's 2xx answer, after retries; EndpointError otherwise."""
        if not endpoint.secret:
            raise EndpointError("no_secret", "the endpoint has no secret to sign requests with")
        url = str(endpoint.url)
        breaker = self.breakers.of(url)
        attempt = 0
        while True:
            attempt += 1
            if not breaker.allow():
                raise EndpointError(
                    "circuit_open",
                    f"the endpoint failed {breaker.failures} times in a row; "
                    f"calls resume after {breaker.cooldown_s:g}s",
                )
            try:
                answer = await self._attempt(endpoint, url, body, item_id)
            except EndpointError as exc:
                if not exc.transient:
                    breaker.succeeded()  # it answered (or was never called): not down
                    raise
                breaker.failed_once()
                if attempt >= self.policy.attempts:
                    raise
                await asyncio.sleep(self._delay(attempt))
                continue
            breaker.succeeded()
            return answer

    def _delay(self, attempt: int) -> float:
        base = min(self.policy.backoff_max_s, self.policy.backoff_s * 2 ** (attempt - 1))
        return float(base * (0.5 + random.random() / 2))

    async def _attempt(
        self, endpoint: EndpointSettings, url: str, body: bytes, item_id: str
    ) -> bytes:
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                return await self._post(endpoint, httpx.URL(url), body, item_id)
        except TimeoutError as exc:
            raise EndpointError(
                "timeout", f"no answer in {endpoint.timeout_s:g}s", transient=True
            ) from exc
        except httpx.TimeoutException as exc:
            raise EndpointError(
                "timeout", f"timed out ({type(exc).__name__})", transient=True
            ) from exc
        except httpx.TransportError as exc:
            raise EndpointError(
                "connection_failed", f"{type(exc).__name__}: {exc}"[:300], transient=True
            ) from exc

    async def _post(
        self, endpoint: EndpointSettings, url: httpx.URL, body: bytes, item_id: str
    ) -> bytes:
        address = await checked_address(url, self.policy.allowed_networks, self.resolve)
        assert endpoint.secret is not None
        headers: Mapping[str, str] = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            EVENT_HEADER: "item.prelabel",
            "X-Aviary-Item": item_id,
            SIGNATURE_HEADER: sign(endpoint.secret, int(time.time()), body),
        }
        extensions: dict[str, object] = {
            "timeout": httpx.Timeout(endpoint.timeout_s).as_dict(),
        }
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host  # the name for TLS; the connection, the IP
        ip = str(address).split("%", 1)[0]
        request = httpx.Request(
            "POST", url.copy_with(host=ip), headers=headers, content=body, extensions=extensions
        )
        response = await self._client.send(request, stream=True, auth=None, follow_redirects=False)
        try:
            status = response.status_code
            if 300 <= status < 400:
                raise EndpointError("redirect", f"the endpoint redirected (HTTP {status})")
            if not 200 <= status < 300:
                transient = status >= 500 or status == 429
                raise EndpointError(
                    "http_status", f"the endpoint answered HTTP {status}", transient=transient
                )
            return await self._read(response)
        finally:
            await response.aclose()

    async def _read(self, response: httpx.Response) -> bytes:
        limit = self.policy.max_answer_bytes
        parts: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():  # decoded: the limit bounds memory
            size += len(chunk)
            if size > limit:
                raise EndpointError("too_large", f"the answer exceeds {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)
