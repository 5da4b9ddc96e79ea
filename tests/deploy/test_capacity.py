"""The production overlay's autoscaler maxima and docs/capacity.md come from one basis (the
measured cost of an image, deploy/k8s/overlays/production/capacity/basis.json) through one
model (scripts/capacity.py): a new measurement changes all three together or the suite says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.deploy.test_scripts import script

ROOT = Path(__file__).resolve().parents[2]


def test_the_overlay_maxima_are_derived_from_the_measured_basis() -> None:
    capacity = script("capacity.py")
    basis = capacity.Basis.read()
    for name, text in capacity.overlay_files(basis).items():
        assert (capacity.CAPACITY / name).read_text() == text, (
            f"{name} is not what the basis gives: run `python scripts/capacity.py --write`"
        )


def test_the_capacity_page_shows_the_model_of_the_basis() -> None:
    capacity = script("capacity.py")
    basis = capacity.Basis.read()
    page = (ROOT / "docs" / "capacity.md").read_text()
    assert capacity.table(basis) in page
    assert capacity.maxima_table(basis) in page
    assert basis.measured in page


def test_pods_follow_the_cost_and_the_minima_hold() -> None:
    capacity = script("capacity.py")
    basis = capacity.Basis.read()
    cheap = replace(basis, cpu_ms={s: 0.01 for s in capacity.SERVICES}, street_extra_ms={})
    assert all(
        capacity.maxima(cheap, s)
        == (capacity.ROOM * capacity.MIN_API, capacity.ROOM * capacity.MIN_WORKERS)
        for s in capacity.SERVICES
    )
    dear = replace(basis, cpu_ms={s: 100.0 for s in capacity.SERVICES}, street_extra_ms={})
    # 10 M a day: 347 images/s at peak, x100 CPU-ms = 34.7 CPU-s/s, 57.9 pods, x1.5 headroom.
    assert capacity.pods_at_peak(100.0, 10_000_000) == 100.0 * 10_000_000 / 86_400 * 3 / 600
    api, workers = capacity.maxima(dear, "ingest")
    assert (api, workers) == (61, 27)
