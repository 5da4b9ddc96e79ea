"""`aviary-ops`: the operator's commands that talk to the broker and check configuration.

Shipped with the services (it needs their settings and the broker client), unlike the HTTP-only
`aviary` CLI of the client distribution. Run it where a service runs, e.g.
`kubectl -n aviary exec deploy/export-worker -- aviary-ops dlq replay export`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from aviary.cli.common import Context, Exit, JsonFlag, make_context, version_flag
from shared.messaging import SUBSCRIPTIONS, Broker, queue_counts, replay_dead_letters
from shared.release import server_version
from shared.settings import Settings, describe_invalid, get_settings

app = typer.Typer(
    name="aviary-ops",
    help="Queue depths, dead letters and configuration checks (talks to the broker).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    _version: Annotated[bool, version_flag(f"aviary-server {server_version()}")] = False,
) -> None:
    """Aviary's operator commands."""
    ctx.obj = make_context(json_output, None, None, None, None, None)


async def _with_broker(settings: Settings) -> Broker:
    broker = Broker(settings)
    await broker.connect(attempts=1)
    return broker


async def queue_depths(settings: Settings) -> list[dict[str, Any]]:
    """Messages waiting per service queue and in its dead-letter queue."""
    broker = await _with_broker(settings)
    try:
        return [
            {"service": service, **await queue_counts(broker, service)} for service in SUBSCRIPTIONS
        ]
    finally:
        await broker.close()


@app.command("queues")
def queues(ctx: typer.Context) -> None:
    """Messages waiting, consumers and dead letters per service queue."""
    context: Context = ctx.obj
    try:
        rows = asyncio.run(queue_depths(get_settings()))
    except Exception as exc:
        context.fail(Exit.FAILED, f"broker not reachable: {exc}")
    if context.json:
        context.emit({"queues": rows})
        return
    table = Table("service", "waiting", "consumers", "dead letters", title="queues")
    for row in rows:
        dead = str(row["dead_letters"])
        table.add_row(
            row["service"],
            str(row["waiting"]),
            str(row["consumers"]),
            f"[bold red]{dead}[/]" if row["dead_letters"] else dead,
        )
    context.console.print(table)


dlq_app = typer.Typer(
    help="Dead-letter queues: messages that failed every attempt.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("replay")
def replay(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SUBSCRIPTIONS)}.")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 10_000,
) -> None:
    """Move a service's dead letters back onto its queue, once the fault is fixed."""
    context: Context = ctx.obj
    if service not in SUBSCRIPTIONS:
        context.fail(Exit.USAGE, f"unknown service {service!r}")

    async def run() -> int:
        broker = await _with_broker(get_settings())
        try:
            return await replay_dead_letters(broker, service, limit)
        finally:
            await broker.close()

    moved = asyncio.run(run())
    context.emit({"service": service, "replayed": moved}, f"replayed {moved} message(s)")


@app.command("check-config")
def check_config(ctx: typer.Context) -> None:
    """Validate the AVIARY_* settings as a service would at start (production rules included)."""
    context: Context = ctx.obj
    try:
        settings = Settings()
    except ValidationError as exc:
        context.fail(Exit.USAGE, describe_invalid(exc))
    context.emit(
        {"env": settings.env, "namespace": settings.namespace, "valid": True},
        f"settings are valid ({settings.env}, namespace {settings.namespace})",
    )


def main() -> None:
    app()
