"""What every command shares: credentials, endpoints, output (--json or Rich) and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from aviary.client import AsyncClient, AviaryError
from aviary.client.config import Endpoints

T = TypeVar("T")


class Exit(IntEnum):
    """Exit codes scripts can rely on."""

    OK = 0
    FAILED = 1  # unexpected failure (a bug, a dependency down)
    USAGE = 2  # bad arguments (Typer's own)
    PARTIAL = 3  # some files were refused; the rest went in
    VERIFY_FAILED = 4  # a delivery does not match its checksums, a certificate its digest
    API_ERROR = 5  # the API refused the request (401, 404, 409, 422 ...)


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def version_flag(line: str) -> Any:
    """A `--version` option that prints `line` and exits before anything else runs."""

    def show(value: bool) -> None:
        if value:
            typer.echo(line)
            raise typer.Exit()

    return typer.Option(
        "--version", callback=show, is_eager=True, help="Print the version and exit."
    )


@dataclass
class Context:
    json: bool
    token: str | None
    endpoints: Endpoints
    console: Console

    def client(self) -> AsyncClient:
        if not self.token:
            self.fail(
                Exit.USAGE,
                "no credentials: pass --token or set AVIARY_TOKEN (operators: AVIARY_OPERATOR_KEY)",
            )
        return AsyncClient(self.token, self.endpoints)

    def emit(self, data: Any, human: str | None = None) -> None:
        """Print `data` as JSON with --json, else the human text (or a pretty dump)."""
        if self.json:
            typer.echo(json.dumps(data, default=str, indent=2))
        elif human is not None:
            self.console.print(human)
        else:
            self.console.print_json(json.dumps(data, default=str))

    def fail(self, exit_code: Exit, message: str, **details: Any) -> NoReturn:
        if self.json:
            typer.echo(
                json.dumps({"error": message, "exit_code": int(exit_code), **details}, default=str)
            )
        else:
            Console(stderr=True).print(f"[bold red]error:[/] {message}")
        raise typer.Exit(int(exit_code))

    def call(self, work: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """`work` done with a client of these credentials; the API refusing it ends the
        command (exit 5, with the API's code and message)."""

        async def run() -> T:
            async with self.client() as client:
                return await work(client)

        try:
            return asyncio.run(run())
        except AviaryError as exc:
            self.api_error(exc)

    def api_error(self, exc: AviaryError) -> NoReturn:
        self.fail(
            Exit.API_ERROR,
            f"{exc.status} {exc.code}: {exc.message}",
            error_code=exc.code,
            status=exc.status,
            details=exc.details,
        )


def make_context(
    json_output: bool,
    token: str | None,
    ingest: str | None,
    dispatch: str | None,
    review: str | None,
    export: str | None,
    assist: str | None = None,
) -> Context:
    env = Endpoints.from_env()
    endpoints = Endpoints(
        ingest or env.ingest,
        dispatch or env.dispatch,
        review or env.review,
        export or env.export,
        assist or env.assist,
    )
    token = token or os.environ.get("AVIARY_TOKEN") or os.environ.get("AVIARY_OPERATOR_KEY")
    return Context(json_output, token, endpoints, Console())
