"""`aviary onboarding projects|people|admit|me`: who trained and passed in projects that ask
new people to train and pass an exam (docs/onboarding.md), and admission by a vendor admin's
hand with a reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from aviary.cli.common import Context
from aviary.client import AsyncClient
from aviary.contracts.onboarding import OnboardingRead

app = typer.Typer(help="Training, exams and admissions of new people.")


@app.command("projects")
def projects(ctx: typer.Context) -> None:
    """The projects that ask for onboarding, with how many people trained and were admitted
    (a vendor admin: its own people)."""
    context: Context = ctx.obj

    async def listed(client: AsyncClient) -> list[dict[str, Any]]:
        return [g.model_dump(mode="json") for g in await client.gated_projects()]

    rows = context.call(listed)
    if context.json:
        context.emit(rows)
        return
    table = Table("project", "name", "training", "exam", "pass mark", "people", "admitted")
    for row in rows:
        o = row["onboarding"]
        table.add_row(
            row["project_id"],
            row["name"],
            str(o["training_tasks"]),
            str(o["exam_tasks"]),
            f"{o['pass_mark']:.0%}",
            str(row["people"]),
            str(row["admitted"]),
        )
    context.console.print(table)


def standings_table(rows: list[OnboardingRead]) -> Table:
    table = Table("person", "project", "stage", "training", "last exam", "admitted", "skill")
    for r in rows:
        decided = [a for a in r.attempts if a.passed is not None]
        last = decided[-1] if decided else None
        exam = (
            f"{last.mean:.0%} {'passed' if last.passed else 'failed'}"
            if last and last.mean is not None
            else "-"
        )
        admitted = f"yes ({r.admitted_by}: {r.reason})" if r.admitted else "no"
        table.add_row(
            r.annotator_id,
            r.project_name or r.project_id,
            r.stage,
            f"{r.training_done}/{r.training_required}",
            exam,
            admitted,
            "-" if r.skill is None else f"{r.skill:.0%}",
        )
    return table


@app.command("people")
def people(ctx: typer.Context, project: Annotated[str, typer.Argument(help="Project id.")]) -> None:
    """Everyone's standing in a project: stage, training done, exam, admission, skill."""
    show_standings(ctx.obj, lambda client: client.project_onboarding(project))


@app.command("me")
def me(ctx: typer.Context) -> None:
    """Your own standing in each project that asks for onboarding (an annotator's token)."""
    show_standings(ctx.obj, lambda client: client.my_onboarding())


def show_standings(
    context: Context, fetch: Callable[[AsyncClient], Awaitable[list[OnboardingRead]]]
) -> None:
    rows = context.call(fetch)
    if context.json:
        context.emit([r.model_dump(mode="json") for r in rows])
        return
    context.console.print(standings_table(rows))


@app.command("admit")
def admit(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project id.")],
    person: Annotated[str, typer.Argument(help="The annotator (their name in tokens).")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")],
    take_back: Annotated[
        bool, typer.Option("--take-back", help="Withdraw an admission instead.")
    ] = False,
) -> None:
    """Admit one of your people to the project's production work without the exam (a vendor
    admin), or take an admission back."""
    context: Context = ctx.obj

    async def decided(client: AsyncClient) -> dict[str, Any]:
        read = await client.admit(project, person, reason, admitted=not take_back)
        return read.model_dump(mode="json")

    result = context.call(decided)
    said = "admitted to" if result["admitted"] else "no longer admitted to"
    context.emit(result, f"{person} is {said} {project}")
