"""Which items a caller may ask assist's help on: one rule for every helper call."""

from __future__ import annotations

from services.assist.domain import may_assist
from services.assist.repositories import ItemRepository, KnownItem
from shared.domain.projects import ProjectReadModel
from shared.errors import NotFound
from shared.events import ProjectUpserted
from shared.security.auth import Principal

# A project's settings (its vendors, its segmenter) may be this old on a hot path.
PROJECT_MAX_AGE_S = 5.0


class ItemAccess:
    def __init__(self, projects: ProjectReadModel, items: ItemRepository) -> None:
        self.projects = projects
        self.items = items

    async def visible(
        self, principal: Principal, item_id: str
    ) -> tuple[KnownItem, ProjectUpserted]:
        """The item and its project's settings (no older than `PROJECT_MAX_AGE_S`); 404 for
        an item the caller may not work on (`domain.may_assist`) or assist has not heard of
        yet, as for one that does not exist."""
        item = await self.items.get(item_id)
        project = await self.projects.get(item.project_id, PROJECT_MAX_AGE_S) if item else None
        if item is None or project is None or not may_assist(principal, project):
            raise NotFound("item")
        return item, project
