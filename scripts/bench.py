"""`make bench`: run the benchmarks, print a table, record the figures.

    python scripts/bench.py                 # every benchmark
    python scripts/bench.py --only e2e      # one of them

Figures go, as one flat JSON object keyed as the issues name them, into
var/bench/results.json (merged with earlier figures), and a dated table into
docs/benchmarks.md. Each benchmark (devkit/aviary_devkit/bench/figures/<name>.py) brings up
what it needs itself, in a namespace of its own, and reports the median of several runs: this
machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aviary_devkit.bench.figures import (
    assist,
    cluster,
    dashboard,
    dispatch,
    e2e,
    export,
    growth,
    ingest,
    interop,
    onboarding,
    pipeline,
    privacy,
    review,
    scale,
    speech,
    ui,
    url_import,
    video,
)
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ROOT

RESULTS = ROOT / "var" / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"


def ensure_infra() -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stack.py"), "infra"], check=True)


OPT_IN = frozenset({"scale", "growth", "cluster"})
BENCHMARKS: dict[str, Callable[[int], Figures]] = {
    "e2e": e2e.bench_e2e,
    "ingest": ingest.bench_ingest,
    "export": export.bench_export,
    "dispatch": dispatch.bench_dispatch,
    "review": review.bench_review,
    "scale": scale.bench_scale,
    "pipeline": pipeline.bench_pipeline,
    "url_import": url_import.bench_url_import,
    "growth": growth.bench_growth,
    "cluster": cluster.bench_cluster,
    "video": video.bench_video,
    "speech": speech.bench_speech,
    "assist": assist.bench_assist,
    "interop": interop.bench_interop,
    "ui": ui.bench_ui,
    "dashboard": dashboard.bench_dashboard,
    "privacy": privacy.bench_privacy,
    "onboarding": onboarding.bench_onboarding,
}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def record(figures: Figures, names: list[str], runs: int) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **figures}, indent=2, sort_keys=True) + "\n")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(f"| `{k}` | {v:g} |" for k, v in figures.items())
    section = (
        f"\n## {stamp}: `make bench{' BENCH=' + names[0] if len(names) == 1 else ''}`\n\n"
        f"Machine: {machine()}; embedded stack; median of {runs} runs.\n\n"
        f"| figure | value |\n| --- | --- |\n{rows}\n"
    )
    # Keep the page's introduction (everything before the first dated section) as it is.
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    intro, sep, sections = text.partition("\n## ")
    DOC.write_text(intro.rstrip("\n") + "\n" + section + (sep + sections if sep else ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=sorted(BENCHMARKS))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # The 2,000-image runs take long on this machine: run them on purpose (BENCH=scale).
    names = [args.only] if args.only else [n for n in BENCHMARKS if n not in OPT_IN]
    ensure_infra()
    figures: Figures = {}
    for name in names:
        print(f"bench {name} ...", flush=True)
        started = time.monotonic()
        figures.update(BENCHMARKS[name](args.runs))
        print(f"bench {name} done in {time.monotonic() - started:.0f} s", flush=True)
    width = max(map(len, figures))
    print("\n" + "\n".join(f"{k:<{width}}  {v:g}" for k, v in figures.items()))
    record(figures, names, args.runs)
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}, {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
