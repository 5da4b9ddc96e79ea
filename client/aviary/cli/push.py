"""`aviary push DIR --project P`: upload a folder tree, resumably.

A journal in the folder (`.aviary-push-<project>.jsonl`) records every file that went in, as
soon as it went in; a re-run (after a crash, a kill, a lost connection) skips those and uploads
only the rest. Files are identified by relative path, size and modification time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aviary.cli.common import Context, Exit
from aviary.client import AsyncClient, AviaryError
from aviary.contracts.shapes import Annotation


@dataclass
class Journal:
    path: Path
    batch_id: str | None = None
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path, project_id: str) -> Journal:
        journal = cls(folder / f".aviary-push-{project_id}.jsonl")
        if journal.path.exists():
            for line in journal.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill
                if "batch_id" in entry and "path" not in entry:
                    journal.batch_id = entry["batch_id"]
                elif "item_id" in entry:
                    journal.done[entry["path"]] = entry
        return journal

    def write(self, entry: dict[str, Any]) -> None:
        with self.path.open("a") as f:  # one line per outcome, flushed at once
            f.write(json.dumps(entry) + "\n")
            f.flush()

    def has(self, rel: str, stat: Any) -> bool:
        entry = self.done.get(rel)
        return entry is not None and (entry["size"], entry["mtime_ns"]) == (
            stat.st_size,
            stat.st_mtime_ns,
        )


def files_under(folder: Path) -> list[Path]:
    """Every regular file below `folder`, hidden ones excepted, in a stable order."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


async def open_batch(
    client: AsyncClient, project_id: str, journal: Journal, batch_id: str | None
) -> str:
    """The batch to push into: the one asked for, the journal's if still open, or a new one."""
    if batch_id:
        return batch_id
    if journal.batch_id:
        try:
            if (await client.get_batch(journal.batch_id)).status == "open":
                return journal.batch_id
        except AviaryError:
            pass  # gone or not ours: start a new batch
    batch = await client.create_batch(project_id, name="aviary push")
    journal.write({"batch_id": batch.id})
    return batch.id


async def run_push(
    ctx: Context,
    folder: Path,
    project_id: str,
    batch_id: str | None,
    concurrency: int,
    seal: bool,
    pre_annotations: Mapping[Path, Annotation] | None = None,
) -> dict[str, Any]:
    """Upload the files under `folder` (only those of `pre_annotations`, each with its own,
    when given: `aviary import`)."""
    journal = Journal.open(folder, project_id)
    paths = files_under(folder) if pre_annotations is None else sorted(pre_annotations)
    todo = [p for p in paths if not journal.has(str(p.relative_to(folder)), p.stat())]
    summary: dict[str, Any] = {
        "project_id": project_id,
        "files": len(paths),
        "skipped": len(paths) - len(todo),
        "uploaded": 0,
        "duplicates": 0,
        "refused": [],
    }
    async with ctx.client() as client:
        summary["batch_id"] = await open_batch(client, project_id, journal, batch_id)
        limiter = asyncio.Semaphore(concurrency)
        with Progress(
            TextColumn("uploading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=ctx.console,
            disable=ctx.json,
        ) as bar:
            task = bar.add_task("push", total=len(todo))

            async def one(path: Path) -> None:
                rel = str(path.relative_to(folder))
                async with limiter:
                    stat = await asyncio.to_thread(path.stat)
                    data = await asyncio.to_thread(path.read_bytes)
                    pre = pre_annotations.get(path) if pre_annotations is not None else None
                    try:
                        item = await client.upload(summary["batch_id"], data, path.name, pre)
                    except AviaryError as exc:
                        if exc.status >= 500 or exc.code == "batch_sealed":
                            raise
                        summary["refused"].append(
                            {"path": rel, "code": exc.code, "message": exc.message}
                        )
                    else:
                        journal.write(
                            {
                                "path": rel,
                                "size": stat.st_size,
                                "mtime_ns": stat.st_mtime_ns,
                                "item_id": item.id,
                                "duplicate": item.duplicate,
                            }
                        )
                        summary["duplicates" if item.duplicate else "uploaded"] += 1
                bar.advance(task)

            await asyncio.gather(*(one(p) for p in todo))
        if seal:
            await client.seal_batch(summary["batch_id"])
        summary["sealed"] = seal
    return summary


def push(
    ctx: typer.Context,
    folder: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, resolve_path=True, help="Folder tree of images to upload."
        ),
    ],
    project: Annotated[str, typer.Option("--project", "-p", help="Project id.")],
    batch: Annotated[str | None, typer.Option(help="Existing open batch to push into.")] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, max=64, help="Uploads in flight at once.")
    ] = 8,
    seal: Annotated[bool, typer.Option(help="Seal the batch once everything is in.")] = False,
) -> None:
    """Upload every file under FOLDER (resumable: a re-run skips what is already in).

    The service decides what is an image (by its bytes, not its name); refused files are
    listed with the reason and the exit code is 3. Re-running after fixing or removing them
    uploads only what is missing.
    """
    context: Context = ctx.obj
    try:
        summary = asyncio.run(run_push(context, folder, project, batch, concurrency, seal))
    except AviaryError as exc:
        context.api_error(exc)
    refused = summary["refused"]
    lines = [
        f"batch {summary['batch_id']}: {summary['uploaded']} uploaded, "
        f"{summary['duplicates']} duplicates, {len(refused)} refused, "
        f"{summary['skipped']} already in (skipped)"
    ]
    lines += [f"  refused {r['path']}: {r['code']} ({r['message']})" for r in refused]
    context.emit(summary, "\n".join(lines))
    if refused:
        raise typer.Exit(int(Exit.PARTIAL))
