"""The claim chain's pure parts: keys, lease ids, records, and the lease book's bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.dispatch import claims as chain
from services.dispatch.claims import Closing, Lease, Tracked
from services.dispatch.leasebook import Held, LeaseBook, granted

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
    assert chain.parse_lease_id(le.id) == (2, 3, le.nonce)
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
        assert chain.parse_lease_id(bad) is None, bad
    assert lease().nonce != le.nonce


def test_a_lease_document_reads_back_as_the_same_lease() -> None:
    le = lease()
    doc = le.to_doc("replica-1")
    assert doc["_id"] == le.key and doc["kind"] == "lease" and doc["replica"] == "replica-1"
    assert Lease.from_doc(doc) == le
    assert chain.is_lease(doc) and not chain.is_lease(None)


def test_a_closing_record_takes_the_slot_after_the_lease() -> None:
    le = lease()
    record = chain.closing_doc(le, Closing.SUBMITTED, T0, submission_id="sub_1")
    assert record["_id"] == le.next_key
    assert (record["kind"], record["closes"], record["submission_id"]) == ("submitted", 3, "sub_1")
    assert not chain.is_lease(record)


def test_follow_walks_to_the_newest_slot_of_the_same_lease_only() -> None:
    le = lease()
    first = le.to_doc("r")
    again = le.moved_to(4, T0 + timedelta(minutes=9)).to_doc("r")
    someone_else = lease("ann-2").moved_to(5, T0).to_doc("r")
    assert chain.follow(first, {3: first, 4: again, 5: someone_else}) == again
    closed = chain.closing_doc(le, Closing.RELEASED, T0)
    assert chain.follow(first, {3: first, 4: closed}) == first
    assert chain.follow(first, {}) == first


def test_journal_documents_list_their_leases_and_are_named_by_number() -> None:
    le = lease()
    doc = chain.journal_doc("rep", 7, [le.tracked], T0)
    assert doc["_id"] == "j/rep/000000000007"
    assert chain.journal_entries(doc) == [Tracked("tsk_a", 2, 3, le.expires_at)]
    assert chain.journal_keys("rep", range(2)) == ["j/rep/000000000000", "j/rep/000000000001"]
    assert chain.open_entry("tsk_a", 2) == "tsk_a:2" and chain.entry_task("tsk_a:2") == "tsk_a"


# ----- the lease book ------------------------------------------------------------------------


def test_the_book_keeps_the_newest_lease_of_a_task_and_forgets_only_older_ones() -> None:
    book = LeaseBook()
    old = lease()
    newer = Lease.new({**TASK, "next_slot": 5}, "ann-2", "v1", T0, 300)
    book.add(granted(newer, TASK, journal=1))
    book.add(granted(old, TASK, journal=0))  # an older slot arriving late changes nothing
    held = book.get("tsk_a")
    assert held is not None and held.lease == newer
    book.forget("tsk_a", old.round, old.slot)
    assert "tsk_a" in book
    book.forget("tsk_a", newer.round, newer.slot)
    assert "tsk_a" not in book and len(book) == 0


def test_due_leases_and_their_extensions() -> None:
    book = LeaseBook()
    le = lease()
    book.add(granted(le, TASK, journal=4))
    assert book.due(T0) == []
    assert [h.task_id for h in book.due(le.expires_at)] == ["tsk_a"]
    later = T0 + timedelta(hours=1)
    book.wait_until("tsk_a", later)  # another process extended it
    assert book.due(le.expires_at) == []
    held = book.get("tsk_a")
    assert held is not None and held.lease is not None and held.lease.expires_at == later
    book.wait_until("tsk_a", later, slot=4)  # and taken again in the next slot
    held = book.get("tsk_a")
    assert held is not None and held.tracked.slot == 4 and held.lease is not None
    assert held.lease.slot == 4 and held.lease.nonce == le.nonce


def test_granted_leases_are_found_by_nonce_and_adopted_ones_are_not() -> None:
    book = LeaseBook()
    le = lease()
    book.add(granted(le, TASK, journal=0))
    assert book.granted("tsk_a", le.nonce) == (le, TASK)
    assert book.granted("tsk_a", "0" * 16) is None
    book.add(Held(Tracked("tsk_z", 0, 0, T0), journal=1))  # taken over from a dead process
    assert book.granted("tsk_z", "0" * 16) is None
    assert book.holders() == {"ann-1"}


def test_the_book_says_which_journal_documents_still_matter() -> None:
    book = LeaseBook()
    assert book.oldest_journal() is None and book.journals() == set()
    book.add(granted(lease(), TASK, journal=6))
    book.add(Held(Tracked("tsk_z", 0, 0, T0), journal=2))
    assert book.oldest_journal() == 2 and book.journals() == {2, 6}
    book.as_leased("tsk_a", {**TASK, "vendor_id": "v2"})
    held = book.get("tsk_a")
    assert held is not None and held.task is not None and held.task["vendor_id"] == "v2"


@pytest.mark.parametrize("kind", list(Closing))
def test_every_closing_kind_is_recorded_by_name(kind: Closing) -> None:
    assert chain.closing_doc(lease(), kind, T0)["kind"] == kind.value
