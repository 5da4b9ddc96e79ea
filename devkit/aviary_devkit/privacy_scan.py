"""After a deletion, look everywhere for what should be gone: every document of every
service's database and every object of every bucket of a namespace, searched for the deleted
ids (in any field, in object keys) and for the SHA-256 of the deleted media (in documents,
in keys, and as the hash of each object's bytes).

Not searched, by design (docs/privacy.md): the audit log and its archives (who did what,
ids only, kept for accountability), the processed-event markers (event ids), the deletion
records and their certificates, and the tombstones (hashed ids).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from shared.settings import SERVICE_PORTS, Settings
from shared.store.mongo import Doc, connect_mongo
from shared.store.storage import ObjectStorage

NOT_SEARCHED = frozenset({"audit", "processed_events", "deletions", "tombstones"})
TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,}")


@dataclass(frozen=True)
class Finding:
    where: str  # "<database>.<collection> <_id>" or "<bucket>/<key>"
    found: str  # the id or hash found

    def __str__(self) -> str:
        return f"{self.where}: {self.found}"


def tokens(text: str) -> set[str]:
    """The id-like words of a text (ids and hex digests are runs of these characters)."""
    return set(TOKEN.findall(text))


def _text(doc: Doc) -> str:
    return json.dumps(doc, default=str)


async def records(
    settings: Settings, skip: Iterable[str] = NOT_SEARCHED
) -> AsyncIterator[tuple[str, str, Doc]]:
    """(database, collection, record) for every record of every service's database of the
    namespace, the collections named in `skip` left out."""
    left_out = set(skip)
    client = connect_mongo(settings)
    try:
        for service in SERVICE_PORTS:
            db = client[settings.database_name(service)]
            for name in await db.list_collection_names():
                if name not in left_out:
                    async for doc in db[name].find({}):
                        yield db.name, name, doc
    finally:
        await client.close()


async def scan_databases(settings: Settings, needles: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    async for database, collection, doc in records(settings):
        for hit in sorted(tokens(_text(doc)) & needles):
            findings.append(Finding(f"{database}.{collection} {doc.get('_id')}", hit))
    return findings


def _buckets(settings: Settings) -> Iterable[str]:
    return (settings.images_bucket, settings.deliveries_bucket, settings.models_bucket)


async def scan_buckets(
    settings: Settings, needles: set[str], content_hashes: set[str]
) -> list[Finding]:
    storage = ObjectStorage(settings)
    findings: list[Finding] = []
    for bucket in _buckets(settings):
        for key in await storage.list_keys(bucket, ""):
            for hit in sorted(tokens(key) & (needles | content_hashes)):
                findings.append(Finding(f"{bucket}/{key}", hit))
            if content_hashes:
                digest = hashlib.sha256(await storage.get_bytes(bucket, key)).hexdigest()
                if digest in content_hashes:
                    findings.append(Finding(f"{bucket}/{key}", f"content {digest}"))
    return findings


async def scan(
    settings: Settings, ids: Iterable[str], content_hashes: Iterable[str]
) -> list[Finding]:
    """Everything in the namespace that still names a deleted id or holds deleted content."""
    needles = set(ids) | set(content_hashes)
    found_in_db, found_in_buckets = await asyncio.gather(
        scan_databases(settings, needles), scan_buckets(settings, set(ids), set(content_hashes))
    )
    return found_in_db + found_in_buckets
