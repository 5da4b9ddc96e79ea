"""`aviary pull DELIVERY` and `aviary verify ZIP`: download and check deliveries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aviary.cli.common import Context, Exit
from aviary.client import AsyncClient, VerificationError, verify_file


def pull(
    ctx: typer.Context,
    delivery: Annotated[str, typer.Argument(help="Delivery id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to save the zip in.")] = Path(),
    verify: Annotated[
        bool, typer.Option(help="Check the zip and every file against the manifest's sha256.")
    ] = True,
) -> None:
    """Download a ready delivery (and, by default, verify every checksum)."""
    context: Context = ctx.obj

    async def download(client: AsyncClient) -> Path:
        return await client.download_delivery(delivery, out, verify=verify)

    try:
        path = context.call(download)
    except VerificationError as exc:
        context.fail(Exit.VERIFY_FAILED, f"delivery {delivery} failed verification: {exc}")
    context.emit(
        {"delivery_id": delivery, "path": str(path), "verified": verify},
        f"saved {path}" + (" (verified)" if verify else ""),
    )


def verify(
    ctx: typer.Context,
    package: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A delivery zip on disk.")
    ],
    sha256: Annotated[str | None, typer.Option(help="The delivery's sha256, if known.")] = None,
) -> None:
    """Check a delivery zip on disk against its manifest (and its sha256, if given)."""
    context: Context = ctx.obj
    try:
        manifest = verify_file(package, sha256)
    except VerificationError as exc:
        context.fail(Exit.VERIFY_FAILED, f"{package} failed verification: {exc}")
    context.emit(
        {
            "path": str(package),
            "verified": True,
            "counts": manifest["counts"],
            "files": len(manifest["files"]),
        },
        f"{package}: {len(manifest['files'])} files verified, "
        f"{manifest['counts']['images']} images",
    )
