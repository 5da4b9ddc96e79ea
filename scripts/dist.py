"""`make dist` and `make image-check`: the two wheels, the image, and one container tried.

    python scripts/dist.py wheels   # dist/aviary_client-*.whl, dist/aviary_server-*.whl
    python scripts/dist.py image    # localhost/aviary:<version>, built by Debian's buildah
    python scripts/dist.py check    # start one container of that image on the embedded stack

No image registry is needed: the base image is made from Debian's packages (mmdebstrap, with
the host's own apt sources) and imported locally; `deploy/Dockerfile` is built on it with
`PYTHON_IMAGE` pointing there. The build reaches the package index through the host's CA
bundle, mounted read-only into the build's steps. Containers run with runc: crun refuses
hosts whose cgroups are in hybrid mode, and runc does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aviary_devkit.dist import build_wheels, missing_assets
from aviary_devkit.processes import ROOT, cleanup_namespace, isolated_settings, settings_env
from shared.release import server_version

DIST = ROOT / "dist"
WORK = ROOT / "var" / "dist"
BASE_IMAGE = "localhost/aviary-base:{codename}"
TOOLS = {"buildah": "buildah", "podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap"}
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CHECK_PORT = 28_002  # dispatch's container, on the host network


def image_name() -> str:
    return f"localhost/aviary:{server_version()}"


def wheels() -> None:
    built = build_wheels(DIST)
    if missing := missing_assets(built.server):
        sys.exit(f"the server wheel lacks: {missing}")
    for wheel in (built.client, built.server):
        print(f"{wheel.relative_to(ROOT)}  {wheel.stat().st_size / 1024:.0f} KiB")


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"needs Debian's {' '.join(missing)} (apt-get install {' '.join(missing)})")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def container_env() -> dict[str, str]:
    """Point buildah and podman at a config that fits this host (runtime, ulimits)."""
    WORK.mkdir(parents=True, exist_ok=True)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32_768)
    conf = WORK / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def codename() -> str:
    return platform.freedesktop_os_release().get("VERSION_CODENAME", "bookworm")


def has_image(env: dict[str, str], name: str) -> bool:
    found = subprocess.run(
        ["podman", "image", "exists", name], env=env, check=False, capture_output=True
    )
    return found.returncode == 0


def base_image(env: dict[str, str]) -> str:
    """Python 3.11 with venv, groupadd and useradd, from Debian's packages (made once)."""
    name = BASE_IMAGE.format(codename=codename())
    if has_image(env, name):
        return name
    rootfs = WORK / f"base-{codename()}.tar"
    started = time.monotonic()
    subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--variant=required",
            "--include=python3,python3-venv,python-is-python3,ca-certificates",
            *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale", "info")),
            codename(),
            str(rootfs),
        ],
        check=True,
    )
    subprocess.run(
        ["podman", "import", "--change", 'CMD ["python3"]', str(rootfs), name],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    rootfs.unlink()
    print(f"base image {name} in {time.monotonic() - started:.0f} s")
    return name


def image() -> None:
    ensure_tools()
    env = container_env()
    base = base_image(env)
    started = time.monotonic()
    subprocess.run(
        [
            "buildah",
            "bud",
            "--quiet",
            "--isolation",
            "chroot",
            "--format",
            "docker",  # keeps the Dockerfile's HEALTHCHECK, which OCI images cannot carry
            "--network",
            "host",
            "--volume",
            f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
            "--build-arg",
            f"PYTHON_IMAGE={base}",
            "--build-arg",
            f"VERSION={server_version()}",
            "--file",
            str(ROOT / "deploy" / "Dockerfile"),
            "--tag",
            image_name(),
            str(ROOT),
        ],
        check=True,
        env=env,
    )
    size = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image_name()],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"{image_name()} built in {time.monotonic() - started:.0f} s, {int(size) >> 20} MiB")


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - local URL
            return response.status, json.loads(response.read())
    except OSError:
        return 0, {}


def check() -> None:
    """One container (dispatch) on the embedded stack: ready, its version, its page."""
    env = container_env()
    if not has_image(env, image_name()):
        sys.exit(f"{image_name()} is not built: run `make dist` first")
    settings = isolated_settings()
    service_env = {
        **{k: v for k, v in settings_env(settings).items() if k.startswith("AVIARY_")},
        "AVIARY_PORT": str(CHECK_PORT),
        "AVIARY_HOST": "127.0.0.1",
    }
    name = f"aviary-check-{settings.namespace}"
    # No systemd here to time the image's HEALTHCHECK: it is run once by hand below instead.
    run = ["podman", "run", "--detach", "--name", name, "--network", "host"]
    run += ["--health-interval", "disable"]
    for key, value in service_env.items():
        run += ["--env", f"{key}={value}"]
    started = subprocess.run(
        [*run, image_name(), "services.dispatch"], env=env, capture_output=True, text=True
    )
    if started.returncode != 0:  # (its stderr also carries podman's complaint about systemd)
        sys.exit(f"the container did not start: {started.stderr}")
    base = f"http://127.0.0.1:{CHECK_PORT}"
    try:
        deadline = time.monotonic() + 90
        status, ready = 0, dict[str, object]()
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.5)
            status, ready = get_json(f"{base}/readyz")
        if status != 200:
            logs = subprocess.run(
                ["podman", "logs", name], env=env, capture_output=True, text=True, check=False
            )
            sys.exit(f"the container never got ready ({ready}):\n{logs.stdout}{logs.stderr}")
        if ready.get("version") != server_version():
            sys.exit(f"the container reports version {ready.get('version')}")
        with urllib.request.urlopen(f"{base}/ui/label.html", timeout=5) as page:  # noqa: S310
            if page.status != 200 or b"<html" not in page.read().lower():
                sys.exit("the container does not serve its labeling page")
        health = subprocess.run(
            ["podman", "healthcheck", "run", name], env=env, capture_output=True, text=True
        )
        if health.returncode != 0:
            sys.exit(f"the image's HEALTHCHECK fails: {health.stdout}{health.stderr}")
        print(f"{image_name()}: a dispatch container is ready, healthy and serves its page")
    finally:
        subprocess.run(["podman", "rm", "--force", name], env=env, check=False, capture_output=True)
        asyncio.run(cleanup_namespace(settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["wheels", "image", "check", "all"])
    what = parser.parse_args().what
    if what in ("wheels", "all"):
        wheels()
    if what in ("image", "all"):
        image()
    if what == "check":
        check()


if __name__ == "__main__":
    main()
