"""`aviary project create|edit|list|show|vendors`: a client's projects from the terminal.

A project is made from a name, an ontology file (YAML or JSON: `{"classes": [...]}`, or the
list of classes alone) and the vendors that do the work (`--vendor VENDOR` or `VENDOR:SHARE`,
a vendor by name or id, shares equal when not given); anything else the API takes (review
policy, piece rate, media, delivery formats, ...) comes from `--spec`, a YAML or JSON object of
those fields. `edit` makes the next version: what it is given replaces those fields, the rest
stays as it was. The API checks it all: a refusal names the field (exit 5).
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
    """`VENDOR` or `VENDOR:SHARE` each; vendors without a share split what the others leave
    (`VENDOR` as given: `named_vendors` turns names into ids)."""
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


def named_vendors(
    context: Context, shares: list[dict[str, Any]], vendors: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """Each share's vendor as an id: given as one, or by its name (which must name one)."""
    ids = {v["id"] for v in vendors}
    by_name: dict[str, list[str]] = {}
    for v in vendors:
        by_name.setdefault(v["name"], []).append(v["id"])
    named = []
    for share in shares:
        given = share["vendor_id"]
        found = [given] if given in ids else by_name.get(given, [])
        if len(found) != 1:
            why = "names several vendors" if found else "is no vendor's id or name"
            context.fail(Exit.API_ERROR, f"--vendor {given!r} {why} (aviary project vendors)")
        named.append({**share, "vendor_id": found[0]})
    return named


async def vendor_list(client: AsyncClient) -> list[dict[str, str]]:
    return [v.model_dump() for v in await client.list_vendors()]


@app.command("vendors")
def vendors(ctx: typer.Context) -> None:
    """The vendors a project may name (client, operator): names and ids."""
    context: Context = ctx.obj
    rows = context.call(vendor_list)
    context.emit(rows, "\n".join(f"{v['name']}  {v['id']}" for v in rows) or "no vendors")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project's name.")],
    ontology: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="Classes: a YAML or JSON file."),
    ],
    vendor: Annotated[
        list[str],
        typer.Option(help="A vendor doing the work: NAME or ID, :SHARE after it (repeatable)."),
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
    shares = vendor_shares(vendor)
    body |= {
        "name": name,
        "ontology": {"classes": classes} if isinstance(classes, list) else classes,
    }
    if instructions is not None:
        body["instructions"] = instructions.read_text(encoding="utf-8")

    async def made(client: AsyncClient) -> dict[str, Any]:
        body["vendors"] = named_vendors(context, shares, await vendor_list(client))
        return (await client.create_project(**body)).model_dump(mode="json")

    project = context.call(made)
    kinds = ", ".join(f"{c['name']} ({c['kind']})" for c in project["ontology"]["classes"])
    context.emit(project, f"created project {project['id']} ({name}): {kinds}")


# What a project's next version is made of (ProjectUpdate): the rest of ProjectRead is the
# server's (id, version, names, dates) and is not sent back.
SETTINGS = (
    "name", "ontology", "instructions", "overlap", "vendors", "review", "reject_reasons",
    "piece_rate", "priority", "deadline", "delivery_formats", "include_images", "include_people",
    "webhook_url", "media", "video", "audio", "assist", "privacy", "onboarding",
)  # fmt: skip


@app.command("edit")
def edit(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="Project id.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    ontology: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="The classes: a YAML or JSON file."),
    ] = None,
    vendor: Annotated[
        list[str] | None,
        typer.Option(help="The vendors, all of them: NAME or ID, :SHARE after it."),
    ] = None,
    instructions: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="The instructions (Markdown)."),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Other fields to change: YAML or JSON."),
    ] = None,
) -> None:
    """Make a project's next version (client): the fields given change, the rest stay."""
    context: Context = ctx.obj
    changes: dict[str, Any] = {}
    if spec is not None:
        changes = read_document(context, spec, "project spec")
        if not isinstance(changes, dict):
            context.fail(Exit.API_ERROR, f"{spec}: the spec is an object of project fields")
    if name is not None:
        changes["name"] = name
    if ontology is not None:
        classes = read_document(context, ontology, "ontology")
        changes["ontology"] = {"classes": classes} if isinstance(classes, list) else classes
    if instructions is not None:
        changes["instructions"] = instructions.read_text(encoding="utf-8")
    shares = vendor_shares(vendor) if vendor else None

    async def edited(client: AsyncClient) -> dict[str, Any]:
        current = (await client.get_project(project_id)).model_dump(mode="json")
        body = {k: current[k] for k in SETTINGS if k in current} | changes
        if shares is not None:
            body["vendors"] = named_vendors(context, shares, await vendor_list(client))
        return (await client.update_project(project_id, **body)).model_dump(mode="json")

    project = context.call(edited)
    context.emit(
        project, f"project {project['id']} ({project['name']}) is now version {project['version']}"
    )


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
    names = project.get("vendor_names") or {}
    lines = [
        f"{project['name']} ({project['id']}), version {project['version']}, {project['media']}",
        "classes:",
        *(class_line(c) for c in project["ontology"]["classes"]),
        "vendors: " + ", ".join(vendor_line(v, names) for v in project["vendors"]),
        f"review: {project['review']['mode']}, overlap {project['overlap']},"
        f" piece rate {project['piece_rate']}",
        f"delivery: {', '.join(project['delivery_formats'])}",
    ]
    context.emit(project, "\n".join(lines))


def vendor_line(share: dict[str, Any], names: dict[str, str]) -> str:
    rate = f", piece rate {share['piece_rate']}" if share.get("piece_rate") is not None else ""
    return f"{names.get(share['vendor_id'], share['vendor_id'])} ({share['share']:.0%}{rate})"


def class_line(cls: dict[str, Any]) -> str:
    attributes = ", ".join(a["name"] for a in cls["attributes"])
    return f"  {cls['id']}: {cls['name']} ({cls['kind']})" + (
        f", attributes {attributes}" if attributes else ""
    )
