"""`aviary delete item|batch|project|org ID` and `aviary deletions`: what a client sent, deleted
from every service, and the certificate that proves it (a client deletes its own items,
batches and projects; the operator also a client organisation).

A deletion is `pending` until every service has removed its part, then `complete` with its
certificate. `--wait` follows it that far; `--certificate FILE` also writes the certificate
there, once its digest checks out (exit 4 when it does not). Asking again for the same
target returns the same deletion, so running the command again with `--certificate` fetches
the certificate of one asked for earlier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from aviary.cli.common import Context, Exit
from aviary.client import AsyncClient, DeletionTimeout, verify_certificate
from aviary.contracts.ingest import DeletionRead

app = typer.Typer(
    help="Delete an item, a batch or a project everywhere (the operator: a client "
    "organisation), with a certificate.",
    no_args_is_help=True,
)

Scope = Literal["item", "batch", "project", "org"]
Wait = Annotated[
    bool, typer.Option("--wait", help="Wait until every service has removed its part.")
]
CertificateFile = Annotated[
    Path | None,
    typer.Option(
        "--certificate",
        dir_okay=False,
        help="Once complete, write the certificate (JSON) here, its digest checked first "
        "(waits, as --wait).",
    ),
]
Timeout = Annotated[
    float, typer.Option("--timeout", min=1, help="How long to wait, in seconds (exit 1 after).")
]
DEFAULT_TIMEOUT_S = 300.0


@app.command("item")
def delete_item(
    ctx: typer.Context,
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    wait: Wait = False,
    certificate: CertificateFile = None,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Delete one item (client, operator).

    Its media and everything made from it, its tasks, the work on it and its batch's delivery
    packages."""
    delete(ctx.obj, "item", item_id, wait, certificate, timeout)


@app.command("batch")
def delete_batch(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="Batch id.")],
    wait: Wait = False,
    certificate: CertificateFile = None,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Delete a batch with every item in it (client, operator)."""
    delete(ctx.obj, "batch", batch_id, wait, certificate, timeout)


@app.command("project")
def delete_project(
    ctx: typer.Context,
    project_id: Annotated[str, typer.Argument(help="Project id.")],
    wait: Wait = False,
    certificate: CertificateFile = None,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Delete a project (client, operator).

    Its versions, batches, items, the work on them and its deliveries."""
    delete(ctx.obj, "project", project_id, wait, certificate, timeout)


@app.command("org")
def delete_org(
    ctx: typer.Context,
    org_id: Annotated[str, typer.Argument(help="A client organisation's id.")],
    wait: Wait = False,
    certificate: CertificateFile = None,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Delete a client organisation (operator).

    Every project of it, its tokens and itself; a vendor's is refused (exit 5)."""
    delete(ctx.obj, "org", org_id, wait, certificate, timeout)


def delete(
    context: Context,
    scope: Scope,
    target_id: str,
    wait: bool,
    certificate: Path | None,
    timeout_s: float,
) -> None:
    """Ask for the deletion, follow it to its end if told to, and write its certificate."""
    if certificate is not None and not certificate.parent.is_dir():
        # Checked before anything is deleted: the certificate must have somewhere to go.
        context.fail(Exit.USAGE, f"--certificate {certificate}: no folder {certificate.parent}")

    async def deleted(client: AsyncClient) -> DeletionRead:
        asked = {
            "item": client.delete_item,
            "batch": client.delete_batch,
            "project": client.delete_project,
            "org": client.delete_org,
        }[scope]
        deletion = await asked(target_id)
        if deletion.status == "pending" and (wait or certificate is not None):
            deletion = await client.wait_for_deletion(deletion.id, timeout_s)
        return deletion

    try:
        deletion = context.call(deleted)
    except DeletionTimeout as exc:
        context.fail(
            Exit.FAILED,
            f"{exc}; it goes on: `aviary deletions` follows it",
            deletion=exc.deletion.model_dump(mode="json"),
        )
    data: dict[str, Any] = deletion.model_dump(mode="json")
    if deletion.certificate is None:
        done = ", ".join(deletion.services_done) or "none yet"
        context.emit(
            data,
            f"deletion {deletion.id} of {scope} {target_id} asked for: pending "
            f"(services done: {done}); `aviary deletions` follows it",
        )
        return
    if not verify_certificate(deletion.certificate):
        context.fail(
            Exit.VERIFY_FAILED,
            f"the certificate of deletion {deletion.id} does not match its digest"
            + (f"; {certificate} not written" if certificate is not None else ""),
            deletion=data,
        )
    cert = deletion.certificate
    lines = [
        f"{scope} {target_id} deleted everywhere (deletion {deletion.id}): "
        f"{cert.records_removed} records and {cert.objects_removed} objects removed, "
        f"{len(cert.content_sha256)} media files gone",
        f"certificate digest {cert.digest} (verified)",
    ]
    if certificate is not None:
        write_certificate(context, data["certificate"], certificate)
        data["certificate_file"] = str(certificate)
        lines.append(f"certificate written to {certificate}")
    context.emit(data, "\n".join(lines))


def write_certificate(context: Context, certificate: dict[str, Any], path: Path) -> None:
    """The certificate as the API gave it (the digest covers every other field as written)."""
    try:
        path.write_text(json.dumps(certificate, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        context.fail(Exit.FAILED, f"--certificate {path}: not written ({exc})")


def deletions(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 100,
) -> None:
    """Deletions asked for by this organisation (the operator: everyone's), newest first."""
    context: Context = ctx.obj

    async def listed(client: AsyncClient) -> list[dict[str, Any]]:
        return [d.model_dump(mode="json") for d in await client.deletions(limit)]

    rows = context.call(listed)
    if context.json:
        context.emit(rows)
        return
    table = Table(
        "deletion", "scope", "target", "status", "requested by", "requested at", "records",
        "objects",
    )  # fmt: skip
    for row in rows:
        cert = row["certificate"]
        table.add_row(
            row["id"],
            row["scope"],
            row["target_id"],
            row["status"],
            row["requested_by"],
            row["requested_at"],
            str(cert["records_removed"]) if cert else "-",
            str(cert["objects_removed"]) if cert else "-",
        )
    context.console.print(table)
