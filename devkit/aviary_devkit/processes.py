"""The services as local processes in a namespace of their own (tests and benchmarks).

Each set listens on its own ports and uses its own queues, databases and buckets, so it never
disturbs a stack started by `make up`; `cleanup_namespace` removes what it left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from shared.messaging import delete_topology
from shared.settings import SERVICE_PORTS, Settings
from shared.store.mongo import connect_mongo
from shared.store.storage import ObjectStorage

ROOT = Path(__file__).resolve().parents[2]


def isolated_settings(**overrides: object) -> Settings:
    """Settings for a throwaway namespace, with short retry and lease timings."""
    base: dict[str, object] = {
        "namespace": "t" + uuid.uuid4().hex[:12],
        "retry_delays_ms": [100, 300],
        "max_attempts": 3,
        "outbox_poll_s": 0.2,
        "lease_ttl_s": 3,
        "lease_sweep_s": 0.5,
        "rework_exclusive_s": 2.0,
        "backlog_takeover_s": 2.0,
        "pool_sync_s": 1.0,
        "max_skips": 2,
        "webhook_retry_base_s": 0.2,
        "webhook_retry_max_s": 1.0,
        "webhook_max_attempts": 4,
        "webhook_timeout_s": 1.0,
        "webhook_allowed_networks": ["127.0.0.0/8"],
        "import_allowed_networks": ["127.0.0.1/32"],
        "import_timeout_s": 3.0,
        "project_retention_sweep_s": 0.5,
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a service process use `settings`: every field, connection
    URLs included (a test pointing a service at a closed port must not reach the real one).
    The port and public URLs are left to the caller, which knows where each process listens."""
    values: dict[str, str] = {}
    for name, value in settings.model_dump(exclude={"host", "port", "public_urls"}).items():
        if value is None:
            continue  # unset is None; no text means None to the settings' parser
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list | dict):
            text = json.dumps(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        values[f"AVIARY_{name.upper()}"] = text
    # As the image runs them (deploy/Dockerfile): one malloc arena per process, not per thread.
    return {"MALLOC_ARENA_MAX": "2", **os.environ, **values}


async def cleanup_namespace(settings: Settings) -> None:
    """Drop a namespace's queues, databases and buckets."""
    await delete_topology(settings)
    client = connect_mongo(settings)
    try:
        for service in SERVICE_PORTS:
            await client.drop_database(settings.database_name(service))
    finally:
        await client.close()
    storage = ObjectStorage(settings)
    buckets = (
        settings.images_bucket,
        settings.deliveries_bucket,
        settings.audit_bucket,
        settings.models_bucket,
    )
    for bucket in buckets:
        await storage.remove_bucket(bucket)


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ServiceSet:
    """The services (SERVICE_PORTS) as real processes, which a caller may kill and restart."""

    settings: Settings
    log_dir: Path
    port_offset: int = 10_000
    # The interpreter and working directory: an installed server's venv is started from a
    # folder outside the checkout, so that `-m services.x` finds the installed package.
    python: Path = Path(sys.executable)
    cwd: Path = ROOT
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def port(self, name: str, replica: int = 0) -> int:
        return SERVICE_PORTS[name] + self.port_offset + 10 * replica

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def _spawn(self, key: str, name: str, port: int) -> None:
        # A stray process on the port (say, one a killed run left behind) would answer in this
        # one's name: every later check would then be about the wrong process.
        if port_in_use(port):
            raise RuntimeError(f"port {port} for {key} is already in use")
        env = {
            **settings_env(self.settings),
            "AVIARY_PORT": str(port),
            "AVIARY_PUBLIC_URLS": json.dumps({n: self.url(n) for n in SERVICE_PORTS}),
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{key}.log").open("ab") as log:
            self.procs[key] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [str(self.python), "-m", f"services.{name}"],
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=log,
            )

    def start_replica(self, name: str, replica: int) -> str:
        """Another process of `name` on its own port; its consumers compete with the others."""
        key = f"{name}-{replica}"
        self._spawn(key, name, self.port(name, replica))
        return key

    def start(self, name: str) -> None:
        self._spawn(name, name, self.port(name))

    def start_all(self) -> None:
        for name in SERVICE_PORTS:
            self.start(name)
        for name in SERVICE_PORTS:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        base, _, replica = name.partition("-")
        url = f"http://127.0.0.1:{self.port(base, int(replica or 0))}"
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.log_dir / (name + '.log')}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready in {timeout}s")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def running(
    settings: Settings,
    log_dir: Path,
    port_offset: int = 10_000,
    python: Path | None = None,
    cwd: Path = ROOT,
) -> Iterator[ServiceSet]:
    """The services started and ready; afterwards stopped and their namespace dropped.
    `python` and `cwd`: another interpreter (an installed package) run from another folder."""
    services = ServiceSet(
        settings, log_dir, port_offset=port_offset, python=python or Path(sys.executable), cwd=cwd
    )
    try:
        services.start_all()
        yield services
    finally:
        services.stop_all()
        asyncio.run(cleanup_namespace(services.settings))
