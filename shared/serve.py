"""`python -m services.<name> [all|api|worker]`: run one service process."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Callable
from typing import cast

import uvicorn
from fastapi import FastAPI

from shared.observability import configure_logging
from shared.runtime import ProcessRole, Runtime
from shared.settings import get_settings

GC_YOUNG_THRESHOLD = 20_000


def serve(service: str, build_app: Callable[[Runtime], FastAPI]) -> None:
    """Parse the role, build the app and serve it until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("role", nargs="?", default="all", choices=["all", "api", "worker"])
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(service, settings.log_level, settings.log_json)
    runtime = Runtime(service, settings, cast(ProcessRole, args.role))
    app = build_app(runtime)
    # Fewer, larger young-generation passes: a request allocates thousands of objects and
    # frees nearly all of them, so the default threshold (700) runs the collector per request.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.service_port(service),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
