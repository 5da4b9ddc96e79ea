"""CPU time of whole processes, read from their own kernel counters.

A benchmark that asks "what does one image cost" must count the servers' CPU, not the load
generator's: each process's user + system time, threads included, from /proc/<pid>/stat,
sampled before and after the measured span.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces; the fields after its closing parenthesis do not.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def listener_pids(port: int) -> list[int]:
    """The processes listening on a local TCP port (which broker node, which database)."""
    found = subprocess.run(  # noqa: S603
        ["ss", "-Hltnp", f"sport = :{port}"],  # noqa: S607
        capture_output=True,
        text=True,
    ).stdout
    return sorted({int(pid) for pid in re.findall(r"pid=(\d+)", found)})


@dataclass
class CpuMeter:
    """CPU seconds per named group of processes between `start` and `stop`."""

    groups: Mapping[str, list[int]]

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        return {name: after[name] - self._before[name] for name in self.groups}

    def peak_rss_mb(self) -> dict[str, float]:
        return {name: sum(peak_rss_mb(p) for p in pids) for name, pids in self.groups.items()}
