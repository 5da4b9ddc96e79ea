"""The clustered stack on one machine (`make up CLUSTER=1`): what production looks like, small.

    python scripts/cluster.py up        # cluster infrastructure + two processes per service
    python scripts/cluster.py infra     # cluster infrastructure only (what the tests need)
    python scripts/cluster.py down      # stop only what this script started
    python scripts/cluster.py status
    python scripts/cluster.py env       # `export AVIARY_...` lines for a shell or the CLI

Why a module of its own: scripts/stack.py runs the single-node stack that every test and
benchmark shares (one RabbitMQ on 5672, SeaweedFS `weed mini` on 8333). Faults that matter in
production (a broker node lost, a storage server lost) cannot happen there: there is no other
node to fail over to. This script runs, beside it and without touching it:

- RabbitMQ: three nodes of Debian's rabbitmq-server (aviary-a/b/c@localhost, AMQP 5681-5683,
  distribution 25681-25683), joined with `rabbitmqctl join_cluster`, sharing an Erlang cookie
  written here. Each node has its own data and log directories, config file and an empty
  plugin list (no management plugin). Clients get every node's URL (AVIARY_AMQP_URLS) and
  fail over between them; quorum queues get three members (AVIARY_QUORUM_GROUP_SIZE=3).
- SeaweedFS: one master (9533), three volume servers (8581-8583) with default replication
  `001` (every file on two servers), a filer (8988) and the S3 gateway (8433).
- The database stays the one SecantusDB on 27017 (started by stack.py if absent): it has no
  replication to show; the namespace `cluster` keeps this stack's data apart.
- Two processes of each service on the usual ports (8001 and 8011 for ingest, and so on).

Everything lives under var/cluster/; pid files in var/cluster/run/ record what this script
started, so `down` stops exactly that. The fault commands below are for tests/chaos.

    python scripts/cluster.py kill-rabbit a      # SIGKILL of node a (all its processes)
    python scripts/cluster.py restart-rabbit b   # `rabbitmqctl stop`, then start it again
    python scripts/cluster.py start-rabbit a     # start a node that is down; wait until it
                                                 # is back in the cluster
    python scripts/cluster.py kill-volume 2      # SIGKILL of volume server 2
    python scripts/cluster.py start-volume 2
    python scripts/cluster.py connections        # JSON: AMQP connections per node
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import stack

ROOT = stack.ROOT
HOME = stack.VAR / "cluster"
RUN = HOME / "run"
LOGS = HOME / "log"
RABBIT = HOME / "rabbitmq"
WEED = HOME / "seaweedfs"
NAMESPACE = "cluster"
REPLICAS = 2  # processes per service (INGEST_REPLICAS etc. still override)


@dataclass(frozen=True)
class Node:
    """One RabbitMQ node of the cluster."""

    letter: str
    amqp_port: int

    @property
    def name(self) -> str:
        return f"aviary-{self.letter}@localhost"

    @property
    def dist_port(self) -> int:
        return self.amqp_port + 20_000

    @property
    def process(self) -> str:
        return f"rabbit-{self.letter}"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"


NODES = (Node("a", 5681), Node("b", 5682), Node("c", 5683))
MASTER_PORT = 9533
VOLUME_PORTS = (8581, 8582, 8583)
FILER_PORT = 8988
S3_PORT = 8433
REPLICATION = "001"  # one more copy on another server of the same rack


def node(letter: str) -> Node:
    for n in NODES:
        if n.letter == letter:
            return n
    raise SystemExit(f"no node {letter!r}: one of {', '.join(n.letter for n in NODES)}")


def amqp_urls() -> list[str]:
    return [n.url for n in NODES]


def service_env() -> dict[str, str]:
    """The settings that point a service (or the CLI) at this stack."""
    return {
        "AVIARY_NAMESPACE": NAMESPACE,
        "AVIARY_AMQP_URL": NODES[0].url,
        "AVIARY_AMQP_URLS": ",".join(amqp_urls()),
        "AVIARY_QUORUM_GROUP_SIZE": str(len(NODES)),
        "AVIARY_S3_ENDPOINT": f"127.0.0.1:{S3_PORT}",
    }


def spawn(
    name: str, argv: list[str], extra_env: dict[str, str] | None = None, cwd: Path = ROOT
) -> None:
    stack.spawn(name, argv, extra_env, run=RUN, logs=LOGS, cwd=cwd)


def wait_until(what: str, check: object, timeout: float = 90.0) -> None:
    stack.wait_until(what, check, timeout, logs=LOGS)


def running(name: str) -> int | None:
    return stack.running(name, RUN)


# ---- RabbitMQ ---------------------------------------------------------------------------------


def rabbit_bin(program: str) -> str:
    # Debian's /usr/sbin wrappers switch to the `rabbitmq` user (and its HOME, so its cookie)
    # when run as root; the scripts behind them run as whoever calls them.
    debian = Path("/usr/lib/rabbitmq/bin") / program
    if debian.exists():
        return str(debian)
    found = shutil.which(program)
    if found is None:
        raise SystemExit(f"{program} not found: install rabbitmq-server (apt-get)")
    return found


def rabbit_env(n: Node | None = None) -> dict[str, str]:
    """The environment of a node (or, without one, of the CLI tools)."""
    env = {
        # The Erlang cookie is read from $HOME/.erlang.cookie, by the nodes and the CLI.
        "HOME": str(RABBIT),
        # Our own (empty) env file: not /etc/rabbitmq/rabbitmq-env.conf, which names the
        # system node.
        "RABBITMQ_CONF_ENV_FILE": str(RABBIT / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(RABBIT / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    if n is not None:
        data = RABBIT / n.letter
        env |= {
            "RABBITMQ_NODENAME": n.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(n.amqp_port),
            "RABBITMQ_DIST_PORT": str(n.dist_port),
            "RABBITMQ_CONFIG_FILE": str(data / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(data / "advanced.config"),
            "RABBITMQ_MNESIA_BASE": str(data / "mnesia"),
            "RABBITMQ_LOG_BASE": str(data / "log"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
    return env


def rabbitmqctl(
    n: Node, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [rabbit_bin("rabbitmqctl"), "-n", n.name, *args],
        env={**os.environ, **rabbit_env()},
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def write_rabbit_files() -> None:
    RABBIT.mkdir(parents=True, exist_ok=True)
    cookie = RABBIT / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)  # Erlang refuses a cookie others can read
    (RABBIT / "rabbitmq-env.conf").write_text("# the cluster's nodes: see scripts/cluster.py\n")
    (RABBIT / "enabled_plugins").write_text("[].\n")  # no management plugin
    for n in NODES:
        (RABBIT / n.letter).mkdir(exist_ok=True)
        (RABBIT / n.letter / "rabbitmq.conf").write_text(
            "# Written by scripts/cluster.py. Ports and directories come from RABBITMQ_* in the\n"
            "# environment. With three nodes, a node cut off from the other two pauses instead\n"
            "# of serving a second, diverging copy of the queues.\n"
            "cluster_partition_handling = pause_minority\n"
            "log.console = false\n"
            "log.file.level = info\n"
        )


def start_node(n: Node) -> None:
    if stack.port_open(n.amqp_port):
        return
    print(f"starting rabbitmq node {n.name} (AMQP 127.0.0.1:{n.amqp_port})")
    # In its own directory: whatever the Erlang VM writes to its working directory lands there.
    spawn(n.process, [rabbit_bin("rabbitmq-server")], rabbit_env(n), cwd=RABBIT / n.letter)


def wait_node(n: Node, timeout: float = 120) -> None:
    wait_until(n.name, lambda: stack.amqp_ready(n.amqp_port), timeout)


def cluster_status(n: Node) -> dict[str, list[str]]:
    out = rabbitmqctl(n, "cluster_status", "--formatter", "json", timeout=60).stdout
    status: dict[str, list[str]] = json.loads(out)
    return status


def running_nodes(n: Node) -> list[str]:
    """The nodes `n` sees running in its cluster (itself included)."""
    return list(cluster_status(n)["running_nodes"])


def join(n: Node, seed: Node) -> None:
    # Membership, not what runs: after a restart of the whole stack the members may not have
    # found each other yet, and a member must not be joined again.
    if seed.name in cluster_status(n)["disk_nodes"]:
        return
    print(f"joining {n.name} to {seed.name}")
    rabbitmqctl(n, "stop_app")
    rabbitmqctl(n, "join_cluster", seed.name)
    rabbitmqctl(n, "start_app")


def wait_cluster(timeout: float = 180) -> None:
    """Every node running and seeing all three."""
    everyone = {n.name for n in NODES}

    def formed() -> bool:
        return all(
            stack.amqp_ready(n.amqp_port) and set(running_nodes(n)) == everyone for n in NODES
        )

    wait_until("the rabbitmq cluster", formed, timeout)


def rabbitmq() -> None:
    write_rabbit_files()
    for n in NODES:
        start_node(n)
    for n in NODES:
        wait_node(n)
    for n in NODES[1:]:
        join(n, NODES[0])
    wait_cluster()


def kill_node(n: Node) -> None:
    """SIGKILL of the node's whole process group (the script, the Erlang VM and its helper
    processes): no goodbye to the other nodes or the clients."""
    pid = running(n.process)
    if pid is None:
        raise SystemExit(f"{n.name} was not started here")
    print(f"kill -9 {n.name} (pid {pid})")
    os.killpg(pid, signal.SIGKILL)
    stack.pidfile(n.process, RUN).unlink(missing_ok=True)
    wait_until(f"{n.name} gone", lambda: not stack.port_open(n.amqp_port), 30)


def stop_node(n: Node) -> None:
    """A clean stop (`rabbitmqctl stop`), then whatever is left of the process group."""
    pid = running(n.process)
    if pid is None:
        return
    print(f"stopping {n.name} (pid {pid})")
    with contextlib.suppress(subprocess.TimeoutExpired):
        rabbitmqctl(n, "stop", check=False, timeout=90)
    stack.stop(n.process, timeout=30, run=RUN)


def start_and_rejoin(n: Node) -> None:
    """Start a node that is down and wait until the cluster has all three again."""
    write_rabbit_files()
    start_node(n)
    wait_node(n)
    wait_cluster()


def safe_to_stop(n: Node, timeout: int = 120) -> None:
    """Wait until stopping `n` leaves every quorum queue with a majority (its other members
    have caught up)."""
    subprocess.run(
        [
            rabbit_bin("rabbitmq-upgrade"),
            "-n",
            n.name,
            "await_online_quorum_plus_one",
            "-t",
            str(timeout),
        ],
        env={**os.environ, **rabbit_env()},
        check=True,
        capture_output=True,
        timeout=timeout + 30,
    )


def restart_node(n: Node) -> None:
    safe_to_stop(n)
    stop_node(n)
    time.sleep(1)
    start_and_rejoin(n)


def connections() -> dict[str, int]:
    """AMQP client connections per node (listed by any running node: the list is
    cluster-wide; each connection's server port says which node holds it)."""
    by_port = {n.amqp_port: n.letter for n in NODES}
    for n in NODES:
        if not stack.port_open(n.amqp_port):
            continue
        try:
            out = rabbitmqctl(
                n, "list_connections", "port", "--formatter", "json", "-q", timeout=60
            ).stdout
        except subprocess.CalledProcessError:
            continue
        counts = {letter: 0 for letter in by_port.values()}
        for row in json.loads(out or "[]"):
            counts[by_port[int(row["port"])]] += 1
        return counts
    raise SystemExit("no rabbitmq node of the cluster answers")


# ---- SeaweedFS --------------------------------------------------------------------------------


def weed(*args: str) -> list[str]:
    return [str(stack.BIN / "weed"), *args]


def master_status() -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{MASTER_PORT}/dir/status", timeout=2) as r:
        data: dict[str, object] = json.load(r)
        return data


def data_nodes() -> int:
    topology = master_status()["Topology"]
    assert isinstance(topology, dict)
    return sum(
        len(rack.get("DataNodes") or [])
        for dc in topology.get("DataCenters") or []
        for rack in dc.get("Racks") or []
    )


def start_volume(i: int) -> None:
    port = VOLUME_PORTS[i - 1]
    if stack.port_open(port):
        return
    data = WEED / f"volume-{i}"
    data.mkdir(parents=True, exist_ok=True)
    print(f"starting seaweedfs volume server {i} on 127.0.0.1:{port}")
    spawn(
        f"weed-volume-{i}",
        weed(
            "volume",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-port={port}",
            f"-port.grpc={port + 10_000}",
            f"-dir={data}",
            "-max=100",
            f"-master=127.0.0.1:{MASTER_PORT}",
            "-dataCenter=dc1",
            "-rack=rack1",
            "-preStopSeconds=0",
        ),
    )


def s3_ready() -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{S3_PORT}/healthz", timeout=2)
    except urllib.error.HTTPError as exc:  # any HTTP answer means the gateway is up
        return exc.code < 500
    return True


def seaweedfs() -> None:
    if not stack.port_open(MASTER_PORT):
        (WEED / "master").mkdir(parents=True, exist_ok=True)
        print(f"starting seaweedfs master on 127.0.0.1:{MASTER_PORT} (replication {REPLICATION})")
        spawn(
            "weed-master",
            weed(
                "master",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={MASTER_PORT}",
                f"-port.grpc={MASTER_PORT + 10_000}",
                f"-mdir={WEED / 'master'}",
                f"-defaultReplication={REPLICATION}",
                # Small volumes: each bucket is a collection with volumes of its own.
                "-volumeSizeLimitMB=64",
                "-telemetry=false",
            ),
        )
        wait_until("seaweedfs master", master_status)
    for i in range(1, len(VOLUME_PORTS) + 1):
        start_volume(i)
    wait_until("seaweedfs volume servers", lambda: data_nodes() == len(VOLUME_PORTS))
    if not stack.port_open(FILER_PORT):
        (WEED / "filer").mkdir(parents=True, exist_ok=True)
        print(f"starting seaweedfs filer on 127.0.0.1:{FILER_PORT}")
        spawn(
            "weed-filer",
            weed(
                "filer",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={FILER_PORT}",
                f"-port.grpc={FILER_PORT + 10_000}",
                f"-master=127.0.0.1:{MASTER_PORT}",
                f"-defaultStoreDir={WEED / 'filer'}",
                f"-defaultReplicaPlacement={REPLICATION}",
            ),
        )
        wait_until("seaweedfs filer", lambda: stack.port_open(FILER_PORT))
    if not stack.port_open(S3_PORT):
        print(f"starting seaweedfs s3 gateway on 127.0.0.1:{S3_PORT}")
        spawn(
            "weed-s3",
            weed(
                "s3",
                "-ip.bind=127.0.0.1",
                f"-port={S3_PORT}",
                f"-port.grpc={S3_PORT + 10_000}",
                f"-filer=127.0.0.1:{FILER_PORT}",
                "-port.iceberg=0",  # its defaults (8181, 9101) are weed mini's
                "-port.lance=0",
            ),
        )
        wait_until("seaweedfs s3", s3_ready)


def kill_volume(i: int) -> None:
    name = f"weed-volume-{i}"
    pid = running(name)
    if pid is None:
        raise SystemExit(f"{name} was not started here")
    print(f"kill -9 {name} (pid {pid})")
    os.killpg(pid, signal.SIGKILL)
    stack.pidfile(name, RUN).unlink(missing_ok=True)


# ---- the whole stack --------------------------------------------------------------------------


def infra() -> None:
    stack.mongo()
    rabbitmq()
    seaweedfs()


def services() -> None:
    """Two processes of each service (competing consumers), on the usual ports."""
    for proc, name, port in stack.instances(REPLICAS):
        if running(proc):
            continue
        if stack.port_open(port):
            raise SystemExit(f"port {port} for {proc} is taken (by `make up`?): `make down` first")
        print(f"starting {proc} on 127.0.0.1:{port}")
        spawn(
            proc,
            [sys.executable, "-m", f"services.{name}"],
            {**service_env(), "AVIARY_PORT": str(port)},
        )
    for proc, _, port in stack.instances(REPLICAS):
        wait_until(proc, lambda p=port: stack.service_ready(p), 120)


def started() -> list[str]:
    return sorted(p.stem for p in RUN.glob("*.pid")) if RUN.exists() else []


def down() -> None:
    for name in started():
        if name.split("-")[0] in stack.SERVICES:
            stack.stop(name, run=RUN)
    for name in ("weed-s3", "weed-filer", *(f"weed-volume-{i}" for i in (1, 2, 3))):
        stack.stop(name, run=RUN)
    stack.stop("weed-master", run=RUN)
    for n in NODES:
        stop_node(n)


def status() -> None:
    ports = {n.process: n.amqp_port for n in NODES}
    ports |= {"weed-master": MASTER_PORT, "weed-filer": FILER_PORT, "weed-s3": S3_PORT}
    ports |= {f"weed-volume-{i}": p for i, p in enumerate(VOLUME_PORTS, 1)}
    ports |= {proc: port for proc, _, port in stack.instances(REPLICAS)}
    for name, port in ports.items():
        state = "up" if stack.port_open(port) else "down"
        owner = "started here" if running(name) else ""
        print(f"{name:<15} 127.0.0.1:{port:<6} {state:<5} {owner}")


def main() -> None:
    command, *args = sys.argv[1:] or ["status"]

    def up() -> None:
        infra()
        services()

    def env() -> None:
        for key, value in service_env().items():
            print(f"export {key}={value}")

    actions: dict[str, Callable[[], None]] = {
        "up": up,
        "infra": infra,
        "services": services,
        "down": down,
        "status": status,
        "env": env,
        "connections": lambda: print(json.dumps(connections())),
        "urls": lambda: print(
            json.dumps(
                {
                    "amqp": amqp_urls(),
                    "s3": f"127.0.0.1:{S3_PORT}",
                    "running": stack.port_open(NODES[0].amqp_port),
                }
            )
        ),
        "kill-rabbit": lambda: kill_node(node(args[0])),
        "stop-rabbit": lambda: stop_node(node(args[0])),
        "start-rabbit": lambda: start_and_rejoin(node(args[0])),
        "restart-rabbit": lambda: restart_node(node(args[0])),
        "kill-volume": lambda: kill_volume(int(args[0])),
        "start-volume": lambda: start_volume(int(args[0])),
    }
    if command not in actions:
        raise SystemExit(f"usage: cluster.py {{{'|'.join(actions)}}} [node]")
    actions[command]()


if __name__ == "__main__":
    main()
