"""`onboarding`: what the onboarding gate saves reviewers, in a simulation against running
services (aviary_devkit/sim/onboarding_sim.py holds the model of learning; docs/onboarding.md
repeats it).

Each run labels the same number of street scenes twice, with a mix of new annotators (some who
learn from feedback, some who do not): once in a project that asks for training and an exam
(`gated`), once in one that does not (`open`). Figures (median of the runs, each run with its
own seed):
- `onboarding_rework_ratio`: the share of production submissions rejected in the open project
  over that share in the gated one (goal 2 or more);
- `onboarding_accepted_per_reviewer_hour_ratio`: accepted work per simulated reviewer hour,
  gated over open (goal 1.5 or more);
and beside them each mode's own shares, rates and admissions.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics

import httpx

from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ROOT, ServiceSet, cleanup_namespace, isolated_settings
from aviary_devkit.sim.onboarding_sim import OnboardingSim, Outcome
from shared.settings import SERVICE_PORTS


def bench_onboarding(runs: int) -> Figures:
    settings = isolated_settings()
    logs = ROOT / "var" / "bench" / "onboarding-logs"
    shutil.rmtree(logs, ignore_errors=True)
    services = ServiceSet(settings, logs, port_offset=22_000)
    pairs: list[tuple[Outcome, Outcome]] = []
    try:
        services.start_all()
        for name in SERVICE_PORTS:
            services.wait_ready(name)
        with httpx.Client(timeout=60) as http:
            for run in range(runs):
                sim = OnboardingSim(services, http, seed=run)
                gated, open_ = sim.run(gated=True), sim.run(gated=False)
                pairs.append((gated, open_))
                for label, o in (("gated", gated), ("open", open_)):
                    print(
                        f"  run {run} {label}: {o.submissions} submissions, {o.rejected} "
                        f"rejected ({o.rework_share:.2f}), {o.accepted} accepted, "
                        f"{o.accepted_per_reviewer_hour:.0f}/reviewer hour, {len(o.admitted)} "
                        f"admitted, {o.retrained} retrained, {o.onboarding_tasks} onboarding "
                        f"tasks, {o.seconds:.0f} s; "
                        f"q at the end {o.people}",
                        flush=True,
                    )
    finally:
        services.stop_all()
        asyncio.run(cleanup_namespace(settings))

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    return {
        "onboarding_rework_ratio": median(
            [o.rework_share / max(g.rework_share, 1e-9) for g, o in pairs]
        ),
        "onboarding_accepted_per_reviewer_hour_ratio": median(
            [g.accepted_per_reviewer_hour / o.accepted_per_reviewer_hour for g, o in pairs]
        ),
        "onboarding_rework_share_gated": median([g.rework_share for g, _ in pairs]),
        "onboarding_rework_share_open": median([o.rework_share for _, o in pairs]),
        "onboarding_accepted_per_reviewer_hour_gated": median(
            [g.accepted_per_reviewer_hour for g, _ in pairs]
        ),
        "onboarding_accepted_per_reviewer_hour_open": median(
            [o.accepted_per_reviewer_hour for _, o in pairs]
        ),
        "onboarding_admitted_gated": median([len(g.admitted) for g, _ in pairs]),
    }


if __name__ == "__main__":
    print(bench_onboarding(1))
