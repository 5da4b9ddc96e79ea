"""`aviary admin`: organisations and credentials (operator; vendor admins for their people)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aviary.cli.common import Context
from aviary.client import AsyncClient

app = typer.Typer(help="Organisations and credentials.", no_args_is_help=True)
orgs = typer.Typer(help="Client and vendor organisations (operator only).", no_args_is_help=True)
tokens = typer.Typer(help="API tokens for people and integrations.", no_args_is_help=True)
people = typer.Typer(help="People: invitations to work on Aviary.", no_args_is_help=True)
app.add_typer(orgs, name="org")
app.add_typer(tokens, name="token")


@orgs.command("create")
def create_org(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Display name.")],
    kind: Annotated[str, typer.Option(help="client or vendor.")] = "client",
) -> None:
    """Register a client company or a labeling company (vendor)."""
    context: Context = ctx.obj

    async def create(client: AsyncClient) -> dict[str, object]:
        return (await client.create_org(name, kind)).model_dump(mode="json")

    org = context.call(create)
    context.emit(org, f"created {kind} {org['id']} ({name})")


@orgs.command("list")
def list_orgs(ctx: typer.Context) -> None:
    """Every organisation on the platform."""
    context: Context = ctx.obj

    async def listed(client: AsyncClient) -> list[dict[str, object]]:
        return [o.model_dump(mode="json") for o in await client.list_orgs()]

    rows = context.call(listed)
    if context.json:
        context.emit(rows)
        return
    table = Table("id", "name", "kind", "created")
    for row in rows:
        table.add_row(str(row["id"]), str(row["name"]), str(row["kind"]), str(row["created_at"]))
    context.console.print(table)


@tokens.command("issue")
def issue_token(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="Organisation id.")],
    role: Annotated[str, typer.Option(help="client, vendor_admin, annotator or reviewer.")],
    subject: Annotated[str, typer.Option(help="Who or what the token is for.")],
    ttl_days: Annotated[int, typer.Option(min=1, max=365)] = 30,
) -> None:
    """Issue a token (printed once; store it like a password)."""
    context: Context = ctx.obj

    async def issue(client: AsyncClient) -> dict[str, object]:
        token = await client.issue_token(org, role, subject, ttl_days * 24 * 3600)
        return token.model_dump(mode="json")

    token = context.call(issue)
    context.emit(token, str(token["token"]))


# Where each role works, by the service that serves its page (web/README.md).
PAGES = {
    "annotator": ("dispatch", "/ui/label.html"),
    "reviewer": ("review", "/ui/review.html"),
    "vendor_admin": ("export", "/ui/dashboard.html"),
    "client": ("export", "/ui/dashboard.html"),
}


@people.command("invite")
def invite(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The person, as their organisation knows them.")],
    org: Annotated[str, typer.Option(help="Their organisation's id.")],
    role: Annotated[str, typer.Option(help="annotator, reviewer, vendor_admin or client.")],
    days: Annotated[int, typer.Option(min=1, max=365, help="How long the token works.")] = 30,
) -> None:
    """Give a person a token and the page they work on: the invitation to send them."""
    context: Context = ctx.obj
    if role not in PAGES:
        raise typer.BadParameter(f"--role must be one of {', '.join(PAGES)}")

    async def issue(client: AsyncClient) -> dict[str, object]:
        token = await client.issue_token(org, role, name, days * 24 * 3600)
        return token.model_dump(mode="json")

    token = context.call(issue)
    service, page = PAGES[role]
    url = getattr(context.endpoints, service).rstrip("/") + page
    invitation = {**token, "page": url}
    context.emit(
        invitation,
        f"invited {name} as {role} until {token['expires_at']}.\n"
        f"Send them (privately; it is shown once):\n  page:  {url}\n  token: {token['token']}",
    )
