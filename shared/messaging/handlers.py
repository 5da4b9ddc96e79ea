"""Building idempotent event handlers: parse the payload, apply it once, in one transaction."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.events import Envelope, EventData
from shared.messaging import Handler
from shared.store.batching import Batcher
from shared.store.mongo import AsyncClientSession, ServiceDatabase, utcnow

E = TypeVar("E", bound=EventData)

# How long a group waits for more events before its transaction starts. Each group costs the
# database a marker insert and a commit besides its own writes; at the pace of the e2e flow
# 10 ms made groups about a fifth larger (about 4 of 45 operations an image fewer), and a
# busy consumer's groups fill while the one before is written anyway.
GROUP_GATHER_S = 0.01


@dataclass(frozen=True)
class KeyedWrites(Generic[E]):
    """How a handler's own writes mark its events applied: each event's `key` is the `_id` of
    a document its transaction inserts, and `written(keys)` returns the keys found stored."""

    key: Callable[[E], str]
    written: Callable[[Sequence[str]], Awaitable[set[str]]]


def apply_once(
    database: ServiceDatabase,
    model: type[E],
    apply: Callable[[AsyncClientSession, E], Awaitable[None]],
    after: Callable[[E], object] | None = None,
) -> Handler:
    """A handler that runs `apply` for each new event id, and `after(event)` (a function or a
    coroutine function) once it committed."""

    async def handle(envelope: Envelope) -> None:
        event = model.model_validate(envelope.data)

        async def unit(session: AsyncClientSession) -> None:
            await apply(session, event)

        applied = await database.apply_once(envelope.event_id, unit)
        if applied and after is not None:
            result = after(event)
            if inspect.isawaitable(result):
                await result

    return handle


def apply_once_in_groups(
    database: ServiceDatabase,
    model: type[E] | tuple[type[E], ...],
    apply_many: Callable[[AsyncClientSession, Sequence[E]], Awaitable[None]],
    after: Callable[[Sequence[E]], object] | None = None,
    max_group: int = 100,
    idempotent: bool = False,
    keyed: KeyedWrites[E] | None = None,
) -> Handler:
    """Like `apply_once`, for events that arrive fast: the events being handled at the same
    moment (up to the consumer's prefetch) share one transaction and one bulk of processed
    markers. A group that fails is retried one event at a time, so only the event at fault
    is retried or dead-lettered, and a redelivered event is still applied once.

    `idempotent`: `apply_many` given an event it applied before changes nothing (a flag set
    where not set yet, counted when it was set), so no processed markers are written or read:
    a marker is a document per event for the database to write and, later, delete.

    `keyed`: `apply_many` inserts a document under a key of each event's own (a submission's
    id), which fails a redelivered event's group as its marker would; no marker is written,
    and the documents under those keys say which events were applied before.

    `model` may name several event types, each parsed by its envelope's type: events of
    different kinds that write the same documents then share one group, where two groups in
    flight at once would conflict on those documents and retry."""
    parse = _parser(model)

    async def apply_group(parsed: Sequence[tuple[Envelope, E]]) -> list[BaseException | None]:
        fresh: dict[str, E] = {}
        for envelope, event in parsed:
            fresh.setdefault(envelope.event_id, event)
        # Nothing is read first: a redelivery is rare, and its marker's duplicate key (or its
        # keyed write's) fails the transaction; the group then goes again
        # without the events applied before. (A read before each group was 3.6 of the e2e
        # flow's 58 database operations an image.)
        failure = await _commit(fresh)
        if failure is not None and not idempotent:
            seen = await _applied_before(fresh)
            fresh = {event_id: e for event_id, e in fresh.items() if event_id not in seen}
            if seen:  # redelivered: the others again, or nothing left to do
                failure = await _commit(fresh) if fresh else None
        if failure is not None:
            if len(parsed) == 1:
                raise failure
            return [await _one(one) for one in parsed]
        if fresh and after is not None:
            result = after(list(fresh.values()))
            if inspect.isawaitable(result):
                await result
        return [None] * len(parsed)

    async def _applied_before(fresh: dict[str, E]) -> set[str]:
        """The event ids among `fresh` that a committed transaction applied."""
        if keyed is not None:
            written = await keyed.written([keyed.key(e) for e in fresh.values()])
            return {event_id for event_id, e in fresh.items() if keyed.key(e) in written}
        found = database.processed.find({"_id": {"$in": list(fresh)}}, {"_id": 1})
        return {d["_id"] for d in await found.to_list(None)}

    async def _commit(fresh: dict[str, E]) -> Exception | None:
        """The events and their processed markers (none when `idempotent` or `keyed`) in one
        transaction; the error, if any."""

        async def unit(session: AsyncClientSession) -> None:
            if not idempotent and keyed is None:
                now = utcnow()
                await database.processed.insert_many(
                    [{"_id": event_id, "at": now} for event_id in fresh], session=session
                )
            await apply_many(session, list(fresh.values()))

        try:
            await database.transaction(unit)
        except Exception as exc:
            return exc
        return None

    async def _one(one: tuple[Envelope, E]) -> BaseException | None:
        try:
            await apply_group([one])
        except Exception as exc:
            return exc
        return None

    batcher: Batcher[tuple[Envelope, E], None] = Batcher(
        apply_group, max_size=max_group, gather_s=GROUP_GATHER_S
    )

    async def handle(envelope: Envelope) -> None:
        event = parse(envelope)  # a payload that does not parse fails alone, here
        await batcher.submit((envelope, event))

    return handle


def _parser(model: type[E] | tuple[type[E], ...]) -> Callable[[Envelope], E]:
    """Parses an envelope's payload with `model`, or with the one of several that its type
    names (a type none of them names is an error)."""
    if not isinstance(model, tuple):
        return lambda envelope: model.model_validate(envelope.data)
    by_key = {m.routing_key: m for m in model}

    def parse(envelope: Envelope) -> E:
        found = by_key.get(envelope.type)
        if found is None:
            raise ValueError(f"no handler in this group for {envelope.type.value}")
        return found.model_validate(envelope.data)

    return parse
