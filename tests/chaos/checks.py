"""The checks after a chaos run, and the table row each run adds to the report.

Given what the posters saw (A accepted, I unknown), what the store holds and what each reader
received:

- A ⊆ stored (nothing accepted is lost) and each 202's message_id is the stored one;
- stored ⊆ A | I (nothing stored that was never sent or was definitely refused);
- exactly one document per message_id, and per thread seqs 1..N without holes or repeats;
- every continuously connected reader, after dedupe by message_id, saw exactly the stored
  (seq → message_id) of its threads: no gap, nothing foreign; a reader the server closed
  (drain, slow consumer) got a prefix without holes, so it can resume from its last seq;
- raw redeliveries (frames repeating a message_id on one connection) are counted, not failed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.driver import Outcomes, Reader

__all__ = ["REPORT", "ROWS", "TITLE", "Verdict", "record", "render_table", "verify"]

REPORT = Path(__file__).resolve().parents[1] / "artifacts" / "chaos" / "latest.md"
ROWS: list[Verdict] = []
TITLE: list[str] = ["Parley chaos run"]


@dataclass
class Verdict:
    fault: str
    accepted: int = 0
    unknown: int = 0
    refused: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    stored_twice: list[str] = field(default_factory=list)
    wrong_id: list[str] = field(default_factory=list)
    seq_problems: list[str] = field(default_factory=list)
    reader_problems: list[str] = field(default_factory=list)
    readers_checked: int = 0
    readers_dropped: list[str] = field(default_factory=list)
    raw_redeliveries: int = 0
    recover_s: float | None = None
    exits: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # short, in the table
    details: list[str] = field(default_factory=list)  # long, listed under the table

    @property
    def failures(self) -> list[str]:
        out = []
        if self.lost:
            out.append(f"{len(self.lost)} accepted messages lost: {self.lost[:5]}")
        if self.phantom:
            out.append(f"{len(self.phantom)} stored but never accepted/unknown: {self.phantom[:5]}")
        if self.stored_twice:
            twice = self.stored_twice
            out.append(f"{len(twice)} message_ids stored twice: {twice[:5]}")
        if self.wrong_id:
            out.append(f"202 named another message_id than stored: {self.wrong_id[:5]}")
        out += [f"store: {p}" for p in self.seq_problems[:10]]
        out += [f"reader: {p}" for p in self.reader_problems[:10]]
        return out

    def row(self) -> str:
        rec = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (
            f"| {self.fault} | {self.accepted} | {self.unknown} | {len(self.lost)} | "
            f"{len(self.stored_twice)} | {self.raw_redeliveries} | {self.readers_checked} | "
            f"{len(self.reader_problems)} | {rec} | {'; '.join(self.notes) or ''} |"
        )


HEADER = (
    "| fault | accepted | unknown | lost | stored twice | raw redeliveries | readers checked "
    "| reader gaps | recover s | notes |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def render_table(rows: Sequence[Verdict], title: str) -> str:
    lines = [f"# {title}", "", HEADER, *(v.row() for v in rows), ""]
    for v in rows:
        if v.details or v.failures or v.exits:
            lines.append(f"- **{v.fault}**")
            lines += [f"  - {d}" for d in [*v.failures, *v.exits, *v.details]]
    lines.append("")
    lines.append(
        "accepted = 202/ack received; unknown = outcome unknown after the retry budget; "
        "lost = accepted but not stored; stored twice = message_ids with >1 document; "
        "raw redeliveries = frames repeating a message_id on one connection; readers checked "
        "= continuously connected readers compared with the store; recover s = fault "
        "injected → every accepted message stored and consumer lag 0."
    )
    return "\n".join(lines) + "\n"


def verify(
    fault: str,
    outcomes: Outcomes,
    docs: Sequence[dict[str, Any]],
    readers: Sequence[Reader],
    threads: Sequence[str],
) -> Verdict:
    v = Verdict(fault)
    accepted = outcomes.accepted()
    unknown = outcomes.unknown()
    v.accepted, v.unknown, v.refused = len(accepted), len(unknown), len(outcomes.refused())
    v.stored = len(docs)

    per_mid = Counter(str(d["message_id"]) for d in docs)
    v.stored_twice = sorted(m for m, n in per_mid.items() if n > 1)
    by_cmid: dict[str, dict[str, Any]] = {}
    for d in docs:
        cmid = d.get("client_msg_id")
        if isinstance(cmid, str):
            by_cmid[cmid] = d
    v.lost = sorted(c for c in accepted if c not in by_cmid)
    v.wrong_id = sorted(
        c for c, r in accepted.items() if c in by_cmid and by_cmid[c]["message_id"] != r.message_id
    )
    sent_or_maybe = set(accepted) | unknown
    v.phantom = sorted(
        str(d.get("client_msg_id") or d["message_id"])
        for d in docs
        if d.get("client_msg_id") not in sent_or_maybe
    )

    # The store's own sequence: 1..N per thread, one message per seq.
    stored_seq: dict[str, dict[int, str]] = defaultdict(dict)
    for d in docs:
        tid, seq, mid = str(d["thread_id"]), int(d["seq"]), str(d["message_id"])
        if seq in stored_seq[tid] and stored_seq[tid][seq] != mid:
            v.seq_problems.append(f"thread {tid} seq {seq} held by two messages")
        stored_seq[tid][seq] = mid
    for tid, seqs in stored_seq.items():
        holes = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
        if holes:
            v.seq_problems.append(f"thread {tid}: seq holes {holes[:10]}")

    for r in readers:
        v.raw_redeliveries += r.raw_redeliveries
        if not r.continuous:
            v.readers_dropped.append(f"{r.name}@{r.gateway}: close {r.close_code} {r.error}")
            # What it got before the close must be a prefix without holes: the protocol's
            # recovery (subscribe again with since_seq = last seq received) relies on it.
            prefix: dict[str, set[int]] = defaultdict(set)
            for tid, seq, _mid in r.messages:
                prefix[tid].add(seq)
            for tid, received in prefix.items():
                holes = sorted(set(range(1, max(received) + 1)) - received)
                if holes:
                    v.reader_problems.append(
                        f"{r.name}@{r.gateway} (closed {r.close_code}): thread {tid} holes "
                        f"before the close {holes[:10]}"
                    )
            continue
        v.readers_checked += 1
        seen: dict[str, dict[int, str]] = defaultdict(dict)
        for tid, seq, mid in r.messages:
            prev = seen[tid].get(seq)
            if prev is not None and prev != mid:
                v.reader_problems.append(f"{r.name}: thread {tid} seq {seq} had two messages")
            seen[tid][seq] = mid
        for tid in threads:
            want, got = stored_seq.get(tid, {}), seen.get(tid, {})
            missing = sorted(set(want) - set(got))
            if missing:
                v.reader_problems.append(
                    f"{r.name}@{r.gateway}: thread {tid} missing seqs {missing[:10]}"
                    f" ({len(missing)} of {len(want)})"
                )
            foreign = sorted(s for s in got if want.get(s) != got[s])
            if foreign:
                v.reader_problems.append(
                    f"{r.name}@{r.gateway}: thread {tid} seqs not matching the store {foreign[:10]}"
                )
    return v


def save_report(path: Path, rows: Sequence[Verdict], title: str) -> str:
    text = render_table(rows, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def record(verdict: Verdict) -> None:
    """Add a run to the report and save it at once (a crashed session keeps what it did)."""
    ROWS.append(verdict)
    save_report(REPORT, ROWS, TITLE[0])
