"""The embedded database (SecantusDB) as `make infra` starts it, with what its command line
does not offer: how long a transaction may stay open, three fixes, and no oplog.

A service killed in the middle of a transaction leaves it open, holding its documents; every
other writer to them retries until the database aborts it at this limit. SecantusDB (like
MongoDB's `transactionLifetimeLimitSeconds`) waits 60 s, so each crash stalled the whole flow
for a minute (the SIGKILL tests: 63 s each, 12 s with 10 s). Aviary's transactions last
milliseconds; 10 s leaves them a wide margin. Production's MongoDB gets the same limit
(deploy/: `transactionLifetimeLimitSeconds`).

It also mends three costs of SecantusDB 0.7.0b3 that every command paid (`fix_command_costs`;
written up for upstream in docs/upstream/secantusdb-command-costs.md; any other version runs
unpatched):
- Each command read its database's profiling level from a WiredTiger table, under the
  storage's one lock. The level changes only through the `profile` command, so it is kept in
  memory and forgotten when that command sets it (12-17% of the server's CPU on a load of
  finds and small transactions).
- Each transaction statement walked every transaction the server had seen since it started,
  to abort the ones idle past their lifetime, and none was ever forgotten: after 3,000
  sessions (service processes started and stopped, test runs) the same load cost the server
  3x its CPU. The walk now runs at most every `PRUNE_EVERY_S`, and forgets transactions
  finished more than `FINISHED_KEPT_S` ago (kept until then to answer a retried commit).
- Each write read its collection's catalog (options, index list) from WiredTiger several
  times over: a quarter of the server's CPU under the accept pipeline. embedded_catalog.py
  keeps it in memory while no catalog change is in flight.

And it keeps no oplog (`without_oplog`). The server runs as a one-node replica set because the
drivers allow transactions only there, and SecantusDB then writes every change a second time,
to its oplog, for change streams and point-in-time recovery. Aviary uses neither (the
production database is MongoDB's replica set; this one is for `make demo`, tests and
benchmarks): writing it was a fifth of the server's CPU (a load of finds and small
transactions: 9.1-9.6 CPU-s with it, 7.1-7.6 without).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

import embedded_catalog
import secantus
from secantus.server import SecantusDBServer
from secantus.storage import Storage
from secantus.transactions import TransactionRegistry, TxnState

TRANSACTION_LIFETIME_S = 10.0
FIXED_VERSIONS = {"0.7.0b3"}
PRUNE_EVERY_S = 0.5
FINISHED_KEPT_S = 60.0


def fix_command_costs() -> bool:
    """Patch the three per-command costs above into SecantusDB's classes; False (and nothing
    patched) on a version they were not measured on."""
    if secantus.__version__ not in FIXED_VERSIONS:
        print(f"embedded_mongo: SecantusDB {secantus.__version__}: running it unpatched")
        return False
    _cache_profile_settings()
    _bound_transaction_pruning()
    embedded_catalog.install()
    return True


def _cache_profile_settings() -> None:
    read, write = Storage.get_profile, Storage.set_profile
    lock = threading.Lock()

    def get_profile(self: Storage, db: str) -> dict[str, Any]:
        cache: dict[str, dict[str, Any]] = self.__dict__.setdefault("_profile_cache", {})
        settings = cache.get(db)
        if settings is None:
            with lock:
                settings = cache[db] = read(self, db)
        return dict(settings)

    def set_profile(self: Storage, db: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            self.__dict__.setdefault("_profile_cache", {}).pop(db, None)
            return write(self, db, *args, **kwargs)

    Storage.get_profile = get_profile
    Storage.set_profile = set_profile


def _bound_transaction_pruning() -> None:
    prune = TransactionRegistry._prune_locked

    def prune_now_and_then(self: TransactionRegistry) -> int:
        now = self._time()
        if now - self.__dict__.get("_pruned_at", float("-inf")) < PRUNE_EVERY_S:
            return 0
        self.__dict__["_pruned_at"] = now
        reaped = prune(self)
        finished_before = now - FINISHED_KEPT_S
        for lsid, txn in list(self._txns.items()):
            if txn.state is not TxnState.IN_PROGRESS and txn.last_use < finished_before:
                del self._txns[lsid]
        return int(reaped)

    TransactionRegistry._prune_locked = prune_now_and_then


def without_oplog(server: SecantusDBServer) -> None:
    """The storage's own mode for a server that is no replica set: changes are not copied to
    the oplog (change streams would see nothing; the replica set's other duties stay)."""
    server.storage.enable_oplog = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--storage-path", required=True)
    parser.add_argument("--transaction-lifetime", type=float, default=TRANSACTION_LIFETIME_S)
    args = parser.parse_args()
    fix_command_costs()
    server = SecantusDBServer(
        host=args.host,
        port=args.port,
        storage_path=args.storage_path,
        enable_test_commands=False,
        transaction_lifetime_seconds=args.transaction_lifetime,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    without_oplog(server)
    server.start()
    server.wait()


if __name__ == "__main__":
    main()
