"""`aviary status` (progress, queue depths, dead letters) and `aviary dlq replay`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from aviary.cli.common import Context, Exit
from aviary.client import AviaryError
from shared.messaging import SUBSCRIPTIONS, Broker, queue_counts, replay_dead_letters
from shared.settings import get_settings


async def queue_depths() -> list[dict[str, Any]]:
    """Messages waiting per service queue and in its dead-letter queue (needs the broker)."""
    broker = Broker(get_settings())
    await broker.connect(attempts=1)
    try:
        return [
            {"service": service, **await queue_counts(broker, service)} for service in SUBSCRIPTIONS
        ]
    finally:
        await broker.close()


async def progress(context: Context, project_id: str | None) -> list[dict[str, Any]]:
    async with context.client() as client:
        projects = (
            [await client.get_project(project_id)] if project_id else await client.list_projects()
        )
        rows = []
        for project in projects:
            for batch in await client.list_batches(project.id):
                rows.append(
                    {
                        "project_id": project.id,
                        "project": project.name,
                        "batch_id": batch.id,
                        "status": batch.status,
                        **batch.progress.model_dump(),
                    }
                )
        return rows


def status(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    queues: Annotated[
        bool,
        typer.Option(
            help="Also show queue depths and dead letters (needs the broker: AVIARY_AMQP_URL)."
        ),
    ] = True,
) -> None:
    """Progress of every batch (received, labeling, review, accepted, delivered), queue
    depths and dead letters."""
    context: Context = ctx.obj
    data: dict[str, Any] = {}
    try:
        data["batches"] = asyncio.run(progress(context, project)) if context.token else []
    except AviaryError as exc:
        context.api_error(exc)
    if queues:
        try:
            data["queues"] = asyncio.run(queue_depths())
        except Exception as exc:
            data["queues_error"] = f"broker not reachable: {exc}"
    if context.json:
        context.emit(data)
        return
    table = Table(
        "project",
        "batch",
        "status",
        "received",
        "labeling",
        "review",
        "accepted",
        "delivered",
        title="batches",
    )
    for row in data["batches"]:
        table.add_row(
            row["project"],
            row["batch_id"],
            row["status"],
            str(row["received"]),
            str(row["in_labeling"]),
            str(row["in_review"]),
            str(row["accepted"]),
            "yes" if row["delivered"] else "no",
        )
    context.console.print(table)
    if "queues" in data:
        queue_table = Table("service", "waiting", "consumers", "dead letters", title="queues")
        for row in data["queues"]:
            dead = str(row["dead_letters"])
            queue_table.add_row(
                row["service"],
                str(row["waiting"]),
                str(row["consumers"]),
                f"[bold red]{dead}[/]" if row["dead_letters"] else dead,
            )
        context.console.print(queue_table)
    elif "queues_error" in data:
        context.console.print(f"[yellow]{data['queues_error']}[/]")


dlq_app = typer.Typer(
    help="Dead-letter queues: messages that failed every attempt.", no_args_is_help=True
)


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
        broker = Broker(get_settings())
        await broker.connect(attempts=1)
        try:
            return await replay_dead_letters(broker, service, limit)
        finally:
            await broker.close()

    moved = asyncio.run(run())
    context.emit({"service": service, "replayed": moved}, f"replayed {moved} message(s)")
