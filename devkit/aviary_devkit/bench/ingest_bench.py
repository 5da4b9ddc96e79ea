"""The ingest benchmark, against one running ingest process.

- multipart: 8 concurrent clients, each sending requests of 20 distinct 640x480 JPEGs (~55 KB);
- single: 8 concurrent clients sending one image per request;
- refused: 200 uploads of 50 MB that exceed the limit (half declaring their length, half
  streamed without one), while the ingest process's peak RSS is read from /proc.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from aviary_devkit.sim.scenes import generate_scenes

CLIENTS = 8
FILES_PER_REQUEST = 20


def variants(count: int, seed: int) -> list[bytes]:
    """`count` distinct valid JPEGs: a few rendered scenes, each made unique by a JPEG comment
    segment (different bytes, same pixels), so every upload is a new item."""
    bases = [s.jpeg_bytes() for s in generate_scenes(16, first_seed=seed)]
    out = []
    for i in range(count):
        base = bases[i % len(bases)]
        note = f"aviary-bench {seed}:{i}".encode()
        out.append(base[:2] + b"\xff\xfe" + struct.pack(">H", len(note) + 2) + note + base[2:])
    return out


@dataclass
class Throughput:
    images: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_s(self) -> float:
        return self.images / self.seconds

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def push(
    base_url: str, token: str, batch_id: str, images: list[bytes], per_request: int
) -> Throughput:
    """Upload `images` with CLIENTS concurrent clients, `per_request` files per request."""
    requests = [images[i : i + per_request] for i in range(0, len(images), per_request)]
    queue: asyncio.Queue[list[bytes]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    url = f"{base_url}/v1/batches/{batch_id}/items"
    headers = {"Authorization": f"Bearer {token}"}

    async def client() -> None:
        async with httpx.AsyncClient(timeout=120, headers=headers) as http:
            while not queue.empty():
                files = queue.get_nowait()
                started = time.perf_counter()
                if per_request == 1:
                    response = await http.post(
                        url, content=files[0], headers={"content-type": "image/jpeg"}
                    )
                else:
                    response = await http.post(
                        url,
                        files=[
                            ("files", (f"f{i}.jpg", data, "image/jpeg"))
                            for i, data in enumerate(files)
                        ],
                    )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 300:
                    raise RuntimeError(f"upload failed: {response.status_code} {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return Throughput(len(images), time.perf_counter() - started, latencies)


async def refuse_large(
    host: str, port: int, token: str, batch_id: str, size: int, count: int
) -> int:
    """Send `count` oversized uploads over raw sockets; returns how many got 413."""
    refused = 0
    limiter = asyncio.Semaphore(CLIENTS)
    chunk = random.Random(1).randbytes(1 << 16)

    async def one(i: int) -> None:
        nonlocal refused
        async with limiter:
            reader, writer = await asyncio.open_connection(host, port)
            declared = i % 2 == 0
            head = (
                f"POST /v1/batches/{batch_id}/items HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: image/jpeg\r\n"
            )
            head += f"Content-Length: {size}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
            writer.write((head + "\r\n").encode())
            sent = 0
            try:
                while sent < size:
                    part = chunk[: min(len(chunk), size - sent)]
                    writer.write(
                        part if declared else f"{len(part):x}\r\n".encode() + part + b"\r\n"
                    )
                    await writer.drain()
                    sent += len(part)
            except (ConnectionError, OSError):
                pass  # the server answered and closed early: what we want
            status = await reader.readline()
            if b" 413 " in status:
                refused += 1
            writer.close()

    await asyncio.gather(*(one(i) for i in range(count)))
    return refused


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def summarize(runs: list[Throughput]) -> tuple[float, float]:
    return (statistics.median(r.per_s for r in runs), statistics.median(r.p99_ms for r in runs))
