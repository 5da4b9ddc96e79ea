"""Idempotency keys: a write sent with an `Idempotency-Key` header is safe to retry.

`IdempotencyMiddleware` is a pure ASGI middleware backed by `IdempotencyStore` (collection
`idempotency_keys` of the service's database). The semantics:

* Which requests: only POST, PUT, PATCH and DELETE that carry an `Idempotency-Key` header.
  Everything else (no header, GET/HEAD/OPTIONS, websockets, lifespan) passes straight through
  without touching the database.
* The key: 1..255 printable ASCII characters (0x20..0x7E), sent once. Anything else is answered
  400 `invalid_idempotency_key` and the app is not called.
* Scope of a key: the caller's credential and the key together. The record's `_id` is
  sha256(sha256(Authorization header value) + key), so two tenants never share a key, and
  neither the key nor the token is stored in clear. Requests without an Authorization header
  all share one (anonymous) credential.
* First request with a key: a record `{_id, state: "in_progress", request_hash: None,
  created_at, expires_at}` is inserted (the unique `_id` makes exactly one concurrent request
  win). The request goes to the app while its body is hashed as it streams through `receive`
  (sha256 of method, path, query string and body; the body is never buffered). If the app does
  not read the whole body, the rest is drained and hashed before the response is finished. The
  response is captured as it streams out (status; the content-type, location and retry-after
  headers; the body) and is recorded before its last chunk reaches the client, so a client
  that retries as soon as it has the answer gets the replay, never a 409:
    - status < 500: the record becomes `state: "done"` with the request hash and the response,
      kept for `ttl_s` (24 h by default);
    - status >= 500, 429 or 408, or the app raised, or the client went away before the request
      body was complete: the record is deleted, so a retry really runs again. (429 and 408 mean
      "not processed, try later"; replaying them would make the retry pointless.)
    - a response body over `MAX_STORED_BODY` (1 MB) is not stored either: the record is
      deleted and the response passes through, so a retry of such a request runs again. Keys
      are meant for JSON API responses, which are far smaller.
* A repeat while the first is still running: 409 `idempotency_key_in_progress`, Retry-After: 1.
* A repeat after completion: the incoming body is read through `receive` and hashed (again
  without buffering). Same hash: the stored status, headers and body are replayed exactly,
  with `Idempotent-Replay: true` added. Different hash (other body, method, path or query):
  422 `idempotency_key_reused`.
* An "in_progress" record is a lease of `in_progress_ttl_s` (5 min by default): a process that
  died mid-request does not lock the key for a day; once the lease has passed, the next
  request with the key takes it over and runs. A request that really runs longer than the lease
  can therefore run twice when retried after the lease; its late result is then not recorded
  (the record is owned by the newer request).
* Expired records are removed by a TTL index on `expires_at` where the server has them
  (`ensure_indexes`); an expired record that is still there is treated as absent.
* The database being down when a key is checked gives 503 `unavailable` (nothing ran). If it
  goes down after the app ran, the response still goes out, unrecorded; the key stays locked
  until its lease passes, after which a retry runs again.

Install it inside the correlation middleware (add it to the app before `CorrelationAndMetrics`)
so that its own answers (400/409/422/replays) carry a correlation id and are measured too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import Unavailable, error_body
from shared.store.mongo import DATABASE_DOWN, Doc, DuplicateKeyError, ServiceDatabase, utcnow

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_STORED_BODY",
    "REPLAY_HEADER",
    "IdempotencyMiddleware",
    "IdempotencyStore",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "idempotency-key"
REPLAY_HEADER = "idempotent-replay"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
MAX_STORED_BODY = 1024 * 1024
# Response headers worth replaying; the rest (dates, correlation ids, lengths) are per response.
STORED_HEADERS = frozenset({b"content-type", b"location", b"retry-after"})
# Statuses below 500 that mean "not processed, try again later": never recorded.
RETRYABLE_STATUSES = frozenset({408, 429})
IN_PROGRESS = "in_progress"
DONE = "done"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _RequestHasher:
    """sha256 over method, path, query string (length-prefixed) and then the body as it flows."""

    def __init__(self, scope: Scope) -> None:
        self._hash = hashlib.sha256()
        path = str(scope.get("path", "")).encode("utf-8", "surrogateescape")
        for part in (str(scope["method"]).encode(), path, bytes(scope.get("query_string", b""))):
            self._hash.update(len(part).to_bytes(8, "big"))
            self._hash.update(part)
        self.complete = False
        self.disconnected = False

    def see(self, message: Message) -> None:
        if message["type"] == "http.request":
            if self.complete:
                return
            self._hash.update(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        elif message["type"] == "http.disconnect":
            self.disconnected = True

    async def drain(self, receive: Receive) -> None:
        """Read (and hash) what is left of the request body."""
        while not self.complete and not self.disconnected:
            self.see(await receive())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass
class _Claim:
    """The outcome of claiming a key: ours to run (`owner`), or someone else's `record`."""

    owner: str | None = None
    record: Doc | None = None


@dataclass
class _CapturedResponse:
    status: int = 0
    headers: list[list[str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    storable: bool = True


class IdempotencyStore:
    """Idempotency records in the service's database, collection `idempotency_keys`."""

    def __init__(
        self,
        database: ServiceDatabase,
        ttl_s: int = 24 * 3600,
        *,
        in_progress_ttl_s: int = 300,
    ) -> None:
        self.collection = database["idempotency_keys"]
        self.ttl = timedelta(seconds=ttl_s)
        self.in_progress_ttl = timedelta(seconds=in_progress_ttl_s)

    async def ensure_indexes(self) -> None:
        """A TTL index on `expires_at`, where the server supports one (expiry is also checked)."""
        try:
            await self.collection.create_index("expires_at", expireAfterSeconds=0)
        except Exception as exc:  # a server without TTL indexes: expiry is checked on read
            log.info("idempotency.ttl_index_unavailable", extra={"error": repr(exc)[:300]})

    @staticmethod
    def record_id(authorization: bytes, key: str) -> str:
        """The record's id: the credential's hash and the key, hashed together."""
        credential = hashlib.sha256(authorization).digest()
        return hashlib.sha256(credential + key.encode("ascii")).hexdigest()

    async def claim(self, record_id: str) -> _Claim:
        """Insert an in-progress record; if one exists (and has not expired), return it."""
        for _ in range(5):
            now = utcnow()
            owner = uuid.uuid4().hex
            try:
                await self.collection.insert_one(
                    {
                        "_id": record_id,
                        "state": IN_PROGRESS,
                        "owner": owner,
                        "request_hash": None,
                        "created_at": now,
                        "expires_at": now + self.in_progress_ttl,
                    }
                )
                return _Claim(owner=owner)
            except DuplicateKeyError:
                pass
            record = await self.collection.find_one({"_id": record_id})
            if record is None:
                continue  # released between our insert and our read: try again
            if _aware(record["expires_at"]) > now:
                return _Claim(record=record)
            # Expired (no TTL index, or not swept yet): remove exactly that record, then retry.
            await self.collection.delete_one({"_id": record_id, "expires_at": record["expires_at"]})
        raise RuntimeError("could not claim an idempotency key")  # pragma: no cover

    async def complete(
        self, record_id: str, owner: str, request_hash: str, response: _CapturedResponse
    ) -> bool:
        """Record the response; False when the record is no longer ours (its lease passed)."""
        now = utcnow()
        result = await self.collection.update_one(
            {"_id": record_id, "owner": owner, "state": IN_PROGRESS},
            {
                "$set": {
                    "state": DONE,
                    "request_hash": request_hash,
                    "status": response.status,
                    "headers": response.headers,
                    "body": b"".join(response.chunks),
                    "completed_at": now,
                    "expires_at": now + self.ttl,
                }
            },
        )
        return result.modified_count == 1

    async def release(self, record_id: str, owner: str) -> None:
        """Forget the key, so that a retry runs again."""
        await self.collection.delete_one({"_id": record_id, "owner": owner})


class IdempotencyMiddleware:
    """Pure ASGI middleware: writes with an `Idempotency-Key` run once and are replayed after."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        keys = [v for k, v in scope["headers"] if k == IDEMPOTENCY_HEADER.encode()]
        if not keys:
            await self.app(scope, receive, send)
            return
        key = self._valid_key(keys)
        if key is None:
            await _answer(
                send,
                400,
                "invalid_idempotency_key",
                f"send one Idempotency-Key header of 1 to {MAX_KEY_LENGTH} printable ASCII "
                "characters",
            )
            return
        authorization = b", ".join(v for k, v in scope["headers"] if k == b"authorization")
        record_id = self.store.record_id(authorization, key)
        try:
            claim = await self.store.claim(record_id)
        except DATABASE_DOWN as exc:
            log.warning("idempotency.database_down", extra={"error": repr(exc)[:300]})
            down = Unavailable("the database")
            await _answer(send, 503, down.code, down.message, down.headers)
            return
        if claim.owner is not None:
            await self._run(scope, receive, send, record_id, claim.owner)
        else:
            assert claim.record is not None
            await self._repeat(scope, receive, send, claim.record)

    @staticmethod
    def _valid_key(values: list[bytes]) -> str | None:
        if len(values) != 1:
            return None
        raw = values[0]
        if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(b < 0x20 or b > 0x7E for b in raw):
            return None
        return raw.decode("ascii")

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, record_id: str, owner: str
    ) -> None:
        """The first request with this key: run the app, record (or forget) its response."""
        hasher = _RequestHasher(scope)
        response = _CapturedResponse()
        settled = False

        async def hashing_receive() -> Message:
            message = await receive()
            hasher.see(message)
            return message

        async def capturing_send(message: Message) -> None:
            nonlocal settled
            if message["type"] == "http.response.start":
                response.status = int(message["status"])
                response.headers = [
                    [k.decode("latin-1"), v.decode("latin-1")]
                    for k, v in message.get("headers", [])
                    if k.lower() in STORED_HEADERS
                ]
                if (
                    response.status >= 500
                    or response.status in RETRYABLE_STATUSES
                    or message.get("trailers", False)
                ):
                    response.storable = False
            elif message["type"] == "http.response.body" and not settled:
                chunk = message.get("body", b"")
                if response.storable:
                    response.size += len(chunk)
                    if response.size > MAX_STORED_BODY:
                        response.storable = False
                        response.chunks.clear()
                    else:
                        response.chunks.append(chunk)
                if not message.get("more_body", False):
                    # Record the outcome before the client has the whole answer.
                    settled = True
                    await self._settle(record_id, owner, hasher, response, receive)
            await send(message)

        try:
            await self.app(scope, hashing_receive, capturing_send)
        except BaseException:
            if not settled:
                settled = True
                await self._forget(record_id, owner)
            raise
        if not settled:  # the app returned without finishing a response
            await self._forget(record_id, owner)

    async def _settle(
        self,
        record_id: str,
        owner: str,
        hasher: _RequestHasher,
        response: _CapturedResponse,
        receive: Receive,
    ) -> None:
        if response.storable and not hasher.complete:
            await hasher.drain(receive)
        if not response.storable or not hasher.complete:
            await self._forget(record_id, owner)
            return
        try:
            stored = await self.store.complete(record_id, owner, hasher.hexdigest(), response)
        except DATABASE_DOWN as exc:
            log.warning("idempotency.not_recorded", extra={"error": repr(exc)[:300]})
            return
        if not stored:
            log.warning("idempotency.lease_lost", extra={"record": record_id})

    async def _forget(self, record_id: str, owner: str) -> None:
        try:
            await self.store.release(record_id, owner)
        except DATABASE_DOWN as exc:
            # The key stays locked until its in-progress lease passes.
            log.warning("idempotency.not_released", extra={"error": repr(exc)[:300]})

    async def _repeat(self, scope: Scope, receive: Receive, send: Send, record: Doc) -> None:
        """A request with a key seen before: 409 while it runs, then replay or 422."""
        if record["state"] != DONE:
            await _answer(
                send,
                409,
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                {"Retry-After": "1"},
            )
            return
        hasher = _RequestHasher(scope)
        await hasher.drain(receive)
        if hasher.disconnected and not hasher.complete:
            return  # the client went away; there is nobody to answer
        if hasher.hexdigest() != record["request_hash"]:
            await _answer(
                send,
                422,
                "idempotency_key_reused",
                "this key was used for a different request",
            )
            return
        body = bytes(record["body"])
        headers = [
            (str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in record["headers"]
        ]
        headers += [
            (b"content-length", str(len(body)).encode()),
            (REPLAY_HEADER.encode(), b"true"),
        ]
        await send({"type": "http.response.start", "status": record["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _answer(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    """A JSON error answered by the middleware itself."""
    body = json.dumps(error_body(code, message)).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
