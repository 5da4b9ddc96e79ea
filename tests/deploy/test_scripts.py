"""The scripts that run the stack on one machine (scripts/stack.py, scripts/cluster.py) start
every service there is, on the ports shared/settings.py gives them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shared.messaging.topology import SUBSCRIPTIONS
from shared.settings import SERVICE_PORTS

ROOT = Path(__file__).resolve().parents[2]


def script(name: str) -> ModuleType:
    """A script loaded as a module (scripts/ is not a package)."""
    module_name = f"aviary_script_{Path(name).stem}"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[module_name]
    return module


def test_stack_runs_every_service_on_its_port() -> None:
    stack = script("stack.py")
    assert stack.SERVICES == SERVICE_PORTS
    assert set(SUBSCRIPTIONS) == set(SERVICE_PORTS)


def test_replicas_of_every_service_get_ports_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = script("stack.py")
    for name in SERVICE_PORTS:
        monkeypatch.setenv(f"{name.upper()}_REPLICAS", "1")
    processes = stack.instances(2)  # what scripts/cluster.py runs: two of each
    assert {service for _, service, _ in processes} == set(SERVICE_PORTS)
    ports = [port for _, _, port in processes]
    assert len(ports) == len(set(ports)) == len(SERVICE_PORTS)
    for name in SERVICE_PORTS:
        monkeypatch.delenv(f"{name.upper()}_REPLICAS")
    processes = stack.instances(2)
    ports = [port for _, _, port in processes]
    assert len(ports) == len(set(ports)) == 2 * len(SERVICE_PORTS)
    assert {f"{name}-1" for name in SERVICE_PORTS} <= {proc for proc, _, _ in processes}


def test_cluster_script_starts_what_stack_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # cluster.py imports stack.py
    cluster = script("cluster.py")
    assert cluster.stack.SERVICES == SERVICE_PORTS
    assert cluster.REPLICAS == 2
