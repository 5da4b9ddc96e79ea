"""The capacity model of docs/capacity.md, as arithmetic: what one delivered image costs each
service (measured, in `deploy/k8s/overlays/production/capacity/basis.json`) to pods at peak
and the production overlay's autoscaler maxima.

    python scripts/capacity.py            # the model's table (docs/capacity.md holds it)
    python scripts/capacity.py --write    # the overlay's per-service maxima, from the basis

After `make bench BENCH=e2e`, copy its medians into basis.json and run both; a test
(tests/deploy/test_capacity.py) holds the overlay and the page to the basis.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPACITY = ROOT / "deploy" / "k8s" / "overlays" / "production" / "capacity"
BASIS = CAPACITY / "basis.json"

SERVICES = ("ingest", "dispatch", "review", "export")
DAYS = {"1 M": 1_000_000, "10 M": 10_000_000}
PEAK_FACTOR = 3.0  # the peak hour carries three times the day's average rate
POD_CPU_MS_PER_S = 600.0  # one process, one CPU, scaled at 60 % of it
HEADROOM = 1.5  # the maxima leave room for a second peak
# Where each service's work happens: uploads and leases are API work, review's and export's
# consumers are worker work (the rest). An assumption; the e2e flow runs both roles in one.
API_SHARE = {"ingest": 0.7, "dispatch": 0.7, "review": 0.4, "export": 0.3}
MIN_API, MIN_WORKERS = 3, 2  # a node or a zone can go without losing a service
# A maximum is never under twice its minimum: room for a burst the model does not foresee.
ROOM = 2
DB_OPS_PER_CORE_S = 2_500.0  # a MongoDB primary's core, small documents (assumed, not measured)
DB_BUSY = 0.5  # the primary kept under half its cores at peak
MESSAGES_PER_IMAGE = 5  # item.ingested, task.submitted, item.accepted, rework, delivery
STORED_KB_PER_IMAGE = 400.0  # a 1920x1080 street scene
SECONDS_A_DAY = 86_400


@dataclass(frozen=True)
class Basis:
    """What the e2e benchmark measured per delivered image."""

    measured: str
    cpu_ms: dict[str, float]  # the e2e flow's 640x480 pictures
    db_ops: float
    db_kb: float
    # What a 1920x1080 street scene adds (ingest decodes every pixel of an upload).
    street_extra_ms: dict[str, float]

    @classmethod
    def read(cls, path: Path = BASIS) -> Basis:
        raw = json.loads(path.read_text())
        return cls(
            raw["measured"],
            raw["cpu_ms_per_image"],
            raw["db_ops_per_image"],
            raw["db_kb"],
            raw["street_scene_extra_cpu_ms"],
        )

    def cost(self, service: str) -> float:
        """CPU-ms one street scene costs the service."""
        return self.cpu_ms[service] + self.street_extra_ms.get(service, 0.0)


def peak_per_s(per_day: int) -> float:
    return per_day / SECONDS_A_DAY * PEAK_FACTOR


def pods_at_peak(cpu_ms: float, per_day: int) -> float:
    """Pods of work one service needs at the peak of `per_day` images."""
    return cpu_ms * peak_per_s(per_day) / POD_CPU_MS_PER_S


def maxima(basis: Basis, service: str) -> tuple[int, int]:
    """(API pods, worker pods) at most: the 10 M peak with headroom, and at least `ROOM`
    times the minima."""
    pods = pods_at_peak(basis.cost(service), DAYS["10 M"]) * HEADROOM
    api = API_SHARE[service]
    return (
        max(ROOM * MIN_API, math.ceil(pods * api)),
        max(ROOM * MIN_WORKERS, math.ceil(pods * (1 - api))),
    )


def table(basis: Basis) -> str:
    """The model's table, as docs/capacity.md shows it."""
    rows = [
        "| | " + " | ".join(f"{d} images/day" for d in DAYS) + " |",
        "| --- |" + " --- |" * len(DAYS),
        "| images/s, average / peak | "
        + " | ".join(f"{n / SECONDS_A_DAY:.1f} / {peak_per_s(n):.0f}" for n in DAYS.values())
        + " |",
    ]
    for service in SERVICES:
        cpu, extra = basis.cpu_ms[service], basis.street_extra_ms.get(service, 0.0)
        said = (
            f"{cpu:g} CPU-ms an image, + {extra:g} at 1920x1080"
            if extra
            else f"{cpu:g} CPU-ms an image"
        )
        rows.append(
            f"| {service}: pods of work at peak ({said}) | "
            + " | ".join(f"{pods_at_peak(basis.cost(service), n):.1f}" for n in DAYS.values())
            + " |"
        )
    ops = [basis.db_ops * peak_per_s(n) for n in DAYS.values()]
    cores = [math.ceil(o / DB_OPS_PER_CORE_S / DB_BUSY) for o in ops]
    gb = [basis.db_kb * n / 1e6 for n in DAYS.values()]
    tb = [STORED_KB_PER_IMAGE * n / 1e9 for n in DAYS.values()]
    messages = [MESSAGES_PER_IMAGE * peak_per_s(n) for n in DAYS.values()]
    rows += [
        f"| database operations/s at peak ({basis.db_ops:g} an image) | "
        + " | ".join(f"{o:,.0f}" for o in ops)
        + " |",
        f"| MongoDB primary cores ({DB_OPS_PER_CORE_S:,.0f} operations/s a core, "
        f"under {DB_BUSY:.0%}) | " + " | ".join(str(c) for c in cores) + " |",
        f"| database growth ({basis.db_kb:g} KB an image) | "
        + " | ".join(f"{g:.1f} GB a day" for g in gb)
        + " |",
        f"| object storage ({STORED_KB_PER_IMAGE:g} KB an image; erasure-coded, 2x raw) | "
        + " | ".join(f"{t:.1f} TB a day, {2 * t:.1f} TB raw" for t in tb)
        + " |",
        f"| broker messages/s at peak ({MESSAGES_PER_IMAGE} an image) | "
        + " | ".join(f"{m:,.0f}" for m in messages)
        + " |",
    ]
    return "\n".join(rows)


def maxima_table(basis: Basis) -> str:
    rows = ["| service | API pods (HPA) | worker pods (KEDA) |", "| --- | --- | --- |"]
    for service in SERVICES:
        api, workers = maxima(basis, service)
        rows.append(f"| {service} | {MIN_API} to {api} | {MIN_WORKERS} to {workers} |")
    return "\n".join(rows)


def overlay_files(basis: Basis) -> dict[str, str]:
    """The overlay's per-service patches, by file name."""
    files = {}
    for service in SERVICES:
        api, workers = maxima(basis, service)
        for role, kind, version, field, most in (
            ("api", "HorizontalPodAutoscaler", "autoscaling/v2", "maxReplicas", api),
            ("worker", "ScaledObject", "keda.sh/v1alpha1", "maxReplicaCount", workers),
        ):
            name = f"{service}-{role}"
            files[f"{name}.yaml"] = (
                f"# {name}: at most {most} pods, from docs/capacity.md (10 M images a day at "
                f"peak, x{HEADROOM:g}; scripts/capacity.py).\n"
                f"apiVersion: {version}\nkind: {kind}\nmetadata:\n  name: {name}\n"
                f"spec:\n  {field}: {most}\n"
            )
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the overlay's maxima")
    args = parser.parse_args()
    basis = Basis.read()
    print(f"Basis: {basis.measured}\n\n{table(basis)}\n\n{maxima_table(basis)}")
    if args.write:
        for name, text in overlay_files(basis).items():
            (CAPACITY / name).write_text(text)
        print(f"\nwritten: {CAPACITY.relative_to(ROOT)}/*.yaml")


if __name__ == "__main__":
    main()
