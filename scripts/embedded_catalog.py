"""A cache of SecantusDB 0.7.0b3's catalog (which collections exist, with which options and
indexes), patched in by the launcher (embedded_mongo.py).

Every write reads its collection's catalog from WiredTiger several times over: whether the
collection exists, its options, its index list (for the unique checks, the partial filters,
the geo checks and the index entries, each a walk of the index table with a bson decode per
index). Under the accept pipeline that was 27% of the server's CPU, for rows that change only
when a collection or an index is created, changed or dropped.

The cache keeps each collection's rows as the bytes stored, decoded anew for every caller (no
caller can change another's copy), and answers only while no catalog change is in flight:
- A method that writes the catalog first empties the cache and opens a *change*: while any
  change is open the cache answers nothing and keeps nothing, so every read is the server's
  own, through the reader's own snapshot, as without the cache.
- A change closes when what wrote it is committed or rolled back: at the end of the command
  that made it, or, inside a multi-document transaction, when that transaction's session is
  closed (commit or abort). Then the cache starts empty again.
- A row is kept only if it was read through a fresh session (the latest committed state) and
  no change opened or closed meanwhile (a generation counter says so).
So a reader inside an older transaction gets the latest committed catalog, not the one its
snapshot would show: an index made since, it writes entries for (the server alone left it
out of such an index), an index dropped since, it no longer writes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import bson
import secantus.server
import wiredtiger as wt  # type: ignore[import-untyped]
from secantus import storage as secantus_storage
from secantus.storage import Storage

# More collections than this (many test namespaces) empty the cache rather than grow it.
MOST_KEPT = 20_000
ABSENT = b"\x00absent"  # `_coll_options` answers None: no such collection
Key = tuple[str, str]  # database, collection
V = TypeVar("V")

# The methods that write the catalog tables (every write to them in 0.7.0b3 is in one of
# these, or in `_ensure_collection` / `_maybe_mark_multikey`, patched apart).
CATALOG_WRITERS = (
    "create_collection",
    "set_collection_options",
    "_write_coll_options",
    "drop_collection",
    "drop_database",
    "rename_collection",
    "create_index",
    "drop_index",
    "drop_all_indexes",
    "set_index_expiry",
    "set_index_options",
    "_recover_pending_drops_locked",
)


class CatalogCache:
    """One storage's cached rows, its open changes and its generation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.open_changes = 0
        self.collections: dict[Key, bytes] = {}
        self.indexes: dict[Key, list[tuple[str, bytes]]] = {}
        self.changed_txns: dict[int, Any] = {}  # held, so an id is not reused meanwhile

    @staticmethod
    def of(storage: Storage) -> CatalogCache:
        cache: CatalogCache | None = storage.__dict__.get("_catalog_cache")
        if cache is None:
            cache = storage.__dict__.setdefault("_catalog_cache", CatalogCache())
        return cache

    def _forget_locked(self) -> None:
        self.generation += 1
        self.collections.clear()
        self.indexes.clear()

    def open_change(self, storage: Storage) -> Callable[[], None] | None:
        """Before a catalog write: empty the cache and keep it empty until the write is
        committed. Returns the closing call when the caller itself must make it (a write
        outside any command or transaction: the server's own threads)."""
        txn = getattr(storage._tls, "user_txn", None)
        with self.lock:
            self._forget_locked()
            if txn is not None:
                if id(txn) not in self.changed_txns:
                    self.changed_txns[id(txn)] = txn
                    self.open_changes += 1
                return None
            if COMMANDS.level > 0:
                if COMMANDS.note_change(self):
                    self.open_changes += 1
                return None
            self.open_changes += 1
        return self.close_change

    def close_change(self) -> None:
        with self.lock:
            self.open_changes -= 1
            self._forget_locked()

    def transaction_closed(self, txn: Any) -> None:
        with self.lock:
            if self.changed_txns.pop(id(txn), None) is None:
                return
        self.close_change()

    def rows(
        self, storage: Storage, kept: dict[Key, V], key: Key, read: Callable[[], V]
    ) -> V | None:
        """`key`'s rows from `kept`, read through a fresh session (the latest committed
        state) and kept on a miss; None while a change is open."""
        with self.lock:
            if self.open_changes:
                return None
            generation = self.generation
        value = kept.get(key)
        if value is None:
            with storage._committed_read_scope():
                value = read()
            with self.lock:  # kept only if no change opened or closed meanwhile
                if self.open_changes or generation != self.generation:
                    return value
                if len(self.collections) + len(self.indexes) > MOST_KEPT:
                    self._forget_locked()
                else:
                    kept[key] = value
        return value


class Commands(threading.local):
    """Per server thread: how deep in a command it is, and the caches whose changes it
    opened (they close when the outermost command returns)."""

    def __init__(self) -> None:
        self.level = 0
        self.changed: list[CatalogCache] = []

    def note_change(self, cache: CatalogCache) -> bool:
        """True the first time this command changes `cache`'s catalog."""
        if any(c is cache for c in self.changed):
            return False
        self.changed.append(cache)
        return True

    @contextlib.contextmanager
    def command(self) -> Iterator[None]:
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1
            if self.level == 0:
                changed, self.changed = self.changed, []
                for cache in changed:
                    cache.close_change()


COMMANDS = Commands()


def _read_collection_row(storage: Storage, db: str, coll: str) -> bytes:
    c = storage._cursor(secantus_storage._COLL_TABLE)
    c.set_key(db, coll)
    if c.search() != 0:
        return ABSENT
    return bytes(c.get_value())


def _read_index_rows(storage: Storage, db: str, coll: str) -> list[tuple[str, bytes]]:
    """`Storage._iter_indexes`'s walk, keeping the stored bytes."""
    c = storage._cursor(secantus_storage._IDX_TABLE)
    c.set_key(db, coll, "")
    rc = c.search_near()
    if rc == wt.WT_NOTFOUND or (rc < 0 and c.next() != 0):
        return []
    rows: list[tuple[str, bytes]] = []
    while True:
        key = c.get_key()
        if key[0] != db or key[1] != coll:
            return rows
        rows.append((key[2], bytes(c.get_value())))
        if c.next() != 0:
            return rows


def _collection_row(storage: Storage, db: str, coll: str) -> bytes | None:
    """The collection's stored options row (ABSENT: no such collection), or None while a
    change is open."""
    cache = CatalogCache.of(storage)
    return cache.rows(
        storage, cache.collections, (db, coll), lambda: _read_collection_row(storage, db, coll)
    )


def install() -> None:
    """Patch the cache into SecantusDB's storage and command dispatch."""
    coll_options = Storage._coll_options
    iter_indexes = Storage._iter_indexes
    ensure_collection = Storage._ensure_collection
    mark_multikey = Storage._maybe_mark_multikey
    close_txn_session = Storage._close_user_txn_session
    dispatch = secantus.server.dispatch

    def cached_coll_options(self: Storage, db: str, coll: str) -> dict[str, Any] | None:
        row = _collection_row(self, db, coll)
        if row is None:
            options: dict[str, Any] | None = coll_options(self, db, coll)
            return options
        if row == ABSENT:
            return None
        return bson.decode(row) if row else {}

    def cached_iter_indexes(
        self: Storage, db: str, coll: str
    ) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        cache = CatalogCache.of(self)
        rows = cache.rows(self, cache.indexes, (db, coll), lambda: _read_index_rows(self, db, coll))
        if rows is None:
            yield from iter_indexes(self, db, coll)
            return
        for name, row in rows:
            payload = bson.decode(row)
            yield name, payload.get("key", {}), payload.get("options", {})

    def cached_ensure_collection(self: Storage, db: str, coll: str) -> None:
        row = _collection_row(self, db, coll)
        if row is not None and row != ABSENT:
            return  # it exists: the server's own check would write nothing
        if coll_options(self, db, coll) is not None:  # as this reader's snapshot sees it
            return
        close = CatalogCache.of(self).open_change(self)
        try:
            ensure_collection(self, db, coll)
        finally:
            if close is not None:
                close()

    def marking_multikey(self: Storage, db: str, coll: str, *args: Any) -> set[str]:
        before = set(args[-1])
        after: set[str] = mark_multikey(self, db, coll, *args)
        if after - before:  # an index flagged multikey in the catalog just now
            close = CatalogCache.of(self).open_change(self)
            if close is not None:
                close()
        return after

    def closing_txn_session(self: Storage, handle: Any) -> None:
        was_open = not handle.closed
        close_txn_session(self, handle)
        if was_open:
            CatalogCache.of(self).transaction_closed(handle)

    def counted_dispatch(*args: Any, **kwargs: Any) -> Any:
        with COMMANDS.command():
            return dispatch(*args, **kwargs)

    for name in CATALOG_WRITERS:
        setattr(Storage, name, _changing(getattr(Storage, name)))
    Storage._coll_options = cached_coll_options
    Storage._iter_indexes = cached_iter_indexes
    Storage._ensure_collection = cached_ensure_collection
    Storage._maybe_mark_multikey = marking_multikey
    Storage._close_user_txn_session = closing_txn_session
    secantus.server.dispatch = counted_dispatch


def _changing(method: Callable[..., Any]) -> Callable[..., Any]:
    def changing(self: Storage, *args: Any, **kwargs: Any) -> Any:
        close = CatalogCache.of(self).open_change(self)
        try:
            return method(self, *args, **kwargs)
        finally:
            if close is not None:
                close()

    changing.__name__ = method.__name__
    return changing
