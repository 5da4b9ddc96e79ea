"""What the test run does when a test hangs until its timeout: show why, then stop early.

A hang in the embedded stack rarely stays alone: once the embedded database's transaction
registry is stuck, every later test that closes a client waits for its own full timeout
(once that held a CI run for 80 minutes on one cause). So the run prints what the database's
threads are doing, where py-spy can read them, and stops after a second timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from aviary_devkit.processes import ROOT

TIMEOUTS_BEFORE_STOP = 2
DATABASE_PIDFILE = ROOT / "var" / "run" / "secantusdb.pid"


def is_timeout(longrepr: object) -> bool:
    """pytest-timeout fails a test with this text, whichever method it uses."""
    return "Timeout (>" in str(longrepr)


def database_stacks(pidfile: Path = DATABASE_PIDFILE, timeout_s: float = 30.0) -> str:
    """Every thread's stack in the embedded database process, or why there are none."""
    spy = shutil.which("py-spy") or _beside_python("py-spy")
    if spy is None:
        return "py-spy is not installed: no stacks of the database"
    try:
        pid = pidfile.read_text().strip()
    except OSError:
        return f"no pid file at {pidfile}: the database was not started by scripts/stack.py"
    try:
        done = subprocess.run(  # noqa: S603 - py-spy and a pid from our own pid file
            [spy, "dump", "--idle", "--pid", pid],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"py-spy could not read process {pid}: {exc}"
    return done.stdout + done.stderr


def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None
