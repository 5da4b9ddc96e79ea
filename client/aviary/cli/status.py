"""`aviary status`: every batch's progress, as the API reports it.

Queue depths and dead letters are the operator's view of the broker: `aviary-ops`, which ships
with the services.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from aviary.cli.common import Context
from aviary.client import AviaryError


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
) -> None:
    """Progress of every batch: received, labeling, review, accepted, delivered."""
    context: Context = ctx.obj
    try:
        rows = asyncio.run(progress(context, project))
    except AviaryError as exc:
        context.api_error(exc)
    if context.json:
        context.emit({"batches": rows})
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
    for row in rows:
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
