"""Node faults on the clustered stack (scripts/cluster.py): a RabbitMQ node killed, another
restarted, a SeaweedFS volume server killed, in the middle of the demo's whole flow, with two
processes of each service. Like test_faults.py, the test passes only if every image is
delivered exactly once, with the right boxes, and no task is left pending or leased; its row
goes to var/chaos/report.json.

The cluster is started here (and stopped afterwards) unless `make infra CLUSTER=1` already
runs it, so plain `make chaos` runs this too. 100 images by default (AVIARY_CHAOS_IMAGES).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aviary_devkit.processes import ROOT, ServiceSet, isolated_settings, running
from aviary_devkit.sim.flow import Flow
from shared.settings import SERVICE_PORTS
from shared.store.storage import ObjectStorage
from tests.chaos.test_faults import Fault, check, run_with_faults, tally

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(1500)]

IMAGES = int(os.environ.get("AVIARY_CHAOS_IMAGES", "100"))
SCRIPT = ROOT / "scripts" / "cluster.py"
# Must agree with scripts/cluster.py (a script, not an importable module).
NODE_PORTS = {"a": 5681, "b": 5682, "c": 5683}
S3_PORT = 8433
MASTER_PORT = 9533
VOLUME_PORTS = {1: 8581, 2: 8582, 3: 8583}
REPLICAS = 2  # processes per service


def cluster(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.stdout


def connections() -> dict[str, int]:
    """AMQP client connections per RabbitMQ node."""
    counts: dict[str, int] = json.loads(cluster("connections"))
    return counts


def volumes_on(server: int, collection: str) -> int:
    """Volumes of a bucket (a SeaweedFS collection) that a volume server holds."""
    url = f"http://127.0.0.1:{MASTER_PORT}/vol/status"
    with urllib.request.urlopen(url, timeout=10) as r:
        status = json.load(r)
    held = 0
    for racks in (status["Volumes"].get("DataCenters") or {}).values():
        for nodes in racks.values():
            volumes = nodes.get(f"127.0.0.1:{VOLUME_PORTS[server]}") or []
            held += sum(1 for v in volumes if v["Collection"] == collection)
    return held


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def clustered_stack() -> Iterator[None]:
    """The clustered infrastructure; stopped afterwards if this test started it."""
    was_up = all(port_open(p) for p in (*NODE_PORTS.values(), S3_PORT))
    cluster("infra")
    try:
        yield
    finally:
        if not was_up:
            cluster("down")


@pytest.fixture(scope="module")
def cluster_services(
    clustered_stack: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceSet]:
    """Two processes of each service (ports 32001.. and 32011..) on the cluster, in a
    namespace of their own. The flow talks HTTP to the first of each; both consume."""
    settings = isolated_settings(
        lease_ttl_s=20,
        amqp_urls=[f"amqp://guest:guest@127.0.0.1:{p}/" for p in NODE_PORTS.values()],
        quorum_group_size=len(NODE_PORTS),
        s3_endpoint=f"127.0.0.1:{S3_PORT}",
    )
    with running(settings, tmp_path_factory.mktemp("cluster-logs"), port_offset=24_000) as s:
        for replica in range(1, REPLICAS):
            for name in SERVICE_PORTS:
                s.start_replica(name, replica)
            for name in SERVICE_PORTS:
                s.wait_ready(f"{name}-{replica}", 120)
        yield s


async def wait_for_connections(total: int, away_from: str | None, timeout: float = 120) -> None:
    """Until `total` connections are open again, none of them on node `away_from`."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = await asyncio.to_thread(connections)
        if sum(counts.values()) == total and (away_from is None or counts[away_from] == 0):
            return
        await asyncio.sleep(1)
    raise AssertionError(f"connections did not come back to {total}: {counts}")


class NodeFaults:
    """The faults, and what they hit (checked after the flow)."""

    def __init__(self) -> None:
        self.processes = 0  # AMQP connections before the first fault: one per process
        self.killed = ""  # the RabbitMQ node killed, and its connections then
        self.killed_had = 0
        self.restarted = ""
        self.restarted_had = 0
        self.volume_killed = 0
        self.volume_held = 0  # volumes of the images bucket on it when it was killed

    def kill_volume_server(self, number: int) -> Callable[[ServiceSet, Flow], Awaitable[None]]:
        async def inject(services: ServiceSet, f: Flow) -> None:
            bucket = services.settings.images_bucket
            self.volume_held = await asyncio.to_thread(volumes_on, number, bucket)
            await asyncio.to_thread(cluster, "kill-volume", str(number))
            self.volume_killed = number  # left down until the flow has ended

        return inject

    async def kill_busiest_node(self, services: ServiceSet, f: Flow) -> None:
        """kill -9 the RabbitMQ node holding the most connections; the processes on it must
        move to the other two; then the node is started again and rejoins."""
        before = await asyncio.to_thread(connections)
        self.processes = sum(before.values())
        self.killed = max(before, key=lambda n: before[n])
        self.killed_had = before[self.killed]
        await asyncio.to_thread(cluster, "kill-rabbit", self.killed)
        await wait_for_connections(self.processes, away_from=self.killed)
        await asyncio.to_thread(cluster, "start-rabbit", self.killed)

    async def restart_other_node(self, services: ServiceSet, f: Flow) -> None:
        """A clean restart of another node that holds connections (once every quorum queue
        can spare it); its processes move, and every process is connected again after."""
        now = await asyncio.to_thread(connections)
        others = {n: c for n, c in now.items() if n != self.killed}
        self.restarted = max(others, key=lambda n: others[n])
        self.restarted_had = now[self.restarted]
        await asyncio.to_thread(cluster, "restart-rabbit", self.restarted)
        await wait_for_connections(self.processes, away_from=None)


async def read_every_image(services: ServiceSet) -> int:
    """Read every object of the images bucket; returns how many (all must be non-empty)."""
    storage = ObjectStorage(services.settings)
    bucket = services.settings.images_bucket
    keys = [k for k in await storage.list_keys(bucket, "") if "/sha256/" in k]
    for key in keys:
        assert await storage.get_bytes(bucket, key), key
    return len(keys)


async def test_flow_survives_node_faults_with_every_image_delivered_once(
    cluster_services: ServiceSet, report: list[dict[str, Any]], tmp_path: Path
) -> None:
    n = IMAGES
    faults = NodeFaults()
    scenario = [
        Fault(
            "kill -9 volume server 2", lambda s: s.uploaded >= 0.2 * n, faults.kill_volume_server(2)
        ),
        Fault("kill -9 a rabbitmq node", lambda s: s.uploaded >= 0.5 * n, faults.kill_busiest_node),
        Fault(
            "restart another node", lambda s: s.submissions >= 0.2 * n, faults.restart_other_node
        ),
    ]
    try:
        result, injected, seconds = await run_with_faults(
            cluster_services, tmp_path, scenario, seed=2000, images=n
        )
        # With the volume server still down, every stored image reads back from its other copy.
        readable = await read_every_image(cluster_services)
    finally:
        await asyncio.to_thread(cluster, "start-volume", "2")
    row = tally("cluster-node-faults", cluster_services, result, injected, seconds)
    report.append(row)
    check(row, result, tmp_path, images=n)
    # Every service process was connected (two of each), and each RabbitMQ fault hit a node
    # that processes were connected to.
    assert faults.processes >= REPLICAS * len(SERVICE_PORTS), vars(faults)
    assert faults.killed_had > 0 and faults.restarted_had > 0, vars(faults)
    assert faults.restarted != faults.killed, vars(faults)
    # The volume server held copies of images (each is on two of the three servers), and
    # every image of the flow read back without it.
    assert faults.volume_killed == 2 and faults.volume_held > 0, vars(faults)
    assert readable >= n, (readable, n)
