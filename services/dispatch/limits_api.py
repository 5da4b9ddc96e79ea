"""Work limits: vendor admins set them, annotators and their admins see the day's figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from aviary.contracts.dispatch import (
    AnnotatorLimitBody,
    GroupLimitBody,
    PersonDay,
    VendorLimitsView,
    WorkDay,
    WorkDays,
    WorkToday,
)
from services.dispatch.deps import WorkDep, WorkStoreDep
from services.dispatch.work import WorkClock
from services.dispatch.worklimits import day_of
from shared.errors import NotFound
from shared.security.auth import Principal, Role, require_roles, vendor_of
from shared.store.mongo import utcnow

router = APIRouter(tags=["work limits"])

Annotator = Annotated[Principal, require_roles(Role.ANNOTATOR)]
Admin = Annotated[Principal, require_roles(Role.VENDOR_ADMIN, Role.OPERATOR)]
Name = Annotated[str, Path(min_length=1, max_length=128)]


def own_vendor(principal: Principal, vendor_id: str) -> str:
    """A vendor admin manages only their own vendor; others' are 404, so ids do not leak."""
    if principal.role != Role.OPERATOR and principal.vendor != vendor_id:
        raise NotFound("vendor")
    return vendor_id


async def work_today(work: WorkClock, vendor_id: str, annotator_id: str) -> WorkToday:
    worked = await work.worked_today(vendor_id, annotator_id)
    limit = await work.daily_limit_s(vendor_id, annotator_id)
    return WorkToday(
        annotator_id=annotator_id,
        day=day_of(utcnow()),
        worked_s=round(worked, 1),
        limit_s=limit,
        remaining_s=round(max(0.0, limit - worked), 1),
    )


@router.get("/v1/me/work", response_model=WorkToday)
async def my_work(principal: Annotator, work: WorkDep) -> WorkToday:
    """The annotator's own day: time worked and what the limit leaves."""
    return await work_today(work, vendor_of(principal), principal.sub)


@router.get("/v1/vendors/{vendor_id}/work-days", response_model=WorkDays)
async def work_days(
    vendor_id: str,
    principal: Admin,
    store: WorkStoreDep,
    work: WorkDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> WorkDays:
    """The vendor's people's time worked each day of the last `days`, beside their limit."""
    vendor_id = own_vendor(principal, vendor_id)
    since = day_of(utcnow() - timedelta(days=days - 1))
    limits = await store.vendor_limits(vendor_id)
    return WorkDays(
        vendor_id=vendor_id,
        days=[
            WorkDay(
                day=day,
                people=[
                    PersonDay(
                        annotator_id=who,
                        worked_s=round(worked, 1),
                        limit_s=limits.daily_hours(who, work.defaults) * 3600,
                        breaks=breaks.get(who, 0),
                    )
                    for who, worked in sorted(people.items())
                ],
            )
            for day, people, breaks in await store.vendor_days(vendor_id, since)
        ],
    )


@router.get("/v1/vendors/{vendor_id}/work-limits", response_model=VendorLimitsView)
async def vendor_limits(
    vendor_id: str, principal: Admin, store: WorkStoreDep, work: WorkDep
) -> VendorLimitsView:
    vendor_id = own_vendor(principal, vendor_id)
    limits = await store.vendor_limits(vendor_id)
    settings = work.settings
    return VendorLimitsView(
        vendor_id=vendor_id,
        default_daily_hours=settings.default_daily_hours,
        intern_daily_hours=settings.intern_daily_hours,
        groups=limits.groups,
        members=limits.members,
        annotators=limits.annotators,
    )


@router.put("/v1/vendors/{vendor_id}/work-limits/groups/{group}", response_model=VendorLimitsView)
async def set_group_limit(
    vendor_id: str,
    group: Name,
    body: GroupLimitBody,
    principal: Admin,
    store: WorkStoreDep,
    work: WorkDep,
) -> VendorLimitsView:
    """Hours per day for everyone in `group` (e.g. "intern") without a limit of their own."""
    vendor_id = own_vendor(principal, vendor_id)
    await store.set_limit(vendor_id, "group", group, {"daily_hours": body.daily_hours})
    work.forget_limits(vendor_id)
    return await vendor_limits(vendor_id, principal, store, work)


@router.put(
    "/v1/vendors/{vendor_id}/work-limits/annotators/{annotator_id}",
    response_model=VendorLimitsView,
)
async def set_annotator_limit(
    vendor_id: str,
    annotator_id: Name,
    body: AnnotatorLimitBody,
    principal: Admin,
    store: WorkStoreDep,
    work: WorkDep,
) -> VendorLimitsView:
    vendor_id = own_vendor(principal, vendor_id)
    await store.set_limit(vendor_id, "annotator", annotator_id, body.model_dump())
    work.forget_limits(vendor_id)
    return await vendor_limits(vendor_id, principal, store, work)


@router.get("/v1/vendors/{vendor_id}/annotators/{annotator_id}/work", response_model=WorkToday)
async def annotator_work(
    vendor_id: str, annotator_id: str, principal: Admin, work: WorkDep
) -> WorkToday:
    """The same figures the annotator sees."""
    return await work_today(work, own_vendor(principal, vendor_id), annotator_id)
