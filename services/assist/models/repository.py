"""Operator models, versioned by name: what was uploaded (the manifest, each file's sha256 and
size), by whom and when. The files themselves are in object storage (`files.py`); a version is
never changed once written, so a shape citing `name@version` always names the same weights."""

from __future__ import annotations

from collections.abc import Mapping

from aviary.contracts.assist import ModelManifest, ModelRead
from shared.errors import Conflict
from shared.security.audit import AuditLog
from shared.store.mongo import (
    AsyncClientSession,
    Doc,
    DuplicateKeyError,
    ServiceDatabase,
    utcnow,
)

# Two uploads of one name at the same moment both read the same last version: the second
# insert meets the first's `_id` and tries the next number.
VERSION_ATTEMPTS = 5


def model_id(name: str, version: int) -> str:
    return f"{name}@{version}"


def model_read(doc: Doc) -> ModelRead:
    return ModelRead(
        name=doc["name"],
        version=doc["version"],
        task=doc["task"],
        manifest=ModelManifest.model_validate(doc["manifest"]),
        files=doc["files"],
        size_bytes=doc["size_bytes"],
        uploaded_at=doc["uploaded_at"],
        uploaded_by=doc["uploaded_by"],
    )


def split_ref(ref: str) -> tuple[str, int | None]:
    """`name` or `name@version` -> (name, version or None for the latest)."""
    name, at, version = ref.partition("@")
    if not at:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ValueError(f"{ref!r}: a version is a number from 1")
    return name, int(version)


class ModelRepository:
    """The `models` collection: one document per version, `_id` = `name@version`."""

    def __init__(self, db: ServiceDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit
        self.models = db["models"]

    async def ensure_indexes(self) -> None:
        await self.models.create_index([("name", 1), ("version", -1)])

    async def add(
        self,
        manifest: ModelManifest,
        files: Mapping[str, str],
        sizes: Mapping[str, int],
        by: str,
    ) -> ModelRead:
        """A new version of `manifest.name` (1 for a new name), with its audit entry."""
        for _ in range(VERSION_ATTEMPTS):
            last = await self.latest(manifest.name)
            version = 1 if last is None else last.version + 1
            doc: Doc = {
                "_id": model_id(manifest.name, version),
                "name": manifest.name,
                "version": version,
                "task": manifest.task,
                "manifest": manifest.model_dump(mode="json"),
                "files": dict(files),
                "sizes": dict(sizes),
                "size_bytes": sum(sizes.values()),
                "uploaded_at": utcnow(),
                "uploaded_by": by,
            }

            async def work(session: AsyncClientSession, doc: Doc = doc) -> None:
                await self.models.insert_one(doc, session=session)
                details = {"task": doc["task"], "files": doc["files"]}
                await self.audit.record(session, "model.uploaded", doc["_id"], details=details)

            try:
                await self.db.transaction(work)
            except DuplicateKeyError:
                continue
            return model_read(doc)
        raise Conflict("version_race", f"{manifest.name}: too many uploads at once, retry")

    async def get(self, name: str, version: int) -> ModelRead | None:
        doc = await self.models.find_one({"_id": model_id(name, version)})
        return None if doc is None else model_read(doc)

    async def latest(self, name: str) -> ModelRead | None:
        docs = await self.models.find({"name": name}).sort("version", -1).limit(1).to_list(1)
        return model_read(docs[0]) if docs else None

    async def find(self, ref: str) -> ModelRead | None:
        """The model `ref` names: `name` (its latest version) or `name@version`; None when
        there is no such model or the reference is malformed."""
        try:
            name, version = split_ref(ref)
        except ValueError:
            return None
        return await (self.latest(name) if version is None else self.get(name, version))

    async def versions(self, name: str) -> list[ModelRead]:
        """Every version of `name`, newest first."""
        docs = await self.models.find({"name": name}).sort("version", -1).to_list(None)
        return [model_read(d) for d in docs]

    async def list(self) -> list[ModelRead]:
        """The latest version of every model, by name."""
        docs = await self.models.find({}).sort([("name", 1), ("version", -1)]).to_list(None)
        latest: dict[str, Doc] = {}
        for doc in docs:
            latest.setdefault(doc["name"], doc)
        return [model_read(d) for d in latest.values()]
