"""`cluster`: the 2,000-image flow on the clustered stack beside the single-node one, then
the node-fault chaos scenario on the cluster."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from aviary_devkit.bench.figures.scale import e2e_at_scale
from aviary_devkit.bench.figures.setups import Figures
from aviary_devkit.processes import ROOT

CLUSTER = ROOT / "scripts" / "cluster.py"


def cluster(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(CLUSTER), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def bench_cluster(runs: int) -> Figures:
    """The 2,000-image flow on the clustered stack (three broker nodes, three volume servers,
    two processes per service) beside the same flow on the single-node stack; then the
    node-fault chaos scenario on the cluster (a broker node killed, another restarted, a
    volume server killed), whose lost and duplicated images are the figures."""
    images = 2000
    single = [e2e_at_scale(images, 1)[0] for _ in range(runs)]
    print(f"  single node: {statistics.median(single):.0f} s for {images} images", flush=True)
    urls = json.loads(cluster("urls"))
    cluster("infra")
    try:
        stack = {
            "amqp_urls": urls["amqp"],
            "quorum_group_size": len(urls["amqp"]),
            "s3_endpoint": urls["s3"],
        }
        clustered = [e2e_at_scale(images, 2, stack, replicas=2)[0] for _ in range(runs)]
        print(f"  cluster: {statistics.median(clustered):.0f} s for {images} images", flush=True)
    finally:
        if not urls["running"]:
            cluster("down")
    env = {**os.environ, "AVIARY_CHAOS_IMAGES": "200"}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "chaos", "tests/chaos/test_cluster.py"],
        check=True,
        cwd=ROOT,
        env=env,
    )
    report = json.loads((ROOT / "var" / "chaos" / "report.json").read_text())
    (row,) = [t for t in report["tests"] if t["test"] == "cluster-node-faults"]
    return {
        "cluster_images_per_hour": round(images / statistics.median(clustered) * 3600),
        "single_node_images_per_hour": round(images / statistics.median(single) * 3600),
        "cluster_node_kill_images": row["images_in"],
        "cluster_node_kill_lost": row["lost"],
        "cluster_node_kill_duplicated": row["duplicates"],
        "cluster_node_kill_stuck": row["tasks_stuck"],
    }
