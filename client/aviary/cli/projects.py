"""`aviary project create|list|show`: a client's projects from the terminal.

A project is made from a name, an ontology file (YAML or JSON: `{"classes": [...]}`, or the
list of classes alone) and the vendors that do the work (`--vendor ID` or `ID:SHARE`, shares
equal when not given); anything else the API takes (review policy, piece rate, media, delivery
formats, ...) comes from `--spec`, a YAML or JSON object of those fields. The API checks it all:
a refusal names the field (exit 5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from aviary.cli.common import Context, Exit
from aviary.client import AsyncClient

app = typer.Typer(help="Projects: ontology, vendors, review policy.", no_args_is_help=True)


def read_document(ctx: Context, path: Path, what: str) -> Any:
    """A YAML or JSON file (JSON is YAML too), read or the command ends (exit 5)."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        ctx.fail(Exit.API_ERROR, f"{path}: not a readable {what} ({exc})")


def vendor_shares(specs: list[str]) -> list[dict[str, Any]]:
    """`ID` or `ID:SHARE` each; vendors without a share split what the others leave."""
    given: dict[str, float | None] = {}
    for spec in specs:
        vendor, _, share = spec.partition(":")
        if not vendor or vendor in given:
            raise typer.BadParameter(f"--vendor {spec!r}: one vendor id each, once")
        try:
            given[vendor] = float(share) if share else None
        except ValueError as exc:
            raise typer.BadParameter(f"--vendor {spec!r}: the share is a number") from exc
    open_ = [v for v, s in given.items() if s is None]
    left = 1.0 - sum(s for s in given.values() if s is not None)
    return [
        {"vendor_id": v, "share": s if s is not None else round(left / len(open_), 6)}
        for v, s in given.items()
    ]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project's name.")],
    ontology: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="Classes: a YAML or JSON file."),
    ],
    vendor: Annotated[
        list[str], typer.Option(help="A vendor doing the work: ID or ID:SHARE (repeatable).")
    ],
    instructions: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="The instructions (Markdown)."),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Other fields: a YAML or JSON object (review, ...)."
        ),
    ] = None,
) -> None:
    """Create a project (client)."""
    context: Context = ctx.obj
    classes = read_document(context, ontology, "ontology")
    body: dict[str, Any] = {}
    if spec is not None:
        body = read_document(context, spec, "project spec")
        if not isinstance(body, dict):
            context.fail(Exit.API_ERROR, f"{spec}: the spec is an object of project fields")
    body |= {
        "name": name,
        "ontology": {"classes": classes} if isinstance(classes, list) else classes,
        "vendors": vendor_shares(vendor),
    }
    if instructions is not None:
        body["instructions"] = instructions.read_text(encoding="utf-8")

    async def made(client: AsyncClient) -> dict[str, Any]:
        return (await client.create_project(**body)).model_dump(mode="json")

    project = context.call(made)
    kinds = ", ".join(f"{c['name']} ({c['kind']})" for c in project["ontology"]["classes"])
    context.emit(project, f"created project {project['id']} ({name}): {kinds}")


@app.command("list")
def list_projects(ctx: typer.Context) -> None:
    """The projects this token sees (a client its own; the operator every one)."""
    context: Context = ctx.obj

    async def listed(client: AsyncClient) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in await client.list_projects()]

    rows = context.call(listed)
    if context.json:
        context.emit(rows)
        return
    table = Table("id", "name", "media", "classes", "version", "vendors")
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            row["media"],
            str(len(row["ontology"]["classes"])),
            str(row["version"]),
            str(len(row["vendors"])),
        )
    context.console.print(table)


@app.command("show")
def show(
    ctx: typer.Context, project_id: Annotated[str, typer.Argument(help="Project id.")]
) -> None:
    """One project: its ontology, vendors, review policy and delivery."""
    context: Context = ctx.obj

    async def got(client: AsyncClient) -> dict[str, Any]:
        return (await client.get_project(project_id)).model_dump(mode="json")

    project = context.call(got)
    lines = [
        f"{project['name']} ({project['id']}), version {project['version']}, {project['media']}",
        "classes:",
        *(
            f"  {c['id']}: {c['name']} ({c['kind']})"
            + (
                f", attributes {', '.join(a['name'] for a in c['attributes'])}"
                if c["attributes"]
                else ""
            )
            for c in project["ontology"]["classes"]
        ),
        "vendors: " + ", ".join(f"{v['vendor_id']} ({v['share']:.0%})" for v in project["vendors"]),
        f"review: {project['review']['mode']}, overlap {project['overlap']},"
        f" piece rate {project['piece_rate']}",
        f"delivery: {', '.join(project['delivery_formats'])}",
    ]
    context.emit(project, "\n".join(lines))


def class_line(cls: dict[str, Any]) -> str:
    attributes = ", ".join(a["name"] for a in cls["attributes"])
    return f"  {cls['id']}: {cls['name']} ({cls['kind']})" + (
        f", attributes {attributes}" if attributes else ""
    )
