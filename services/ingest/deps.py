"""Ingest's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the repositories or services it uses (`batches: BatchesDep`); FastAPI hands it
the ones main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.ingest.group_commit import GroupCommitter
from services.ingest.imports import UrlImporter
from services.ingest.ledger import BatchLedger
from services.ingest.repositories import (
    BatchRepository,
    ImportRepository,
    ItemRepository,
    OrgRepository,
    ProjectRepository,
    TokenRepository,
    UploadRepository,
)
from shared.runtime import Runtime


@dataclass(frozen=True)
class IngestParts:
    orgs: OrgRepository
    tokens: TokenRepository
    projects: ProjectRepository
    batches: BatchRepository
    items: ItemRepository
    uploads: UploadRepository
    imports: ImportRepository
    ledger: BatchLedger
    committer: GroupCommitter
    importer: UrlImporter

    @classmethod
    def build(cls, runtime: Runtime) -> IngestParts:
        db, outbox, audit = runtime.db, runtime.outbox, runtime.audit
        orgs = OrgRepository(db, audit)
        tokens = TokenRepository(db, outbox, audit)
        projects = ProjectRepository(db, outbox, audit)
        batches = BatchRepository(db)
        items = ItemRepository(db)
        uploads = UploadRepository(db)
        imports = ImportRepository(db)
        ledger = BatchLedger(db, outbox, batches, items, imports)
        committer = GroupCommitter(ledger)
        importer = UrlImporter(runtime, imports, batches, projects, items, ledger, committer)
        return cls(
            orgs, tokens, projects, batches, items, uploads, imports, ledger, committer, importer
        )


async def get_parts(request: Request) -> IngestParts:
    """A coroutine, so FastAPI runs it inline rather than in its thread pool."""
    parts: IngestParts = request.app.state.parts
    return parts


async def get_orgs(request: Request) -> OrgRepository:
    return (await get_parts(request)).orgs


async def get_tokens(request: Request) -> TokenRepository:
    return (await get_parts(request)).tokens


async def get_projects(request: Request) -> ProjectRepository:
    return (await get_parts(request)).projects


async def get_batches(request: Request) -> BatchRepository:
    return (await get_parts(request)).batches


async def get_items(request: Request) -> ItemRepository:
    return (await get_parts(request)).items


async def get_uploads(request: Request) -> UploadRepository:
    return (await get_parts(request)).uploads


async def get_imports(request: Request) -> ImportRepository:
    return (await get_parts(request)).imports


async def get_ledger(request: Request) -> BatchLedger:
    return (await get_parts(request)).ledger


async def get_committer(request: Request) -> GroupCommitter:
    return (await get_parts(request)).committer


OrgsDep = Annotated[OrgRepository, Depends(get_orgs)]
TokensDep = Annotated[TokenRepository, Depends(get_tokens)]
ProjectsDep = Annotated[ProjectRepository, Depends(get_projects)]
BatchesDep = Annotated[BatchRepository, Depends(get_batches)]
ItemsDep = Annotated[ItemRepository, Depends(get_items)]
UploadsDep = Annotated[UploadRepository, Depends(get_uploads)]
ImportsDep = Annotated[ImportRepository, Depends(get_imports)]
LedgerDep = Annotated[BatchLedger, Depends(get_ledger)]
CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
