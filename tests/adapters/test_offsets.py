from __future__ import annotations

import random

import pytest

from adapters import OffsetTracker

TP = ("t", 0)
TP1 = ("t", 1)


def test_nothing_committable_before_any_ack() -> None:
    tr = OffsetTracker()
    tr.assign([TP])
    tr.dispatch(TP, 0)
    assert tr.take_committable() == {}
    assert tr.in_flight() == 1


def test_in_order_acks_advance_one_by_one() -> None:
    tr = OffsetTracker()
    tr.assign([TP])
    for off in range(3):
        tr.dispatch(TP, off)
    assert tr.ack(TP, 0) is True
    assert tr.take_committable() == {TP: 1}
    assert tr.ack(TP, 1) is True
    assert tr.ack(TP, 2) is True
    assert tr.take_committable() == {TP: 3}
    assert tr.take_committable() == {}
    assert tr.in_flight() == 0


def test_out_of_order_ack_waits_for_the_gap() -> None:
    tr = OffsetTracker()
    tr.assign([TP])
    for off in (10, 11, 12):
        tr.dispatch(TP, off)
    assert tr.ack(TP, 12) is False
    assert tr.ack(TP, 11) is False
    assert tr.committable(TP) is None
    assert tr.in_flight() == 1
    assert tr.ack(TP, 10) is True
    assert tr.take_committable() == {TP: 13}


def test_offset_holes_count_as_contiguous() -> None:
    # Compaction and transaction markers leave holes in the numbering.
    tr = OffsetTracker()
    for off in (3, 7, 20):
        tr.dispatch(TP, off)
    tr.ack(TP, 3)
    tr.ack(TP, 20)
    assert tr.take_committable() == {TP: 4}
    tr.ack(TP, 7)
    assert tr.take_committable() == {TP: 21}


def test_partitions_are_independent() -> None:
    tr = OffsetTracker()
    tr.assign([TP, TP1])
    tr.dispatch(TP, 0)
    tr.dispatch(TP1, 0)
    tr.dispatch(TP1, 1)
    tr.ack(TP1, 0)
    tr.ack(TP1, 1)
    assert tr.take_committable() == {TP1: 2}
    assert tr.in_flight([TP]) == 1
    assert tr.in_flight([TP1]) == 0


def test_duplicate_unknown_and_stale_acks_are_ignored() -> None:
    tr = OffsetTracker()
    tr.dispatch(TP, 5)
    assert tr.ack(TP, 5) is True
    assert tr.ack(TP, 5) is False
    assert tr.ack(TP, 4) is False
    assert tr.ack(TP, 6) is False
    assert tr.ack(("other", 0), 0) is False
    assert tr.take_committable() == {TP: 6}


def test_dispatch_must_increase() -> None:
    tr = OffsetTracker()
    tr.dispatch(TP, 5)
    with pytest.raises(ValueError, match=r"^offset 5 of t\[0\] is not after 5$"):
        tr.dispatch(TP, 5)


def test_revoke_returns_untaken_offsets_and_forgets_the_partition() -> None:
    tr = OffsetTracker()
    tr.assign([TP, TP1])
    for off in range(3):
        tr.dispatch(TP, off)
    tr.ack(TP, 0)
    assert tr.take_committable() == {TP: 1}
    tr.ack(TP, 1)
    assert tr.revoke([TP]) == {TP: 2}
    # The late ack of a revoked partition moves nothing.
    assert tr.ack(TP, 2) is False
    assert tr.partitions() == [TP1]


def test_revoke_with_nothing_new_returns_nothing() -> None:
    tr = OffsetTracker()
    tr.dispatch(TP, 0)
    tr.ack(TP, 0)
    tr.take_committable()
    assert tr.revoke([TP]) == {}


def test_reassign_allows_replayed_offsets() -> None:
    tr = OffsetTracker()
    tr.dispatch(TP, 0)
    tr.dispatch(TP, 1)
    tr.revoke([TP])
    tr.assign([TP])
    tr.dispatch(TP, 0)
    tr.ack(TP, 0)
    assert tr.take_committable() == {TP: 1}


def test_random_ack_order_commits_exactly_the_contiguous_prefix() -> None:
    rng = random.Random(7)
    tr = OffsetTracker()
    offsets = sorted(rng.sample(range(1000), 200))
    for off in offsets:
        tr.dispatch(TP, off)
    order = offsets[:]
    rng.shuffle(order)
    done: set[int] = set()
    for off in order:
        tr.ack(TP, off)
        done.add(off)
        prefix = 0
        while prefix < len(offsets) and offsets[prefix] in done:
            prefix += 1
        expected = offsets[prefix - 1] + 1 if prefix else None
        assert tr.committable(TP) == expected
    assert tr.take_committable() == {TP: offsets[-1] + 1}


def test_a_rewind_hands_out_again_and_never_moves_the_commit_back() -> None:
    tracker = OffsetTracker()
    tracker.assign([TP])
    for offset in (83, 84, 85):
        tracker.dispatch(TP, offset)
    tracker.ack(TP, 83)
    tracker.ack(TP, 84)
    assert tracker.take_committable() == {TP: 85}
    assert tracker.rewinds(TP, 83)
    tracker.restart_from(TP, 83)
    assert not tracker.rewinds(TP, 83)
    for offset in (83, 84, 85, 86):
        tracker.dispatch(TP, offset)
    # The first handout of 85 finishes late: it counts, the record was processed.
    tracker.ack(TP, 85)
    tracker.ack(TP, 83)
    tracker.ack(TP, 84)
    assert tracker.take_committable() == {TP: 86}  # never back to 84 or 85
    tracker.ack(TP, 86)
    assert tracker.take_committable() == {TP: 87}
    assert tracker.in_flight() == 0
