"""The operator's model catalogue: an upload checked, its files stored, its version recorded.

What the `/v1/models` routes and the pre-labelers use: the repository for the records, the
object store for the bytes, and the rule that a model is kept only once it has been loaded and
found to fit its task.
"""

from __future__ import annotations

from collections.abc import Mapping

from aviary.contracts.assist import ModelManifest, ModelRead
from services.assist.models.checks import check_files
from services.assist.models.files import ModelFiles
from services.assist.models.repository import ModelRepository

# An upload's files together: a SAM ViT-B encoder and decoder are about 380 MB.
DEFAULT_MAX_MODEL_BYTES = 1024 * 1024 * 1024


class ModelCatalog:
    def __init__(
        self,
        repository: ModelRepository,
        files: ModelFiles,
        max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    ) -> None:
        self.repository = repository
        self.files = files
        self.max_bytes = max_bytes

    async def prepare(self) -> None:
        """Start-up: the collection's indexes and the bucket."""
        await self.repository.ensure_indexes()
        await self.files.ensure_bucket()

    async def upload(
        self, manifest: ModelManifest, files: Mapping[str, bytes], by: str
    ) -> ModelRead:
        """Check, store, record: a new version of `manifest.name`. Refusals are 422s with a
        machine code (checks.py); nothing is stored for a refused model."""
        await check_files(manifest, files)
        shas = {role: await self.files.put_model(data) for role, data in files.items()}
        sizes = {role: len(data) for role, data in files.items()}
        return await self.repository.add(manifest, shas, sizes, by)

    async def find(self, ref: str) -> ModelRead | None:
        return await self.repository.find(ref)

    async def versions(self, name: str) -> list[ModelRead]:
        return await self.repository.versions(name)

    async def latest_of_each(self) -> list[ModelRead]:
        return await self.repository.list()
