"""`python -m services.<name> [all|api|worker]`: run one service process."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from typing import NoReturn, cast

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from shared.errors import StartupError
from shared.observability import configure_logging
from shared.runtime import ProcessRole, Runtime
from shared.settings import Settings, describe_invalid, get_settings

# sysexits' EX_CONFIG: an orchestrator shows it, and restarting will not help until fixed.
EXIT_CONFIG = 78

GC_YOUNG_THRESHOLD = 20_000


def serve(service: str, build_app: Callable[[Runtime], FastAPI]) -> None:
    """Parse the role, build the app and serve it until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("role", nargs="?", default="all", choices=["all", "api", "worker"])
    args = parser.parse_args()
    settings = _settings_or_exit(service)
    configure_logging(service, settings.log_level, settings.log_json)
    runtime = Runtime(service, settings, cast(ProcessRole, args.role))
    try:
        app = build_app(runtime)
    except StartupError as exc:
        _refuse(service, str(exc))
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


def _settings_or_exit(service: str) -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        _refuse(service, describe_invalid(exc))


def _refuse(service: str, reason: str) -> NoReturn:
    print(f"{service} cannot start: {reason}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)
