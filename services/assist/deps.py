"""Assist's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the parts it uses (`segmenting: SegmentingDep`); FastAPI hands it the ones
main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.assist.access import ItemAccess
from services.assist.cpu import CpuPool
from services.assist.images import ImageCache
from services.assist.models.catalog import ModelCatalog
from services.assist.models.embeddings import EmbeddingCache
from services.assist.models.files import ModelFiles, models_bucket
from services.assist.models.model_segmenter import ModelSegmenters
from services.assist.models.repository import ModelRepository
from services.assist.models.runner import ModelRunner
from services.assist.prelabel.endpoint import EndpointCaller, EndpointPolicy
from services.assist.prelabel.prelabeler import Prelabeler
from services.assist.repositories import ItemRepository
from services.assist.segmenters import GrabCutSegmenter, Segmenters
from services.assist.segmenting import Segmenting
from services.assist.tracking import Tracking
from shared.domain.projects import ProjectReadModel
from shared.runtime import Runtime
from shared.web.deps import PartsOf


@dataclass(frozen=True)
class AssistParts:
    projects: ProjectReadModel
    items: ItemRepository
    pool: CpuPool
    images: ImageCache
    segmenters: Segmenters
    segmenting: Segmenting
    tracking: Tracking
    models: ModelCatalog
    model_segmenters: ModelSegmenters
    prelabeler: Prelabeler
    endpoints: EndpointCaller

    @classmethod
    def build(cls, runtime: Runtime) -> AssistParts:
        """GrabCut and operators' models segment; operators' models and clients' endpoints
        pre-label."""
        settings = runtime.settings
        projects = ProjectReadModel(runtime.db)
        items = ItemRepository(runtime.db)
        pool = CpuPool(settings.assist_threads)
        images = ImageCache(runtime.storage, settings.assist_image_cache_bytes, pool)
        files = ModelFiles(runtime.storage, models_bucket(settings))
        models = ModelCatalog(ModelRepository(runtime.db, runtime.audit), files)
        runner = ModelRunner(files, concurrency=settings.assist_threads)
        model_segmenters = ModelSegmenters(
            models, runner, EmbeddingCache(runner, files), runtime.storage
        )
        endpoints = EndpointCaller(runtime.storage, EndpointPolicy.from_settings(settings))
        prelabeler = Prelabeler(models, runner, runtime.storage, endpoints)
        segmenters = Segmenters(GrabCutSegmenter(pool), model_segmenters.segmenter)
        access = ItemAccess(projects, items)
        segmenting = Segmenting(access, images, segmenters, pool)
        return cls(
            projects,
            items,
            pool,
            images,
            segmenters,
            segmenting,
            Tracking(access, images, pool),
            models,
            model_segmenters,
            prelabeler,
            endpoints,
        )


from_app = PartsOf(AssistParts)
SegmentingDep = Annotated[Segmenting, Depends(from_app.part(lambda p: p.segmenting))]
TrackingDep = Annotated[Tracking, Depends(from_app.part(lambda p: p.tracking))]
