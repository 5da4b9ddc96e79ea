"""`aviary import --from FORMAT PATH --project P`: another tool's annotations, with their images,
into a project as pre-labels.

The file is read here (aviary.interop), mapped onto the project's ontology and every image
found on disk before anything is sent: the report says what maps to what, what is left out
and what does not fit; if anything does not fit, nothing is uploaded (exit code 5). Then the
images go in as `aviary push` sends them (resumable: a re-run skips what went in), each with
its shapes as the item's pre-annotation, made by `import:<format>`: annotators see them as
proposals to accept, correct or delete, and review's statistics count what they kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer

from aviary.cli.common import Context, Exit
from aviary.cli.push import run_push
from aviary.client import AviaryError
from aviary.contracts.shapes import Annotation, Ontology
from aviary.interop import cvat
from aviary.interop.foreign import ForeignFormatError
from aviary.interop.images import IMAGE_SUFFIXES, find_images
from aviary.interop.mapping import Report, map_onto
from aviary.interop.readers import READERS, read


def parse_mapping(pairs: list[str]) -> dict[str, str | None]:
    """`LABEL=CLASS` pairs; `LABEL=` leaves the label out."""
    mapping: dict[str, str | None] = {}
    for pair in pairs:
        label, sep, name = pair.partition("=")
        if not sep or not label:
            raise typer.BadParameter(f"{pair!r} is not LABEL=CLASS (or LABEL= to leave it out)")
        mapping[label] = name or None
    return mapping


def describe(report: Report) -> str:
    lines = [
        f"{report.format}: {report.images} images, {report.shapes} shapes"
        + ("" if report.ok else f", {len(report.refused)} refused")
    ]
    for label in report.labels.values():
        target = f"-> {label.class_name}" if label.class_name else "left out"
        converted = f" ({label.converted} polygons as boxes)" if label.converted else ""
        lines.append(f"  {label.label} {target}: {label.shapes} shapes{converted}")
    if report.dropped_attributes:
        lines.append(f"  {report.dropped_attributes} attributes the classes do not have, left out")
    lines += [f"  note: {note}" for note in report.notes]
    lines += [f"  refused: {why}" for why in report.refused]
    return "\n".join(lines)


async def plan(
    ctx: Context,
    fmt: str,
    path: Path,
    project_id: str,
    images: Path,
    mapping: dict[str, str | None],
) -> tuple[Report, dict[Path, Annotation]]:
    """The report, and each image file's pre-annotation (empty when anything is refused)."""
    try:
        foreign = await asyncio.to_thread(read, fmt, path)
    except (ForeignFormatError, OSError) as exc:
        ctx.fail(Exit.API_ERROR, f"{path} is not {fmt} as expected: {exc}")
    async with ctx.client() as client:
        project = await client.get_project(project_id)
    ontology = Ontology(classes=tuple(project.ontology.classes))
    mapped = map_onto(foreign, ontology, mapping, source_model=f"import:{fmt}")
    found, missing = await asyncio.to_thread(find_images, foreign, images)
    mapped.report.refused += missing
    files: dict[Path, Annotation] = {}
    for name, annotation in mapped.annotations.items():
        file = found.get(name)
        if file is None:
            continue
        if file in files:
            mapped.report.refused.append(f"image {name!r}: {file} is named by another image too")
        files[file] = annotation
    return mapped.report, files if mapped.report.ok else {}


def checksums(ctx: Context, fmt: str, path: Path, images: Path) -> dict[str, str]:
    """The SHA-256 of each image the file names, found in `images`: the API matches those
    images to items by content (they may have been uploaded under other names)."""
    try:
        foreign = read(fmt, path)
    except (ForeignFormatError, OSError) as exc:
        ctx.fail(Exit.API_ERROR, f"{path} is not {fmt} as expected: {exc}")
    found, missing = find_images(foreign, images)
    if missing:
        ctx.fail(Exit.API_ERROR, "images the file names are not in --images", missing=missing)
    return {name: file_sha256(file) for name, file in found.items()}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_bytes(fmt: str, path: Path) -> bytes:
    """The file as the API takes it: a folder (YOLO, VOC) zipped, a file as it is."""
    if not path.is_dir():
        return path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix.lower() not in IMAGE_SUFFIXES:
                zf.write(file, file.relative_to(path).as_posix())
    return out.getvalue()


def import_annotations(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(exists=True, resolve_path=True, help="The export file (or folder)."),
    ],
    source: Annotated[str, typer.Option("--from", help=f"The format: {', '.join(READERS)}.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project id.")],
    images: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            file_okay=False,
            resolve_path=True,
            help="Folder holding the images (default: the export's own folder).",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="LABEL=CLASS, or LABEL= to leave a label out (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would happen; upload nothing.")
    ] = False,
    batch: Annotated[str | None, typer.Option(help="Existing open batch to import into.")] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, max=64, help="Uploads in flight at once.")
    ] = 8,
    seal: Annotated[bool, typer.Option(help="Seal the batch once everything is in.")] = False,
    uploaded: Annotated[
        bool,
        typer.Option(
            "--uploaded",
            help="The images are already in --batch: send only the shapes, matched to the items"
            " by file name, or by content when --images holds the images.",
        ),
    ] = False,
    item: Annotated[
        str | None,
        typer.Option(help="CVAT for video: the video item its tracks are for (with --uploaded)."),
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--as",
            help="prelabels (proposals to accept or correct) or gold (known answers; "
            "needs --uploaded).",
        ),
    ] = "prelabels",
) -> None:
    """Import annotations from Label Studio, CVAT, COCO, YOLO or Pascal VOC as pre-labels."""
    context: Context = ctx.obj
    if source not in READERS:
        raise typer.BadParameter(f"--from must be one of {', '.join(READERS)}")
    if kind not in ("prelabels", "gold"):
        raise typer.BadParameter("--as must be prelabels or gold")
    if kind == "gold" and not uploaded:
        raise typer.BadParameter("gold is for images already uploaded: add --uploaded --batch")
    video = source == "cvat" and path.is_file() and cvat.holds_tracks(path.read_bytes())
    if video and not uploaded:
        raise typer.BadParameter(
            "a CVAT for video file goes onto a video already uploaded: add --uploaded --batch"
            " (and --item, unless the file names the video)"
        )
    if uploaded:
        if batch is None:
            raise typer.BadParameter("--uploaded needs the --batch the images are in")
        # The API matches the images to the batch's items (for YOLO, their sizes too): by
        # content when --images holds them here, else by the file names they were uploaded as.
        data, rename = file_bytes(source, path), parse_mapping(mapping or [])
        sums = checksums(context, source, path, images) if images and not video else None
        answer = context.call(
            lambda client: client.import_annotations(batch, source, data, rename, kind, sums, item)
        )
        what = "as gold" if kind == "gold" else "as proposals"
        context.emit(answer, f"{answer['items']} items get the file's shapes {what}")
        return
    folder = images or (path if path.is_dir() else path.parent)
    try:
        report, files = asyncio.run(
            plan(context, source, path, project, folder, parse_mapping(mapping or []))
        )
        if not report.ok:
            if not context.json:
                context.console.print(describe(report))
            context.fail(
                Exit.API_ERROR,
                "nothing was imported: the file does not fit the project",
                report=report.as_dict(),
            )
        result: dict[str, Any] = {"report": report.as_dict(), "dry_run": dry_run}
        if not dry_run:
            result["push"] = asyncio.run(
                run_push(context, folder, project, batch, concurrency, seal, files)
            )
    except AviaryError as exc:
        context.api_error(exc)
    human = describe(report)
    if dry_run:
        human += "\n(dry run: nothing uploaded)"
    else:
        pushed = result["push"]
        human += (
            f"\nbatch {pushed['batch_id']}: {pushed['uploaded']} uploaded, "
            f"{pushed['duplicates']} duplicates, {len(pushed['refused'])} refused, "
            f"{pushed['skipped']} already in (skipped)"
        )
        human += "".join(
            f"\n  refused {r['path']}: {r['code']} ({r['message']})" for r in pushed["refused"]
        )
    context.emit(result, human)
    if not dry_run and result["push"]["refused"]:
        raise typer.Exit(int(Exit.PARTIAL))
