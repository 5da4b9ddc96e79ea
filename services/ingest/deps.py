"""Ingest's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the repositories or services it uses (`batches: BatchesDep`); FastAPI hands it
the ones main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.ingest.deletions import Deletions
from services.ingest.group_commit import GroupCommitter
from services.ingest.imports import UrlImporter
from services.ingest.ledger import BatchLedger
from services.ingest.repositories import (
    BatchRepository,
    DeletionRepository,
    ImportRepository,
    ItemRepository,
    OrgRepository,
    ProjectRepository,
    SequenceRepository,
    TokenRepository,
    UploadRepository,
)
from shared.runtime import Runtime
from shared.web.deps import PartsOf


@dataclass(frozen=True)
class IngestParts:
    orgs: OrgRepository
    tokens: TokenRepository
    projects: ProjectRepository
    batches: BatchRepository
    items: ItemRepository
    uploads: UploadRepository
    sequences: SequenceRepository
    imports: ImportRepository
    ledger: BatchLedger
    committer: GroupCommitter
    importer: UrlImporter
    deletions: Deletions

    @classmethod
    def build(cls, runtime: Runtime) -> IngestParts:
        db, outbox, audit = runtime.db, runtime.outbox, runtime.audit
        orgs = OrgRepository(db, audit)
        tokens = TokenRepository(db, outbox, audit)
        projects = ProjectRepository(db, outbox, audit)
        batches = BatchRepository(db)
        items = ItemRepository(db)
        uploads = UploadRepository(db)
        sequences = SequenceRepository(db)
        imports = ImportRepository(db)
        ledger = BatchLedger(db, outbox, batches, items, imports)
        committer = GroupCommitter(ledger)
        importer = UrlImporter(runtime, imports, batches, projects, items, ledger, committer)
        return cls(
            orgs,
            tokens,
            projects,
            batches,
            items,
            uploads,
            sequences,
            imports,
            ledger,
            committer,
            importer,
            Deletions(db, outbox, audit, DeletionRepository(db), tokens),
        )


from_app = PartsOf(IngestParts)
OrgsDep = Annotated[OrgRepository, Depends(from_app.part(lambda p: p.orgs))]
TokensDep = Annotated[TokenRepository, Depends(from_app.part(lambda p: p.tokens))]
ProjectsDep = Annotated[ProjectRepository, Depends(from_app.part(lambda p: p.projects))]
BatchesDep = Annotated[BatchRepository, Depends(from_app.part(lambda p: p.batches))]
ItemsDep = Annotated[ItemRepository, Depends(from_app.part(lambda p: p.items))]
UploadsDep = Annotated[UploadRepository, Depends(from_app.part(lambda p: p.uploads))]
SequencesDep = Annotated[SequenceRepository, Depends(from_app.part(lambda p: p.sequences))]
ImportsDep = Annotated[ImportRepository, Depends(from_app.part(lambda p: p.imports))]
LedgerDep = Annotated[BatchLedger, Depends(from_app.part(lambda p: p.ledger))]
DeletionsDep = Annotated[Deletions, Depends(from_app.part(lambda p: p.deletions))]
CommitterDep = Annotated[GroupCommitter, Depends(from_app.part(lambda p: p.committer))]
