"""`aviary`: the command line for client integrations, vendor admins and operators.

Every command takes `--json` for scripts and exits with a code that means something
(see `aviary.cli.common.Exit`). Credentials: `--token` or `AVIARY_TOKEN`; endpoints:
`AVIARY_INGEST_URL`, `AVIARY_DISPATCH_URL`, `AVIARY_REVIEW_URL`, `AVIARY_EXPORT_URL`,
`AVIARY_ASSIST_URL`.
It speaks HTTP only; `aviary-ops` (shipped with the services) talks to the broker.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aviary import __version__
from aviary.cli import (
    admin,
    deletions,
    deliveries,
    flagged,
    imports,
    me,
    models,
    onboarding,
    projects,
    push,
    status,
)
from aviary.cli.common import JsonFlag, make_context, version_flag

app = typer.Typer(
    name="aviary",
    help="Push images, follow progress, pull deliveries and administer Aviary.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    token: Annotated[str | None, typer.Option(help="API token (default: $AVIARY_TOKEN).")] = None,
    ingest_url: Annotated[str | None, typer.Option(help="Ingest base URL.")] = None,
    dispatch_url: Annotated[str | None, typer.Option(help="Dispatch base URL.")] = None,
    review_url: Annotated[str | None, typer.Option(help="Review base URL.")] = None,
    export_url: Annotated[str | None, typer.Option(help="Export base URL.")] = None,
    assist_url: Annotated[str | None, typer.Option(help="Assist base URL.")] = None,
    _version: Annotated[bool, version_flag(f"aviary {__version__}")] = False,
) -> None:
    """Aviary: the data-labeling backbone, from the terminal."""
    ctx.obj = make_context(
        json_output, token, ingest_url, dispatch_url, review_url, export_url, assist_url
    )


app.command("push")(push.push)
app.command("import")(imports.import_annotations)
app.command("pull")(deliveries.pull)
app.command("verify")(deliveries.verify)
app.command("status")(status.status)
app.command("deletions")(deletions.deletions)
app.add_typer(admin.app, name="admin")
app.add_typer(admin.people, name="people")
app.add_typer(projects.app, name="project")
app.add_typer(models.app, name="models")
app.add_typer(flagged.app, name="flagged")
app.add_typer(deletions.app, name="delete")
app.add_typer(me.app, name="me")
app.add_typer(onboarding.app, name="onboarding")


def main() -> None:
    app(args=json_first(sys.argv[1:]))


def json_first(args: list[str]) -> list[str]:
    """`--json` wherever it is given (`aviary status --json`) as the option it is: before the
    command. Arguments after `--` are left as they are."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a == "--json"]
    return [*flags, *(a for a in args[:end] if a != "--json"), *args[end:]]
