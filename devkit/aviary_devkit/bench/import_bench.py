"""URL imports as a client runs them: a list of image URLs on a server of its own.

The images are written to a folder that a separate process serves on loopback (its CPU is not
ingest's; `image_host.py`, HTTP/1.1 with a deep accept queue, as object storage or a CDN
would serve them); the client posts the whole list as one import and polls the import until
no URL is pending.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from aviary_devkit.bench import ingest_bench
from aviary_devkit.processes import port_in_use

IMPORT_LIMIT = 1000


@contextmanager
def image_server(folder: Path, images: int, seed: int, port: int) -> Iterator[str]:
    """`images` distinct JPEGs served from `folder`; yields the base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(ingest_bench.variants(images, seed)):
        (folder / f"{i:06d}.jpg").write_bytes(data)
    server = subprocess.Popen(  # noqa: S603 - our own interpreter, loopback only
        [sys.executable, "-m", "aviary_devkit.bench.image_host", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_in_use(port):
            if time.monotonic() > deadline:
                raise TimeoutError("the image server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


async def run_import(ingest_url: str, token: str, batch_id: str, base: str, images: int) -> float:
    """Seconds from posting the imports (at most 1,000 URLs each, the API's limit) until no
    URL is pending; checks that every image was stored."""
    headers = {"Authorization": f"Bearer {token}"}
    urls = [{"url": f"{base}/{i:06d}.jpg"} for i in range(images)]
    async with httpx.AsyncClient(base_url=ingest_url, timeout=60, headers=headers) as http:
        started = time.monotonic()
        import_ids = []
        for chunk in range(0, images, IMPORT_LIMIT):
            body = {"urls": urls[chunk : chunk + IMPORT_LIMIT]}
            created = await http.post(f"/v1/batches/{batch_id}/imports", json=body)
            if created.status_code != 202:
                raise RuntimeError(f"import: {created.status_code} {created.text}")
            import_ids.append(created.json()["id"])
        while True:
            states = [
                (await http.get(f"/v1/imports/{i}", params={"urls": "false"})).json()
                for i in import_ids
            ]
            if all(state["pending"] == 0 for state in states):
                break
            if time.monotonic() - started > 900:
                raise TimeoutError(f"the import is still pending: {states}")
            await asyncio.sleep(0.1)
        seconds = time.monotonic() - started
    done = sum(state["done"] for state in states)
    if done != images:
        raise RuntimeError(f"the import stored {done} of {images} images: {states}")
    return seconds
