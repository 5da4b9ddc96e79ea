"""Run by the client wheel's own interpreter (tests/package/test_installed.py): a client that
installed `aviary-client` alone onboards, pushes images, has them labeled, and pulls the
delivery, through the SDK. Prints one JSON line with what it saw.

Usage: python client_flow.py IMAGES_DIR OUT_DIR   (URLs in AVIARY_*_URL, the operator key in
AVIARY_OPERATOR_KEY)
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import aviary
from aviary.client import Client, verify_file
from aviary.client.config import Endpoints

SERVER_MODULES = ("fastapi", "starlette", "uvicorn", "pymongo", "aio_pika", "minio", "shared")


def main(images_dir: Path, out_dir: Path) -> dict[str, object]:
    endpoints = Endpoints.from_env()
    with Client(os.environ["AVIARY_OPERATOR_KEY"], endpoints) as operator:
        client_org = operator.create_org("Installed Client", "client")
        vendor_org = operator.create_org("Installed Vendor", "vendor")
        client_token = operator.issue_token(client_org.id, "client", "integration").token
        annotator_token = operator.issue_token(vendor_org.id, "annotator", "ann-1").token
    paths = sorted(images_dir.glob("*.jpg"))
    with Client(client_token, endpoints) as client:
        project = client.create_project(
            name="from the installed client",
            ontology={"classes": [{"id": 1, "name": "car"}]},
            vendors=[{"vendor_id": vendor_org.id, "share": 1.0}],
            review={"mode": "auto"},
        )
        batch = client.create_batch(project.id, "installed")
        uploaded = client.upload_paths(batch.id, paths, concurrency=2)
        client.seal_batch(batch.id)
        with Client(annotator_token, endpoints) as annotator:
            labeled = 0
            while labeled < len(paths):
                task = annotator.next_task(wait_s=5)
                if task is None:
                    continue
                annotator.submit_task(task, [{"class_id": 1, "bbox": [2, 2, 20, 10]}])
                labeled += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = [d for d in client.list_deliveries(project.id) if d.status == "ready"]
            if ready:
                break
            time.sleep(0.3)
        else:
            raise TimeoutError("no delivery within 60 s")
        path = client.download_delivery(ready[0].id, out_dir)
        manifest = verify_file(path, ready[0].sha256)
    return {
        "version": aviary.__version__,
        "uploaded": sum(1 for outcome in uploaded if not isinstance(outcome, Exception)),
        "labeled": labeled,
        "delivered_images": manifest["counts"]["images"],
        "package": str(path),
        "server_modules_importable": [
            name for name in SERVER_MODULES if importlib.util.find_spec(name) is not None
        ],
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
