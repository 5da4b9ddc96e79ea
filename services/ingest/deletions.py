"""Deleting what a client sent, everywhere, and proving it.

A client deletes an item, a batch or a project (the operator a client organisation). Ingest
records the request, marks what it reaches as going (reads answer 404, uploads are refused)
and publishes `deletion.requested` in the same transaction. Every service, ingest included,
removes its part (shared/store/erasure.py) and answers `deletion.applied`; when all have,
ingest writes the certificate: what each service removed, when, by whom, the SHA-256 of every
media file that is gone, and a digest over all of it, kept with the deletion and in the audit
log. Asking again for the same target returns the deletion already under way.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from services.ingest.domain import envelope
from services.ingest.repositories import TokenRepository
from services.ingest.repositories.deletions import DeletionRepository, new_deletion_id
from shared.errors import AppError
from shared.events import (
    EVERYTHING,
    DeletionApplied,
    DeletionPart,
    DeletionRequested,
    DeletionScope,
)
from shared.messaging.outbox import Outbox
from shared.security.audit import AuditLog
from shared.security.auth import Principal
from shared.settings import SERVICE_PORTS
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

# Every service removes its part; ingest waits for all of them before it certifies.
SERVICES = tuple(SERVICE_PORTS)


def certificate(record: Doc, completed_at: datetime) -> Doc:
    """The certificate of a deletion whose every service has reported, with its digest."""
    services = {
        name: {k: v for k, v in report.items() if k != "content_sha256"}
        | {"applied_at": stamp(report["applied_at"])}
        for name, report in sorted(record["services"].items())
    }
    content = sorted({h for r in record["services"].values() for h in r["content_sha256"]})
    # A deletion of some parts removes no record: what it reports are the records marked.
    partial = is_partial(record)
    records = sum(sum(r["records"].values()) for r in services.values())
    body: dict[str, Any] = {
        "deletion_id": record["_id"],
        "scope": record["scope"],
        # A whole deletion's certificate says nothing of parts (as before there were any).
        **({"parts": record["parts"], "records_marked": records} if partial else {}),
        "target_id": record["target_id"],
        "org_id": record["org_id"],
        "requested_by": record["requested_by"],
        "requested_at": stamp(record["requested_at"]),
        "completed_at": stamp(completed_at),
        "services": services,
        "records_removed": 0 if partial else records,
        "objects_removed": sum(sum(r["objects"].values()) for r in services.values()),
        "content_sha256": content,
    }
    return body | {"digest": certificate_digest(body)}


def is_partial(record: Doc) -> bool:
    """Whether a deletion removes only some parts (media, packages) and keeps the records."""
    return "records" not in (record.get("parts") or EVERYTHING)


def certificate_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the certificate as canonical JSON (sorted keys, no spaces; its times are
    ISO 8601 text, to the millisecond, in UTC): anyone holding the certificate, as the API
    returns it, can recompute it."""
    canonical = json.dumps(
        {k: v for k, v in body.items() if k != "digest"}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def stamp(value: datetime | str) -> str:
    """A time as the certificate writes it (the database keeps milliseconds, in UTC)."""
    if isinstance(value, str):
        return value
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds")


class Deletions:
    def __init__(
        self,
        db: ServiceDatabase,
        outbox: Outbox,
        audit: AuditLog,
        repo: DeletionRepository,
        tokens: TokenRepository,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.outbox = outbox
        self.audit = audit
        self.repo = repo

    async def existing(
        self,
        org_id: str | None,
        target_id: str,
        parts: tuple[DeletionPart, ...] = EVERYTHING,
    ) -> Doc | None:
        """The deletion of `target_id` (of those parts) already asked for, if the caller
        may see it."""
        found = await self.repo.of_target(target_id, parts)
        if found is None or (org_id is not None and found["org_id"] != org_id):
            return None
        return found

    async def request(
        self,
        principal: Principal,
        scope: DeletionScope,
        target: Doc,
        parts: tuple[DeletionPart, ...] = EVERYTHING,
    ) -> Doc:
        """Start deleting `target` (already checked: the caller may see it), or only some
        of its parts (a retention's media or packages: the records stay, readable)."""
        target_id = target["_id"]
        org_id = target_id if scope == "org" else target["org_id"]
        project_ids, batch_ids, item_ids = await self._reach(scope, target)
        now = utcnow()
        record = {
            "_id": new_deletion_id(),
            "scope": scope,
            "parts": list(parts),
            "target_id": target_id,
            "org_id": org_id,
            "status": "pending",
            "requested_by": principal.sub,
            "requested_role": principal.role.value,
            "requested_at": now,
            "services": {},
            "certificate": None,
        }
        event = DeletionRequested(
            deletion_id=record["_id"],
            scope=scope,
            target_id=target_id,
            org_id=org_id,
            project_ids=tuple(project_ids),
            batch_ids=tuple(batch_ids),
            item_ids=tuple(item_ids),
            units=target.get("clip_count") or 1 if scope == "item" else 0,
            requested_by=principal.sub,
            requested_at=now,
            parts=parts,
        )
        marks = {
            "item": {"items": item_ids},
            "batch": {"batches": batch_ids},
            "project": {"projects": project_ids, "batches": batch_ids},
            "org": {"projects": project_ids, "batches": batch_ids, "orgs": [target_id]},
        }[scope]
        if is_partial(record):
            marks = {}  # what stays stays readable

        async def work(session: AsyncClientSession) -> None:
            await self.repo.create(session, record, marks)
            if scope == "org":  # its people cannot act on what is going
                await self.tokens.revoke_all_of(session, org_id)
            await self.audit.record(
                session,
                "deletion.requested",
                target_id,
                orgs=[org_id],
                details={"deletion_id": record["_id"], "scope": scope, "parts": list(parts)},
            )
            await self.outbox.add(session, envelope(event, org_id))

        await self.db.transaction(work)
        self.outbox.notify()
        return record

    async def _reach(
        self, scope: DeletionScope, target: Doc
    ) -> tuple[list[str], list[str], list[str]]:
        """(projects, batches, items) the deletion names: a wider one names what lies inside
        it down to batches (each service deletes by the widest field it keeps)."""
        if scope == "item":
            return [target["project_id"]], [target["batch_id"]], [target["_id"]]
        if scope == "batch":
            return [target["project_id"]], [target["_id"]], []
        if scope == "project":
            projects = [target["_id"]]
        else:
            if target.get("kind") != "client":
                raise AppError(
                    "not_a_client",
                    "only a client organisation's data can be deleted this way; a vendor's "
                    "people are removed by revoking their tokens",
                    status_code=422,
                )
            projects = await self.repo.projects_of(target["_id"])
        return projects, await self.repo.batches_of(projects), []

    async def applied(self, session: AsyncClientSession, event: DeletionApplied) -> None:
        """A service's report; once every service has reported, the certificate."""
        record = await self.repo.record_applied(session, event)
        if record["status"] != "pending" or set(SERVICES) - set(record["services"]):
            return
        body = certificate(record, utcnow())
        await self.repo.complete(session, record["_id"], body)
        await self.audit.record(
            session,
            "deletion.completed",
            record["target_id"],
            orgs=[record["org_id"]],
            details={k: v for k, v in body.items() if k != "content_sha256"}
            | {"content_files": len(body["content_sha256"])},
        )
