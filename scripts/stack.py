"""Start and stop the embedded stack: RabbitMQ, SecantusDB, SeaweedFS, then the five services.

    python scripts/stack.py up        # infrastructure + services (idempotent)
    python scripts/stack.py infra     # infrastructure only (what the tests need)
    python scripts/stack.py down      # stop only what this script started
    python scripts/stack.py status

Data lives under var/; pid files under var/run/ record what this script started, so `down`
never touches a server someone else runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
RUN = VAR / "run"
LOGS = VAR / "log"
BIN = Path(sys.executable).parent
# As shared/settings.py's SERVICE_PORTS (tests/deploy checks they agree): this script runs
# before the project's packages may be importable.
SERVICES = {"ingest": 8001, "dispatch": 8002, "review": 8003, "export": 8004, "assist": 8005}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.setdefault("MALLOC_ARENA_MAX", "2")  # as the image sets it (deploy/Dockerfile)
    e.setdefault("AVIARY_S3_ACCESS_KEY", "aviary")
    e.setdefault("AVIARY_S3_SECRET_KEY", "aviary-local-secret")
    # SeaweedFS takes its S3 credentials from these.
    e["AWS_ACCESS_KEY_ID"] = e["AVIARY_S3_ACCESS_KEY"]
    e["AWS_SECRET_ACCESS_KEY"] = e["AVIARY_S3_SECRET_KEY"]
    return e


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(what: str, check: object, timeout: float = 60.0, logs: Path = LOGS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} did not become healthy in {timeout:.0f}s; see {logs}/")


def pidfile(name: str, run: Path = RUN) -> Path:
    return run / f"{name}.pid"


def running(name: str, run: Path = RUN) -> int | None:
    path = pidfile(name, run)
    if not path.exists():
        return None
    pid = int(path.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink()
        return None
    return pid


def spawn(
    name: str,
    argv: list[str],
    extra_env: dict[str, str] | None = None,
    run: Path = RUN,
    logs: Path = LOGS,
    cwd: Path = ROOT,
) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**env(), **(extra_env or {})},
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    pidfile(name, run).write_text(str(proc.pid))


def amqp_ready(port: int = 5672) -> bool:
    # A broker accepting TCP may still be booting; the AMQP greeting says it is really up.
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        return s.recv(8)[:1] == b"\x01"


def rabbitmq() -> None:
    if port_open(5672):
        return
    if shutil.which("rabbitmq-server") is None:
        print("installing rabbitmq-server (apt-get)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "rabbitmq-server"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if port_open(5672):  # the package's own service start
            wait_until("rabbitmq", amqp_ready, 120)
            return
    print("starting rabbitmq")
    subprocess.run(["rabbitmq-server", "-detached"], check=True)
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / "rabbitmq.started").write_text("started by stack.py\n")
    wait_until("rabbitmq", amqp_ready, 120)


def mongo() -> None:
    if port_open(27017):
        return
    print("starting secantusdb on 127.0.0.1:27017")
    (VAR / "mongo").mkdir(parents=True, exist_ok=True)
    spawn(
        "secantusdb",
        [
            sys.executable,
            str(ROOT / "scripts" / "embedded_mongo.py"),
            "--host",
            "127.0.0.1",
            "--port",
            "27017",
            "--storage-path",
            str(VAR / "mongo"),
        ],
    )
    wait_until("secantusdb", lambda: port_open(27017), 60)


def s3_ready() -> bool:
    try:
        urllib.request.urlopen("http://127.0.0.1:8333/healthz", timeout=2)
    except urllib.error.HTTPError as exc:  # any HTTP answer means the gateway is up
        return exc.code < 500
    return True


def seaweedfs() -> None:
    if port_open(8333):
        return
    print("starting seaweedfs (S3 on 127.0.0.1:8333)")
    (VAR / "s3").mkdir(parents=True, exist_ok=True)
    spawn(
        "seaweedfs",
        [
            str(BIN / "weed"),
            "mini",
            f"-dir={VAR / 's3'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
        ],
    )
    wait_until("seaweedfs", s3_ready, 90)


def service_ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
        return bool(r.status == 200)


REPLICA_PORT_STEP = 10  # replica i of a service listens on its port + 10 * i


def replicas(default: int = 1) -> dict[str, int]:
    """Processes per service, from INGEST_REPLICAS, DISPATCH_REPLICAS, ... (default 1)."""
    return {
        name: max(1, int(os.environ.get(f"{name.upper()}_REPLICAS", str(default))))
        for name in SERVICES
    }


def instances(default: int = 1) -> list[tuple[str, str, int]]:
    """(process name, service, port) for every replica to run."""
    return [
        (name if i == 0 else f"{name}-{i}", name, port + REPLICA_PORT_STEP * i)
        for name, port in SERVICES.items()
        for i in range(replicas(default)[name])
    ]


def services() -> None:
    """Each replica is its own process on its own port; consumers of one queue compete."""
    for proc, name, port in instances():
        if port_open(port):
            continue
        print(f"starting {proc} on 127.0.0.1:{port}")
        spawn(proc, [sys.executable, "-m", f"services.{name}"], {"AVIARY_PORT": str(port)})
    for proc, _, port in instances():
        wait_until(proc, lambda p=port: service_ready(p), 90)


def infra() -> None:
    rabbitmq()
    mongo()
    seaweedfs()


def stop(name: str, timeout: float = 15.0, run: Path = RUN) -> None:
    pid = running(name, run)
    if pid is None:
        return
    print(f"stopping {name} (pid {pid})")
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    pidfile(name, run).unlink(missing_ok=True)


def started_service_processes() -> list[str]:
    """Every service process (replicas included) this script started and recorded."""
    if not RUN.exists():
        return []
    names = [p.stem for p in RUN.glob("*.pid")]
    return sorted(n for n in names if n.split("-")[0] in SERVICES)


def down() -> None:
    for name in started_service_processes():
        stop(name)
    stop("seaweedfs")
    stop("secantusdb")
    marker = RUN / "rabbitmq.started"
    if marker.exists():
        print("stopping rabbitmq")
        subprocess.run(["rabbitmqctl", "stop"], check=False)
        marker.unlink()


def status() -> None:
    ports = {"rabbitmq": 5672, "secantusdb": 27017, "seaweedfs": 8333}
    ports.update({proc: port for proc, _, port in instances()})
    for name, port in ports.items():
        state = "up" if port_open(port) else "down"
        owner = "started here" if running(name) else ""
        print(f"{name:<11} 127.0.0.1:{port:<6} {state:<5} {owner}")


def restart_broker() -> None:
    """Stop and start RabbitMQ's application (connections drop, durable queues stay): a
    broker restart, for fault tests. `infra` is not needed afterwards."""
    print("restarting rabbitmq")
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True)
    time.sleep(2)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True)
    wait_until("rabbitmq", amqp_ready, 120)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "status"

    def up() -> None:
        infra()
        services()

    actions = {
        "up": up,
        "infra": infra,
        "down": down,
        "status": status,
        "services": services,
        # For fault tests: take one piece of infrastructure down; `infra` brings it back.
        "stop-db": lambda: stop("secantusdb"),
        "stop-s3": lambda: stop("seaweedfs"),
        "restart-broker": restart_broker,
    }
    if command not in actions:
        raise SystemExit(f"usage: stack.py {{{'|'.join(actions)}}}")
    actions[command]()


if __name__ == "__main__":
    main()
