"""Unit tests for integration events and the envelope (shared/events.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import (
    EVENT_TYPES,
    Annotation,
    BatchSealed,
    BoxShape,
    DeletionApplied,
    DeletionRequested,
    DeliveryReady,
    Envelope,
    EventData,
    GoldUpdated,
    ImageRef,
    ImportRequested,
    ImportUrlsRequested,
    ItemAccepted,
    ItemAnnotationsImported,
    ItemDropped,
    ItemIngested,
    ItemPrelabeled,
    OnboardingChanged,
    Ontology,
    OntologyClass,
    ProjectUpserted,
    ReviewPolicy,
    RoutingKey,
    ShapeSource,
    TaskRejected,
    TaskSubmitted,
    TokenRevoked,
    VendorShare,
)

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
IMAGE = ImageRef(
    bucket="aviary-images",
    object_key=f"org_acme/sha256/9f/{SHA}",
    width=1920,
    height=1080,
    format="jpeg",
    sha256=SHA,
    file_name="straße 01 \u2013 日本.jpg",
)
ANNOTATION = Annotation(
    shapes=(
        BoxShape(class_id=1, bbox=(10.0, 20.5, 100.25, 50.0)),
        BoxShape(class_id=2, bbox=(0.0, 0.0, 1920.0, 1080.0)),
        BoxShape(class_id=1, bbox=(1.0 / 3.0, 2.0 / 3.0, 0.1, 0.2)),
    )
)

SAMPLES: list[EventData] = [
    ProjectUpserted(
        project_id="prj_1",
        org_id="org_acme",
        version=3,
        name="Street scenes",
        ontology=Ontology(
            classes=(OntologyClass(id=1, name="car"), OntologyClass(id=2, name="person"))
        ),
        overlap=2,
        vendors=(
            VendorShare(vendor_id="vnd_a", share=0.7),
            VendorShare(vendor_id="vnd_b", share=0.3),
        ),
        review=ReviewPolicy(mode="sample", rate=0.1),
        reject_reasons=("missed_object", "wrong_class"),
        piece_rate=0.05,
        priority=5,
        instructions="Box every vehicle.\nIgnore reflections.",
    ),
    ItemIngested(
        item_id="itm_1", project_id="prj_1", batch_id="bat_1", org_id="org_acme", image=IMAGE
    ),
    BatchSealed(batch_id="bat_1", project_id="prj_1", org_id="org_acme", item_count=250),
    TaskSubmitted(
        task_id="tsk_1",
        submission_id="sub_1",
        item_id="itm_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_acme",
        vendor_id="vnd_a",
        annotator_id="usr_ann",
        ontology_version=3,
        image=IMAGE,
        annotation=ANNOTATION,
        rework=1,
        seconds_worked=42.5,
    ),
    GoldUpdated(
        gold_id="gld_1",
        project_id="prj_1",
        org_id="org_acme",
        item_id="itm_1",
        image=IMAGE,
        ontology_version=2,
    ),
    OnboardingChanged(
        project_id="prj_1",
        org_id="org_acme",
        vendor_id="vnd_a",
        annotator_id="usr_ann",
        admitted=False,
        reason="exam 0.62 under the pass mark 0.8",
        round=1,
        attempts=1,
        retry_at=datetime(2026, 1, 2, tzinfo=UTC),
        changed_at=datetime(2026, 1, 1, tzinfo=UTC),
    ),
    TaskRejected(
        task_id="tsk_1",
        submission_id="sub_1",
        item_id="itm_1",
        project_id="prj_1",
        org_id="org_acme",
        vendor_id="vnd_a",
        annotator_id="usr_ann",
        reviewer_id="usr_rev",
        reason="missed_object",
        comment="the cyclist on the right is missing",
    ),
    ItemAccepted(
        item_id="itm_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_acme",
        task_id="tsk_1",
        submission_id="sub_2",
        annotator_id="usr_ann",
        reviewer_id=None,
        ontology_version=3,
        image=IMAGE,
        annotation=ANNOTATION,
    ),
    ItemDropped(
        item_id="itm_9",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_acme",
        reason="the lens was covered",
        dropped_by="ops",
        clips=3,
    ),
    DeletionRequested(
        deletion_id="del_1",
        scope="item",
        target_id="itm_9",
        org_id="org_acme",
        project_ids=("prj_1",),
        batch_ids=("bat_1",),
        item_ids=("itm_9",),
        units=1,
        requested_by="acme-integration",
        requested_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
    ),
    DeletionApplied(
        deletion_id="del_1",
        service="export",
        org_id="org_acme",
        records={"accepted_items": 1, "deliveries": 2},
        objects={"aviary-deliveries": 2},
        objects_sha256="0" * 64,
        content_sha256=("a" * 64,),
        applied_at=datetime(2026, 12, 6, 9, 0, 1, tzinfo=UTC),
    ),
    DeliveryReady(
        delivery_id="dlv_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_acme",
        bucket="aviary-deliveries",
        object_key="org_acme/prj_1/dlv_1.zip",
        sha256=SHA,
        size_bytes=123_456,
        images=250,
        annotations=1_234,
    ),
    ImportRequested(
        import_id="imp_1",
        url_id="imp_1:000000",
        batch_id="bat_1",
        project_id="prj_1",
        org_id="org_acme",
    ),
    ImportUrlsRequested(
        import_id="imp_1",
        url_ids=("imp_1:000000", "imp_1:000001"),
        batch_id="bat_1",
        project_id="prj_1",
        org_id="org_acme",
    ),
    TokenRevoked(
        jti="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        org_id="org_acme",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    ),
    ItemPrelabeled(
        item_id="itm_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_acme",
        image=IMAGE,
        prelabel=True,
        pre_annotation=Annotation(
            shapes=(
                BoxShape(
                    class_id=1,
                    bbox=(10.0, 20.5, 100.25, 50.0),
                    source=ShapeSource(by="model", model="cars@2", confidence=0.42),
                ),
            )
        ),
        confidence=0.42,
        model="cars@2",
    ),
    ItemAnnotationsImported(
        item_id="itm_1",
        project_id="prj_1",
        batch_id="bat_1",
        org_id="org_acme",
        source="import:coco",
        annotation=Annotation(shapes=(BoxShape(class_id=1, bbox=(1.0, 2.0, 3.0, 4.0)),)),
        as_gold=True,
        image=IMAGE,
    ),
]


def sample_id(event: EventData) -> str:
    return type(event).__name__


def test_samples_cover_every_event_type() -> None:
    assert {type(e) for e in SAMPLES} == set(EVENT_TYPES.values())
    assert set(EVENT_TYPES) == set(RoutingKey)
    for key, cls in EVENT_TYPES.items():
        assert cls.routing_key == key


@pytest.mark.parametrize("event", SAMPLES, ids=sample_id)
def test_round_trip_through_json(event: EventData) -> None:
    envelope = Envelope.wrap(event, org_ids=("org_acme", "vnd_a"), correlation_id="req-42")
    wire = envelope.model_dump_json()
    received = Envelope.model_validate_json(wire)
    assert received.type == event.routing_key
    assert received.org_ids == ("org_acme", "vnd_a")
    assert received.correlation_id == "req-42"
    assert received.event_id == envelope.event_id
    assert received.occurred_at == envelope.occurred_at
    payload = received.payload()
    assert type(payload) is type(event)
    assert payload == event


@pytest.mark.parametrize("event", SAMPLES, ids=sample_id)
def test_wire_format_is_plain_json(event: EventData) -> None:
    wire = json.loads(Envelope.wrap(event).model_dump_json())
    assert wire["type"] == event.routing_key.value
    assert wire["version"] == 1
    assert isinstance(wire["data"], dict)
    assert "routing_key" not in wire["data"]


def test_event_ids_are_distinct_uuids() -> None:
    envelopes = [Envelope.wrap(SAMPLES[2]) for _ in range(200)]
    ids = [e.event_id for e in envelopes]
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        assert str(uuid.UUID(event_id)) == event_id


def test_occurred_at_is_timezone_aware() -> None:
    occurred = Envelope.wrap(SAMPLES[2]).occurred_at
    assert isinstance(occurred, datetime)
    assert occurred.utcoffset() is not None


@pytest.mark.parametrize("event", SAMPLES, ids=sample_id)
def test_payloads_are_frozen(event: EventData) -> None:
    field = next(iter(type(event).model_fields))
    with pytest.raises(ValidationError):
        setattr(event, field, "changed")


def test_envelope_and_value_objects_are_frozen() -> None:
    envelope = Envelope.wrap(SAMPLES[0])
    with pytest.raises(ValidationError):
        envelope.type = RoutingKey.ITEM_INGESTED  # type: ignore[misc]
    with pytest.raises(ValidationError):
        IMAGE.width = 1  # type: ignore[misc]


@pytest.mark.parametrize("event", SAMPLES, ids=sample_id)
def test_payloads_ignore_fields_added_by_a_newer_producer(event: EventData) -> None:
    """Additive changes roll out producer first: older consumers must still parse the event."""
    data = event.model_dump(mode="json")
    data["surprise"] = 1
    assert type(event).model_validate(data) == event


def test_payload_with_an_added_field_still_unwraps() -> None:
    envelope = Envelope.wrap(SAMPLES[2])
    raw = json.loads(envelope.model_dump_json())
    raw["data"]["extra"] = "x"
    received = Envelope.model_validate_json(json.dumps(raw))
    assert received.payload() == SAMPLES[2]


def test_nested_image_ref_tolerates_added_fields_but_shapes_stay_strict() -> None:
    data = SAMPLES[1].model_dump(mode="json")
    data["image"]["exif"] = {}
    assert ItemIngested.model_validate(data) == SAMPLES[1]
    shape_data = {"class_id": 1, "bbox": [1, 2, 3, 4], "colour": "red"}
    with pytest.raises(ValidationError):
        Annotation.model_validate({"shapes": [shape_data]})


def test_envelope_with_unknown_type_fails() -> None:
    raw = json.loads(Envelope.wrap(SAMPLES[2]).model_dump_json())
    raw["type"] = "item.deleted"
    with pytest.raises(ValidationError):
        Envelope.model_validate_json(json.dumps(raw))


def test_envelope_ignores_fields_added_by_a_newer_producer() -> None:
    envelope = Envelope.wrap(SAMPLES[2])
    raw = json.loads(envelope.model_dump_json())
    raw["priority"] = 9
    assert Envelope.model_validate_json(json.dumps(raw)) == envelope


def test_payload_of_the_wrong_type_fails() -> None:
    """Data of one event under another event's type does not parse."""
    raw = json.loads(Envelope.wrap(SAMPLES[2]).model_dump_json())  # batch.sealed data
    raw["type"] = RoutingKey.DELIVERY_READY.value
    received = Envelope.model_validate_json(json.dumps(raw))
    with pytest.raises(ValidationError):
        received.payload()


def test_field_constraints_are_enforced() -> None:
    with pytest.raises(ValidationError):
        BatchSealed(batch_id="b", project_id="p", org_id="o", item_count=-1)
    with pytest.raises(ValidationError):
        VendorShare(vendor_id="v", share=0)
    with pytest.raises(ValidationError):
        ReviewPolicy(mode="sample", rate=1.5)
    with pytest.raises(ValidationError):
        OntologyClass(id=0, name="car")
    with pytest.raises(ValidationError):  # an import event names at least one URL
        ImportUrlsRequested(import_id="i", url_ids=(), batch_id="b", project_id="p", org_id="o")
    assert Ontology(classes=()).classes == ()  # an audio project's: ingest refuses it elsewhere


def test_a_dropped_item_names_the_units_its_batch_counted() -> None:
    image = ItemDropped(
        item_id="itm_1", project_id="p", batch_id="b", org_id="o", reason="r", dropped_by="x"
    )
    assert image.units() == ["itm_1"]
    video = image.model_copy(update={"clips": 2})
    assert video.units() == ["itm_1#0", "itm_1#1"]
