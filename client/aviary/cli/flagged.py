"""`aviary flagged list|return|drop`: the tasks several people skipped, and what to do with
each (a client decides for its own, the operator for every client)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from aviary.cli.common import Context
from aviary.client import AsyncClient

app = typer.Typer(help="Tasks skipped by too many people: return, send on, or drop.")


@app.command("list")
def list_flagged(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project's.")] = None,
) -> None:
    """Flagged tasks, longest waiting first, with why people skipped them."""
    context: Context = ctx.obj

    async def listed(client: AsyncClient) -> list[dict[str, Any]]:
        return [t.model_dump(mode="json") for t in await client.flagged_tasks(project)]

    rows = context.call(listed)
    if context.json:
        context.emit(rows)
        return
    table = Table("task", "project", "item", "skips", "flagged at")
    for row in rows:
        skips = "; ".join(
            s["reason"] + (f": {s['comment']}" if s["comment"] else "") for s in row["skips"]
        )
        table.add_row(row["id"], row["project_name"], row["item_id"], skips, row["flagged_at"])
    context.console.print(table)


@app.command("return")
def return_task(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Flagged task id.")],
    vendor: Annotated[
        str | None, typer.Option(help="Send it to this vendor of the project instead.")
    ] = None,
) -> None:
    """Back to the pool, its skips cleared (to another vendor with --vendor)."""
    context: Context = ctx.obj

    async def returned(client: AsyncClient) -> dict[str, Any]:
        return (await client.return_task(task, vendor)).model_dump(mode="json")

    result = context.call(returned)
    context.emit(result, f"task {task} is back in the pool of vendor {result['vendor_id']}")


@app.command("drop")
def drop(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Flagged task id.")],
    reason: Annotated[str, typer.Option(help="Why the item leaves its batch (in the manifest).")],
) -> None:
    """Take the task's item out of its batch: the delivery completes without it."""
    context: Context = ctx.obj

    async def dropped(client: AsyncClient) -> dict[str, Any]:
        return (await client.drop_item(task, reason)).model_dump(mode="json")

    result = context.call(dropped)
    context.emit(
        result,
        f"item {result['item_id']} left batch {result['batch_id']} "
        f"({result['tasks_ended']} tasks ended)",
    )
