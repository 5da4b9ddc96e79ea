"""The embedded database (SecantusDB) as `make infra` starts it, with one setting its command
line does not offer: how long a transaction may stay open.

A service killed in the middle of a transaction leaves it open, holding its documents; every
other writer to them retries until the database aborts it at this limit. SecantusDB (like
MongoDB's `transactionLifetimeLimitSeconds`) waits 60 s, so each crash stalled the whole flow
for a minute (the SIGKILL tests: 63 s each, 12 s with 10 s). Aviary's transactions last
milliseconds; 10 s leaves them a wide margin. Production's MongoDB gets the same limit
(deploy/: `transactionLifetimeLimitSeconds`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from secantus.server import SecantusDBServer

TRANSACTION_LIFETIME_S = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--storage-path", required=True)
    parser.add_argument("--transaction-lifetime", type=float, default=TRANSACTION_LIFETIME_S)
    args = parser.parse_args()
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
    server.start()
    server.wait()


if __name__ == "__main__":
    main()
