"""Container HEALTHCHECK: GET /healthz on this container's service port; exit 0 when it answers 200.

The slim image has no curl, so this uses urllib. The port is `AVIARY_PORT` when set, else the
default port of the service this container runs, read from the `python -m services.<name>`
command line of a process in the container (PID 1 normally; any process when an init runs).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from shared.settings import SERVICE_PORTS


def _service_from_cmdlines() -> str | None:
    pids = ["1", *sorted(p.name for p in Path("/proc").iterdir() if p.name.isdigit())]
    for pid in pids:
        try:
            args = (Path("/proc") / pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in args:
            name = arg.decode(errors="replace").removeprefix("services.")
            if arg.startswith(b"services.") and name in SERVICE_PORTS:
                return name
    return None


def port() -> int:
    explicit = os.environ.get("AVIARY_PORT", "").strip()
    if explicit and explicit != "0":
        return int(explicit)
    service = _service_from_cmdlines()
    if service is None:
        raise SystemExit("healthcheck: no AVIARY_PORT and no `services.<name>` process found")
    return SERVICE_PORTS[service]


def main() -> int:
    url = f"http://127.0.0.1:{port()}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            ok = response.status == 200
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
