"""`aviary`: the command line for client integrations and ops people.

Every command takes `--json` for scripts and exits with a code that means something
(see `aviary.cli.common.Exit`). Credentials: `--token` or `AVIARY_TOKEN`; endpoints:
`AVIARY_INGEST_URL`, `AVIARY_DISPATCH_URL`, `AVIARY_REVIEW_URL`, `AVIARY_EXPORT_URL`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from aviary.cli import admin, deliveries, push, simulate, status
from aviary.cli.common import make_context

app = typer.Typer(
    name="aviary",
    help="Push images, follow progress, pull deliveries, administer and simulate Aviary.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    token: Annotated[str | None, typer.Option(help="API token (default: $AVIARY_TOKEN).")] = None,
    ingest_url: Annotated[str | None, typer.Option(help="Ingest base URL.")] = None,
    dispatch_url: Annotated[str | None, typer.Option(help="Dispatch base URL.")] = None,
    review_url: Annotated[str | None, typer.Option(help="Review base URL.")] = None,
    export_url: Annotated[str | None, typer.Option(help="Export base URL.")] = None,
) -> None:
    """Aviary: the data-labeling backbone, from the terminal."""
    ctx.obj = make_context(json_output, token, ingest_url, dispatch_url, review_url, export_url)


app.command("push")(push.push)
app.command("pull")(deliveries.pull)
app.command("verify")(deliveries.verify)
app.command("status")(status.status)
app.command("simulate")(simulate.simulate)
app.add_typer(admin.app, name="admin")
app.add_typer(status.dlq_app, name="dlq")


def main() -> None:
    app()
