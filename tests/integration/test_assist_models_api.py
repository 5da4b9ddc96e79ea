"""Operator models against the real stack: uploads through `/v1/models` (versions, refusals),
their files in SeaweedFS and records in the assist database; pre-labels of an ingested item
from a stored image and model; embeddings made ahead of the clicks.

The routes run in the assist app's own factory (shared.web.app.create_app, real Mongo, broker
and storage) in this process, with the models' parts only: what the route tests need of the
service, whatever else it runs.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from aviary.contracts.assist import AssistSettings
from aviary.contracts.projects import ReviewPolicy, VendorShare
from aviary.contracts.shapes import Annotation, BoxShape, Ontology, OntologyClass
from aviary_devkit.tiny_onnx import bright_rectangle, decoder, detector, encoder, identity, manifest
from services.assist.models import models_api
from services.assist.models.catalog import ModelCatalog
from services.assist.models.embeddings import EmbeddingCache, picture_key
from services.assist.models.files import ModelFiles, model_key, models_bucket
from services.assist.models.model_segmenter import ModelSegmenters
from services.assist.models.repository import ModelRepository
from services.assist.models.runner import ModelRunner
from services.assist.prelabel.endpoint import EndpointCaller, EndpointPolicy
from services.assist.prelabel.prelabeler import Prelabeler
from shared.errors import RetryLater
from shared.events import ImageRef, ItemIngested, ProjectUpserted
from shared.runtime import Runtime, Startup
from shared.security.auth import Role, issue_token
from shared.settings import Settings
from shared.store.storage import ObjectStorage
from shared.web.app import create_app

pytestmark = pytest.mark.integration

MAX_BYTES = 200_000
ONTOLOGY = Ontology(
    classes=(
        OntologyClass(id=1, name="car", kind="bbox"),
        OntologyClass(id=2, name="sign", kind="bbox"),
    )
)


@dataclass
class Assist:
    http: httpx.AsyncClient
    runtime: Runtime
    catalog: ModelCatalog
    files: ModelFiles
    operator: dict[str, str]


@pytest.fixture
async def assist(settings: Settings) -> AsyncIterator[Assist]:
    runtime = Runtime("assist", settings)
    files = ModelFiles(runtime.storage, models_bucket(settings))
    catalog = ModelCatalog(ModelRepository(runtime.db, runtime.audit), files, MAX_BYTES)
    startup = Startup(steps=[catalog.prepare])
    app = create_app(runtime, startup, [models_api.router], title="Aviary assist (models)")
    app.state.parts = SimpleNamespace(models=catalog)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://assist") as http,
        ):
            await asyncio.wait_for(runtime.started.wait(), 30)
            operator = {"Authorization": f"Bearer {settings.operator_key.get_secret_value()}"}
            yield Assist(http, runtime, catalog, files, operator)
    finally:
        await ObjectStorage(settings).remove_bucket(models_bucket(settings))


async def upload(
    assist: Assist,
    body: dict[str, Any] | str,
    headers: dict[str, str] | None = None,
    **files: bytes,
) -> httpx.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    parts = {
        role: (f"{role}.onnx", data, "application/octet-stream") for role, data in files.items()
    }
    return await assist.http.post(
        "/v1/models",
        data={"manifest": text},
        files=parts,
        headers=assist.operator if headers is None else headers,
    )


def refusal(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


async def test_the_operator_uploads_versions_that_anyone_signed_in_can_list(assist: Assist) -> None:
    first = await upload(assist, manifest("street-det"), model=detector())
    assert first.status_code == 201, first.text
    model = first.json()
    assert (model["name"], model["version"], model["task"]) == ("street-det", 1, "detect")
    assert model["uploaded_by"] == "operator" and model["size_bytes"] == len(detector())
    sha = model["files"]["model"]
    # Stored content-addressed: the same bytes again are the same object, a new version.
    assert await assist.files.get_model(sha) == detector()
    second = await upload(assist, manifest("street-det", score_threshold=0.5), model=detector())
    assert second.status_code == 201 and second.json()["version"] == 2
    assert second.json()["files"] == {"model": sha}
    assert await assist.runtime.storage.list_keys(assist.files.bucket, "sha256/") == [
        model_key(sha)
    ]
    pair = await upload(
        assist, manifest("sam-tiny", "promptable-segment"), encoder=encoder(), decoder=decoder()
    )
    assert pair.status_code == 201, pair.text
    assert set(pair.json()["files"]) == {"encoder", "decoder"}

    client = issue_token(assist.runtime.settings, sub="c1", org="org_c", role=Role.CLIENT)
    as_client = {"Authorization": f"Bearer {client}"}
    listed = (await assist.http.get("/v1/models", headers=as_client)).json()
    assert [(m["name"], m["version"]) for m in listed] == [("sam-tiny", 1), ("street-det", 2)]
    versions = (await assist.http.get("/v1/models/street-det", headers=as_client)).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["manifest"]["score_threshold"] == 0.5
    refusal(await assist.http.get("/v1/models/nothing", headers=as_client), 404, "not_found")
    assert (await assist.http.get("/v1/models")).status_code == 401
    # The catalogue finds a model by name (its latest) or by name@version.
    latest = await assist.catalog.find("street-det")
    assert latest is not None and latest.ref == "street-det@2"
    pinned = await assist.catalog.find("street-det@1")
    assert pinned is not None and pinned.manifest.score_threshold == 0.3
    assert await assist.catalog.find("street-det@9") is None
    assert await assist.catalog.find("street-det@x") is None


async def test_models_that_could_not_work_are_refused_and_nothing_is_kept(assist: Assist) -> None:
    message = refusal(await upload(assist, manifest("m"), model=identity()), 422, "wrong_inputs")
    assert "images" in message
    refusal(await upload(assist, manifest("m"), model=b"\x00garbage" * 100), 422, "not_onnx")
    refusal(await upload(assist, manifest("m", "segment"), model=detector()), 422, "wrong_outputs")
    refusal(
        await upload(assist, manifest("m", "promptable-segment"), model=detector()),
        422,
        "wrong_files",
    )
    refusal(await upload(assist, manifest("m"), weights=detector()), 422, "wrong_files")
    refusal(await upload(assist, "{not json", model=detector()), 422, "invalid_manifest")
    refusal(await upload(assist, manifest("Bad Name"), model=detector()), 422, "invalid_manifest")
    refusal(
        await upload(assist, manifest("m", class_map={"ghost": "car"}), model=detector()),
        422,
        "invalid_manifest",
    )
    big = np.random.default_rng(1).bytes(MAX_BYTES + 1)
    refusal(await upload(assist, manifest("m"), model=big), 413, "too_large")
    no_form = await assist.http.post("/v1/models", content=detector(), headers=assist.operator)
    refusal(no_form, 415, "unsupported_media_type")

    client = issue_token(assist.runtime.settings, sub="c1", org="org_c", role=Role.CLIENT)
    as_client = {"Authorization": f"Bearer {client}"}
    refusal(await upload(assist, manifest("m"), as_client, model=detector()), 403, "forbidden")
    annotator = issue_token(assist.runtime.settings, sub="a1", org="vnd", role=Role.ANNOTATOR)
    as_annotator = {"Authorization": f"Bearer {annotator}"}
    refusal(await upload(assist, manifest("m"), as_annotator, model=detector()), 403, "forbidden")

    assert (await assist.http.get("/v1/models", headers=assist.operator)).json() == []
    assert await assist.runtime.storage.list_keys(assist.files.bucket, "") == []


# ----- pre-labels and embeddings --------------------------------------------------------------


def png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


async def stored_item(
    settings: Settings, image: np.ndarray, pre: Annotation | None = None
) -> ItemIngested:
    storage = ObjectStorage(settings)
    await storage.ensure_bucket(settings.images_bucket)
    data = png(image)
    await storage.put_bytes(settings.images_bucket, "org_c/itm_1.png", data, "image/png")
    ref = ImageRef(
        bucket=settings.images_bucket,
        object_key="org_c/itm_1.png",
        width=image.shape[1],
        height=image.shape[0],
        format="png",
        sha256="0" * 64,
        file_name="street.png",
    )
    return ItemIngested(
        item_id="itm_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_c",
        image=ref,
        pre_annotation=pre,
        prelabel=True,
    )


def project(assist: AssistSettings) -> ProjectUpserted:
    return ProjectUpserted(
        project_id="prj_1",
        org_id="org_c",
        version=1,
        name="Streets",
        ontology=ONTOLOGY,
        overlap=1,
        vendors=(VendorShare(vendor_id="vnd_a", share=1.0),),
        review=ReviewPolicy(mode="auto"),
        reject_reasons=("missed_object",),
        piece_rate=0.05,
        assist=assist,
    )


def prelabeler(assist: Assist, storage: ObjectStorage | None = None) -> Prelabeler:
    store = storage or assist.runtime.storage
    runner = ModelRunner(ModelFiles(store, assist.files.bucket))
    return Prelabeler(assist.catalog, runner, store, EndpointCaller(store, EndpointPolicy()))


async def test_an_item_is_prelabeled_by_the_projects_model_after_its_own_pre_annotation(
    assist: Assist, settings: Settings
) -> None:
    assert (await upload(assist, manifest("street-det"), model=detector())).status_code == 201
    own = BoxShape(class_id=2, bbox=(1, 1, 4, 4))
    event = await stored_item(
        settings, bright_rectangle(320, 160, (80, 40, 240, 120)), Annotation(shapes=(own,))
    )
    labeled = await prelabeler(assist).prelabel_item(
        event, project(AssistSettings(prelabel_model="street-det", min_confidence=0.5))
    )
    assert labeled.error is None and labeled.model == "street-det@1"
    assert labeled.pre_annotation is not None
    first, proposed = labeled.pre_annotation.shapes
    assert first == own
    assert isinstance(proposed, BoxShape) and proposed.class_id == 1
    assert proposed.bbox == pytest.approx((80, 40, 160, 80), abs=5)
    assert proposed.source is not None and proposed.source.model == "street-det@1"
    assert labeled.confidence == pytest.approx(0.9)
    assert (labeled.item_id, labeled.image, labeled.prelabel) == ("itm_1", event.image, True)

    # Whatever goes wrong with the model, the item comes out, saying why.
    unknown = await prelabeler(assist).prelabel_item(
        event, project(AssistSettings(prelabel_model="nothing"))
    )
    assert unknown.error is not None and unknown.error.startswith("unknown_model")
    assert unknown.pre_annotation == event.pre_annotation and unknown.confidence is None
    sam = manifest("sam-tiny", "promptable-segment")
    assert (await upload(assist, sam, encoder=encoder(), decoder=decoder())).status_code == 201
    wrong = await prelabeler(assist).prelabel_item(
        event, project(AssistSettings(prelabel_model="sam-tiny"))
    )
    assert wrong.error is not None and wrong.error.startswith("wrong_task")
    # Object storage down: the item waits (RetryLater), it is not published without labels.
    down = ObjectStorage(settings.model_copy(update={"s3_endpoint": "127.0.0.1:1"}))
    with pytest.raises(RetryLater):
        await prelabeler(assist, down).prelabel_item(
            event, project(AssistSettings(prelabel_model="street-det"))
        )


async def test_a_promptable_segmenters_embedding_is_made_once_after_ingest(
    assist: Assist, settings: Settings
) -> None:
    sam = manifest("sam-tiny", "promptable-segment")
    assert (await upload(assist, sam, encoder=encoder(), decoder=decoder())).status_code == 201
    event = await stored_item(settings, bright_rectangle(128, 96, (10, 10, 50, 50)))
    runner = ModelRunner(assist.files)
    segmenters = ModelSegmenters(
        assist.catalog, runner, EmbeddingCache(runner, assist.files), assist.runtime.storage
    )
    with_sam = project(AssistSettings(segmenter="sam-tiny"))
    assert await segmenters.precompute(event, with_sam)
    model = await assist.catalog.find("sam-tiny")
    assert model is not None
    stored = await assist.files.get_embedding(
        *EmbeddingCache.key_of(model, picture_key("itm_1", 0))
    )
    assert stored is not None and stored.startswith(b"\x93NUMPY")
    # Not for a project without one, or whose segmenter is not promptable.
    assert not await segmenters.precompute(event, project(AssistSettings()))
    assert (await upload(assist, manifest("street-det"), model=detector())).status_code == 201
    assert not await segmenters.precompute(event, project(AssistSettings(segmenter="street-det")))
    # The segment route's lookup: segmenters by name, none for what cannot segment.
    found = await segmenters.segmenter("sam-tiny@1")
    assert found is not None and found.name == "sam-tiny@1"
    assert await segmenters.segmenter("street-det") is None
    assert await segmenters.segmenter("nothing") is None
