"""The URL-import benchmark's image host: a folder served over HTTP/1.1 on loopback.

`python -m http.server` keeps five connections waiting to be accepted (socketserver's
`request_queue_size`) and closes every connection after one answer (HTTP/1.0). Ingest fetches
up to 128 URLs at a time, so most of its connections overflowed that queue and waited for the
kernel to retry them (a second, then three): the benchmark measured the host's queue, not
Aviary (2,004 overflows in two runs, `nstat TcpExtListenOverflows`; 0 with this host). The
places a client's images live (object storage, a CDN) keep connections open and queue far
more.

    python -m aviary_devkit.bench.image_host PORT   # serves the current folder
"""

from __future__ import annotations

import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BACKLOG = 1024


class Host(ThreadingHTTPServer):
    request_queue_size = BACKLOG
    daemon_threads = True


class Files(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection serves many images

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line an image would cost the host more than the image."""


def main() -> None:
    port = int(sys.argv[1])
    with Host(("127.0.0.1", port), Files) as host:
        host.serve_forever()


if __name__ == "__main__":
    main()
