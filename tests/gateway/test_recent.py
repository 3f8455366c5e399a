"""RecentMessages: when the gateway may answer a replay from memory, and when it must not."""

from __future__ import annotations

from gateway.recent import RecentMessages
from protocol.events import MessageEvent


def msg(seq: int, thread: str = "t1") -> MessageEvent:
    return MessageEvent(
        thread_id=thread,
        seq=seq,
        message_id=f"{thread}-m{seq}",
        sender_id="alice",
        text=f"text {seq}",
        created_at="2026-11-22T00:00:00.000Z",
    )


class Epoch:
    def __init__(self) -> None:
        self.value: int | None = 1

    def __call__(self) -> int | None:
        return self.value


def seqs(events: list[MessageEvent] | None) -> list[int] | None:
    return None if events is None else [e.seq for e in events]


def recent(**kw: int) -> tuple[RecentMessages, Epoch]:
    epoch = Epoch()
    return RecentMessages(epoch, **kw), epoch


def test_consumed_messages_answer_replays_inside_their_run() -> None:
    mem, _ = recent()
    for seq in (5, 6, 7):
        mem.observe(msg(seq))
    assert seqs(mem.page("t1", 4, 10)) == [5, 6, 7]
    assert seqs(mem.page("t1", 5, 1)) == [6]
    assert seqs(mem.page("t1", 7, 10)) == []  # up to date: the rest comes live
    assert mem.page("t1", 3, 10) is None  # seq 4 was never seen here
    assert mem.page("t1", 8, 10) is None  # a client ahead of what was seen: ask the store
    assert mem.page("t2", 0, 10) is None


def test_a_hole_starts_the_run_again_and_redeliveries_change_nothing() -> None:
    mem, _ = recent()
    for seq in (1, 2, 3, 2, 3):
        mem.observe(msg(seq))
    assert seqs(mem.page("t1", 0, 10)) == [1, 2, 3]
    mem.observe(msg(5))
    assert mem.page("t1", 0, 10) is None
    assert seqs(mem.page("t1", 4, 10)) == [5]


def test_everything_is_forgotten_when_the_consumer_assignment_changes() -> None:
    mem, epoch = recent()
    mem.observe(msg(1))
    epoch.value = 2
    assert mem.page("t1", 0, 10) is None
    epoch.value = None  # no assignment: nothing is kept at all
    mem.observe(msg(2))
    assert len(mem) == 0
    assert mem.page("t1", 1, 10) is None


def test_a_thread_created_here_starts_empty_from_seq_one() -> None:
    mem, _ = recent()
    generation = mem.generation()
    mem.learn_empty("t1", generation)
    assert seqs(mem.page("t1", 0, 10)) == []
    mem.observe(msg(1))
    assert seqs(mem.page("t1", 0, 10)) == [1]


def test_a_creation_is_not_trusted_across_a_change_of_assignment() -> None:
    mem, epoch = recent()
    generation = mem.generation()
    epoch.value = 2
    mem.learn_empty("t1", generation)
    assert mem.page("t1", 0, 10) is None


def test_a_store_page_that_reached_the_newest_message_starts_a_run() -> None:
    mem, _ = recent()
    generation = mem.generation()
    mem.learn_page("t1", 10, [msg(11), msg(12)], reached_newest=True, generation=generation)
    assert seqs(mem.page("t1", 10, 10)) == [11, 12]
    mem.observe(msg(13))
    assert seqs(mem.page("t1", 12, 10)) == [13]


def test_store_pages_that_cannot_be_trusted_are_not_kept() -> None:
    mem, _ = recent()
    generation = mem.generation()
    # More may follow a full page: its end is not the thread's end.
    mem.learn_page("t1", 0, [msg(1), msg(2)], reached_newest=False, generation=generation)
    # An empty page after seq 40 does not say where the thread ends.
    mem.learn_page("t2", 40, [], reached_newest=True, generation=generation)
    # Not contiguous.
    holed = [msg(1, "t3"), msg(3, "t3")]
    mem.learn_page("t3", 0, holed, reached_newest=True, generation=generation)
    assert len(mem) == 0
    # An empty page from the very beginning does: the thread has no message.
    mem.learn_page("t4", 0, [], reached_newest=True, generation=generation)
    assert seqs(mem.page("t4", 0, 10)) == []


def test_a_store_page_read_across_a_drop_of_memory_is_ignored() -> None:
    mem, epoch = recent()
    generation = mem.generation()
    epoch.value = 2
    mem.learn_page("t1", 0, [msg(1)], reached_newest=True, generation=generation)
    assert mem.page("t1", 0, 10) is None


def test_a_page_just_below_a_run_extends_it_downwards() -> None:
    mem, _ = recent()
    mem.observe(msg(4))
    mem.observe(msg(5))
    generation = mem.generation()
    mem.learn_page("t1", 0, [msg(1), msg(2), msg(3)], reached_newest=False, generation=generation)
    assert seqs(mem.page("t1", 0, 10)) == [1, 2, 3, 4, 5]


def test_runs_keep_the_newest_messages_and_the_most_recent_threads() -> None:
    mem, _ = recent(per_thread=3, max_threads=2)
    for seq in range(1, 6):
        mem.observe(msg(seq))
    assert mem.page("t1", 1, 10) is None
    assert seqs(mem.page("t1", 2, 10)) == [3, 4, 5]
    generation = mem.generation()
    mem.observe(msg(1, "t2"))
    mem.observe(msg(1, "t3"))  # t1 is the least recently seen: evicted
    assert mem.page("t1", 2, 10) is None
    # An eviction invalidates store reads that began before it.
    mem.learn_page("t9", 0, [], reached_newest=True, generation=generation)
    assert mem.page("t9", 0, 10) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def aged(max_age_s: float) -> tuple[RecentMessages, Clock]:
    clock = Clock()
    return RecentMessages(Epoch(), max_age_s=max_age_s, clock=clock), clock


def test_a_busy_thread_keeps_only_what_it_learned_within_the_age() -> None:
    mem, clock = aged(10.0)
    for seq in range(1, 31):  # one a second for 30 s
        mem.observe(msg(seq))
        clock.now += 1.0
    # seq k was learned at 1000 + k - 1; when seq 30 came (1029) everything before 1019 went,
    # and seq 20, exactly 10 s old, stayed.
    assert mem.page("t1", 18, 100) is None
    assert seqs(mem.page("t1", 19, 100)) == list(range(20, 31))


def test_a_quiet_thread_is_forgotten_once_all_it_kept_aged_out() -> None:
    mem, clock = aged(10.0)
    mem.observe(msg(1, "quiet"))
    mem.observe(msg(2, "quiet"))
    clock.now += 5.0
    mem.observe(msg(1, "busy"))
    generation = mem.generation()
    clock.now += 6.0  # quiet's messages are 11 s old, busy's 6 s
    mem.observe(msg(2, "busy"))
    assert mem.page("quiet", 0, 10) is None
    assert seqs(mem.page("busy", 0, 10)) == [1, 2]
    # Forgetting a thread invalidates store reads that began before it, as an eviction does.
    mem.learn_page("t9", 0, [], reached_newest=True, generation=generation)
    assert mem.page("t9", 0, 10) is None


def test_events_learned_from_a_store_page_age_like_consumed_ones() -> None:
    mem, clock = aged(10.0)
    generation = mem.generation()
    mem.learn_page("t1", 0, [msg(1), msg(2)], reached_newest=True, generation=generation)
    clock.now += 5.0
    mem.observe(msg(3))
    assert seqs(mem.page("t1", 0, 10)) == [1, 2, 3]
    clock.now += 6.0
    mem.observe(msg(4))  # 1 and 2 were learned 11 s ago
    assert mem.page("t1", 0, 10) is None
    assert seqs(mem.page("t1", 2, 10)) == [3, 4]
