"""`aviary models`: operator models for assisted labeling (install and list)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from aviary.cli.common import Context, Exit
from aviary.client import AsyncClient

app = typer.Typer(help="ONNX models that pre-label and outline (operator).", no_args_is_help=True)
ROLES = ("model", "encoder", "decoder")


def file_roles(context: Context, given: list[str]) -> dict[str, Path]:
    """`[ROLE=]PATH` arguments by role: a lone file is the model; a pair is the encoder and
    decoder, named by `encoder=` and `decoder=` or by their file names (as samexporter writes
    them: `*.encoder.onnx`, `*.decoder.onnx`)."""
    files: dict[str, Path] = {}
    for item in given:
        role, sep, named = item.partition("=")
        if sep and role in ROLES:
            files[role] = Path(named)
            continue
        guess = Path(item)
        stem = guess.name.lower()
        if len(given) == 1:
            files["model"] = guess
        elif "encoder" in stem and "decoder" not in stem:
            files["encoder"] = guess
        elif "decoder" in stem and "encoder" not in stem:
            files["decoder"] = guess
        else:
            context.fail(Exit.USAGE, f"{item}: say which file it is, e.g. encoder={item}")
    for role, path in files.items():
        if not path.is_file():
            context.fail(Exit.USAGE, f"{role}: no such file {path}")
    if len(files) != len(given):
        context.fail(Exit.USAGE, "each role may be given once")
    return files


@app.command("upload")
def upload(
    ctx: typer.Context,
    manifest: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="The model's manifest (JSON)."),
    ],
    files: Annotated[
        list[str],
        typer.Argument(
            help="The ONNX file (detect, segment), or encoder and decoder "
            "(promptable-segment) as encoder=PATH decoder=PATH."
        ),
    ],
) -> None:
    """Install a model: checked against its task, then kept as the name's next version."""
    context: Context = ctx.obj
    try:
        spec = json.loads(manifest.read_text())
    except ValueError as exc:
        context.fail(Exit.USAGE, f"{manifest} is not JSON: {exc}")
    roles = file_roles(context, files)

    async def install(client: AsyncClient) -> dict[str, Any]:
        return (await client.upload_model(spec, roles)).model_dump(mode="json")

    try:
        model = context.call(install)
    except ValueError as exc:  # a manifest the contract refuses before anything is sent
        context.fail(Exit.USAGE, f"{manifest}: {exc}")
    context.emit(model, f"installed {model['name']}@{model['version']} ({model['task']})")


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """The installed models (the latest version of each)."""
    context: Context = ctx.obj

    async def listed(client: AsyncClient) -> list[dict[str, Any]]:
        return [m.model_dump(mode="json") for m in await client.models()]

    rows = context.call(listed)
    if context.json:
        context.emit(rows)
        return
    table = Table("model", "task", "input", "classes", "licence", "uploaded")
    for row in rows:
        spec = row["manifest"]
        width, height = spec["input_size"]
        table.add_row(
            f"{row['name']}@{row['version']}",
            str(row["task"]),
            f"{width}x{height}",
            ", ".join(sorted(set(spec["class_map"].values()))) or "-",
            str(spec["licence"]),
            str(row["uploaded_at"]),
        )
    context.console.print(table)
