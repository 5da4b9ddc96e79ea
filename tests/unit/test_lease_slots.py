"""Slots' pure parts: keys, lease ids, records, and which leases the sweep frees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.dispatch.leases import slots
from services.dispatch.leases.slots import Lease, LeaseEnd

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
TASK = {"_id": "tsk_a", "item_id": "itm_a", "vendor_id": "v1", "rework": 2, "next_slot": 3}


def lease(annotator: str = "ann-1", task: dict[str, Any] | None = None) -> Lease:
    return Lease.new(task or TASK, annotator, "v1", T0, ttl_s=300)


def test_a_lease_takes_the_tasks_next_slot_in_its_round() -> None:
    le = lease()
    assert (le.round, le.slot) == (2, 3)
    assert le.key == "tsk_a/2/3" and le.next_key == "tsk_a/2/4"
    assert le.expires_at == T0 + timedelta(seconds=300)
    new_task = {"_id": "tsk_b", "item_id": "itm_b"}  # before any rework or release
    assert lease(task=new_task).key == "tsk_b/0/0"


def test_lease_ids_round_trip_and_refuse_anything_else() -> None:
    le = lease()
    assert slots.parse_lease_id(le.id) == (2, 3, le.nonce)
    for bad in (
        "",
        "2.3",
        "2.3.xyz",
        "a.b.0123456789abcdef",
        "2.3.0123456789ABCDEF",
        "1.2.3.4",
        "-1.0.0123456789abcdef",
        "1234567.0.0123456789abcdef",
        le.id + " ",
    ):
        assert slots.parse_lease_id(bad) is None, bad
    assert lease().nonce != le.nonce


def test_a_lease_document_reads_back_as_the_same_lease() -> None:
    le = lease()
    doc = le.to_doc()
    assert doc["_id"] == le.key and doc["kind"] == "lease"
    assert Lease.from_doc(doc) == le
    assert slots.is_lease(doc) and not slots.is_lease(None)


def test_an_ending_record_takes_the_slot_after_the_lease() -> None:
    le = lease()
    record = slots.ending_doc(le, LeaseEnd.SUBMITTED, T0, submission_id="sub_1")
    assert record["_id"] == le.next_key
    assert (record["kind"], record["closes"], record["submission_id"]) == ("submitted", 3, "sub_1")
    assert not slots.is_lease(record)


def test_follow_walks_to_the_newest_slot_of_the_same_lease_only() -> None:
    le = lease()
    first = le.to_doc()
    again = le.moved_to(4, T0 + timedelta(minutes=9)).to_doc()
    someone_else = lease("ann-2").moved_to(5, T0).to_doc()
    assert slots.follow(first, {3: first, 4: again, 5: someone_else}) == again
    closed = slots.ending_doc(le, LeaseEnd.RELEASED, T0)
    assert slots.follow(first, {3: first, 4: closed}) == first
    assert slots.follow(first, {}) == first


def test_the_sweep_frees_expired_leases_with_nothing_after_them_only() -> None:
    ttl = timedelta(seconds=300)
    late = T0 + ttl + timedelta(seconds=1)
    abandoned = lease("ann-1", {**TASK, "_id": "tsk_1"})
    submitted = lease("ann-2", {**TASK, "_id": "tsk_2"})
    renewed = lease("ann-3", {**TASK, "_id": "tsk_3"})
    extended = lease("ann-4", {**TASK, "_id": "tsk_4"}).moved_to(3, late + ttl)
    records = [
        abandoned.to_doc(),
        submitted.to_doc(),
        slots.ending_doc(submitted, LeaseEnd.SUBMITTED, T0, submission_id="sub_1"),
        renewed.to_doc(),
        renewed.moved_to(4, late + ttl).to_doc(),
        extended.to_doc(),
    ]
    assert slots.abandoned(records, late) == [abandoned.to_doc()]
    assert slots.abandoned(records, T0) == []  # nothing has expired yet
    # The range may hold a lease without the record after it: the caller checks that by key.
    assert slots.abandoned([submitted.to_doc()], late) == [submitted.to_doc()]


def test_an_ending_record_sorts_beside_its_lease_in_the_sweeps_range() -> None:
    le = lease()
    record = slots.ending_doc(le, LeaseEnd.RELEASED, T0 + timedelta(seconds=5))
    assert record["expires_at"] == le.expires_at and record["at"] == T0 + timedelta(seconds=5)


@pytest.mark.parametrize("kind", list(LeaseEnd))
def test_every_way_a_lease_ends_is_recorded_by_name(kind: LeaseEnd) -> None:
    assert slots.ending_doc(lease(), kind, T0)["kind"] == kind.value


IN_PROJECT = {**TASK, "project_id": "prj_1", "batch_id": "bat_1"}


def by_key(*docs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["_id"]: d for d in docs}


def test_a_drop_takes_the_free_slot_of_a_round_nobody_holds() -> None:
    record = slots.dropping(IN_PROJECT, 2, 3, {}, T0)
    assert record is not None
    assert (record["_id"], record["kind"], record["expires_at"]) == ("tsk_a/2/3", "dropped", T0)
    # A deletion finds the records of a project's tasks by the project alone.
    assert (record["project_id"], record["batch_id"]) == ("prj_1", "bat_1")


def test_a_drop_ends_a_live_lease_in_the_slot_after_it() -> None:
    held = lease()
    record = slots.dropping(IN_PROJECT, 2, 3, by_key(held.to_doc()), T0)
    assert record is not None
    assert record["_id"] == held.next_key
    assert record["expires_at"] == held.expires_at  # beside its lease for the sweep


def test_a_drop_follows_a_lease_renewed_in_the_next_slot() -> None:
    held = lease()
    renewed = held.moved_to(held.slot + 1, held.expires_at + timedelta(seconds=60))
    record = slots.dropping(IN_PROJECT, 2, 3, by_key(held.to_doc(), renewed.to_doc()), T0)
    assert record is not None
    assert record["_id"] == renewed.next_key


def test_a_round_a_submit_ended_needs_no_drop_record() -> None:
    held = lease()
    done = slots.ending_doc(held, LeaseEnd.SUBMITTED, T0)
    assert slots.dropping(IN_PROJECT, 2, 3, by_key(held.to_doc(), done), T0) is None
    released = slots.ending_doc(held, LeaseEnd.RELEASED, T0)
    record = slots.dropping(IN_PROJECT, 2, 3, by_key(held.to_doc(), released), T0)
    assert record is not None and record["slot"] == 5
