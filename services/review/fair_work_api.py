"""Fair work, for a vendor's admin (and the operator): the vendor's minimum hourly wage, who
falls below it, and the fair-work card that shows each person's pay per hour worked beside how
their work was judged (rejections, appeals and their outcome) over a period."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from fastapi import APIRouter

from aviary.contracts.review import FairWork, FairWorkRow, MinimumWage, MinimumWageBody, WageAlert
from services.review import domain
from services.review.deps import ProjectsDep, StatementsDep
from services.review.quality_api import (
    Since,
    Until,
    VendorAdmin,
    own_vendor,
    vendor_rates,
    window,
)
from services.review.repositories import StatementRepository
from shared.domain.projects import ProjectReadModel
from shared.store.mongo import Doc

log = logging.getLogger(__name__)
router = APIRouter(tags=["quality"])


async def pay_by_person(
    statements: StatementRepository,
    projects: ProjectReadModel,
    vendor_id: str,
    since: datetime | None,
    until: datetime | None,
) -> list[FairWorkRow]:
    """Each of the vendor's people with work in the window: one read of the facts, each
    project's rate for the vendor read once."""
    facts = await statements.facts({"vendor_id": vendor_id, **window(since, until)})
    minimum = await statements.minimum_wage(vendor_id)
    rates = await vendor_rates(projects, vendor_id, (f["project_id"] for f in facts))
    by_person: dict[str, list[Doc]] = defaultdict(list)
    for fact in facts:
        by_person[fact["annotator_id"]].append(fact)
    rows = []
    for annotator_id, done in sorted(by_person.items()):
        lines = domain.statement(done, rates)
        hourly = domain.effective_hourly(lines)
        tally = domain.Tally()
        for fact in done:
            tally.add(fact)
        rows.append(
            FairWorkRow(
                annotator_id=annotator_id,
                completed=sum(line.completed for line in lines),
                hours_worked=round(sum(line.seconds_worked for line in lines) / 3600, 4),
                earnings=round(sum(line.earnings for line in lines), 4),
                effective_hourly=hourly,
                below_minimum_wage=minimum is not None and hourly is not None and hourly < minimum,
                rejected=tally.rejected,
                appealed=tally.appealed,
                overturned=tally.overturned,
            )
        )
    return rows


@router.get("/v1/vendors/{vendor_id}/minimum-wage", response_model=MinimumWage)
async def minimum_wage(
    vendor_id: str, principal: VendorAdmin, statements: StatementsDep
) -> MinimumWage:
    return MinimumWage(hourly=await statements.minimum_wage(own_vendor(principal, vendor_id)))


@router.put("/v1/vendors/{vendor_id}/minimum-wage", status_code=204)
async def set_minimum_wage(
    vendor_id: str, body: MinimumWageBody, principal: VendorAdmin, statements: StatementsDep
) -> None:
    """The hourly wage below which the vendor admin is alerted about an annotator."""
    await statements.set_minimum_wage(own_vendor(principal, vendor_id), body.hourly)


@router.get("/v1/vendors/{vendor_id}/fair-work", response_model=FairWork)
async def fair_work(
    vendor_id: str,
    principal: VendorAdmin,
    statements: StatementsDep,
    projects: ProjectsDep,
    since: Since = None,
    until: Until = None,
) -> FairWork:
    """Each person's pay per hour worked and how their work was judged, in the window."""
    vendor_id = own_vendor(principal, vendor_id)
    people = await pay_by_person(statements, projects, vendor_id, since, until)
    minimum = await statements.minimum_wage(vendor_id)
    return FairWork(vendor_id=vendor_id, minimum_wage=minimum, people=people)


@router.get("/v1/vendors/{vendor_id}/wage-alerts", response_model=list[WageAlert])
async def wage_alerts(
    vendor_id: str,
    principal: VendorAdmin,
    statements: StatementsDep,
    projects: ProjectsDep,
    since: Since = None,
    until: Until = None,
) -> list[WageAlert]:
    """Annotators whose effective hourly earnings in the window fall below the minimum."""
    vendor_id = own_vendor(principal, vendor_id)
    minimum = await statements.minimum_wage(vendor_id)
    if minimum is None:
        return []
    people = await pay_by_person(statements, projects, vendor_id, since, until)
    alerts = [
        WageAlert(
            annotator_id=p.annotator_id,
            effective_hourly=p.effective_hourly,
            minimum_wage=minimum,
            seconds_worked=round(p.hours_worked * 3600, 1),
        )
        for p in people
        if p.below_minimum_wage and p.effective_hourly is not None
    ]
    if alerts:
        log.warning("wages.below_minimum", extra={"vendor": vendor_id, "count": len(alerts)})
    return alerts
