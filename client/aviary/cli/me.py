"""`aviary me export`: everything the platform keeps about you, as one JSON file (an
annotator's or a reviewer's token)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from aviary.cli.common import Context
from aviary.client import AsyncClient

app = typer.Typer(help="Your own data.")


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it here (default: print it).")
    ] = None,
) -> None:
    """Everything each service keeps about you: work, leases, submissions and their reviews,
    scores, tokens, and what the audit logs recorded you doing."""
    context: Context = ctx.obj

    async def gathered(client: AsyncClient) -> dict[str, Any]:
        return await client.my_data()

    data = context.call(gathered)
    if out is None:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    out.write_text(json.dumps(data, indent=2, default=str))
    counts = {s: sum(len(v) for v in kinds.values()) for s, kinds in data["services"].items()}
    context.emit(
        {"path": str(out), "records": counts},
        f"saved {out}: " + ", ".join(f"{s} {n}" for s, n in counts.items()),
    )
