// How a browser assembles an assistant's reply from `turn` frames (frontend/app/turns.js):
// no gap, no duplicate, mid-turn snapshots, lost frames, outcomes (run by test_frontend_modules.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  applyTurnFrame, createTurns, isQueued, isStreaming, markDisconnected, messageOutcome,
  missedTail, noteQueued, onStoredMessage, turnText,
} from "../../../frontend/app/turns.js";

const started = (extra = {}) => ({
  type: "turn", phase: "started", thread_id: "t1", turn_id: "u1", assistant_id: "plugin:assistant",
  reply_to: "m1", message_id: "r1", started_at: "2026-12-02T18:00:00Z", text: "", next_index: 0, ...extra,
});
const delta = (index, text, extra = {}) => ({ type: "turn", phase: "delta", thread_id: "t1", turn_id: "u1", index, text, ...extra });
const finished = (status = "complete", extra = {}) => ({
  type: "turn", phase: "finished", thread_id: "t1", turn_id: "u1", status, deltas: 3, message_id: "r1", ...extra,
});
const current = (turns) => turns.byThread.t1;

test("deltas in order build the reply", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  for (const [i, s] of ["Hel", "lo", "!"].entries()) applyTurnFrame(turns, delta(i, s));
  assert.equal(turnText(current(turns)), "Hello!");
  assert.equal(isStreaming(current(turns)), true);
});

test("a delta whose index is already applied is ignored", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "a"));
  assert.deepEqual(applyTurnFrame(turns, delta(0, "a")), { changed: false, resubscribe: false });
  applyTurnFrame(turns, delta(1, "b"));
  assert.equal(turnText(current(turns)), "ab");
});

test("a delta that skips an index is held back and asks for a snapshot, once", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "a"));
  assert.deepEqual(applyTurnFrame(turns, delta(2, "c")), { changed: true, resubscribe: true });
  assert.deepEqual(applyTurnFrame(turns, delta(3, "d")), { changed: false, resubscribe: false });
  assert.equal(turnText(current(turns)), "a");
  assert.equal(current(turns).gap, true);
  // The snapshot after the resubscribe carries everything up to its next_index: no gap.
  applyTurnFrame(turns, started({ text: "abcd", next_index: 4 }));
  applyTurnFrame(turns, delta(3, "d"));
  applyTurnFrame(turns, delta(4, "e"));
  assert.equal(turnText(current(turns)), "abcde");
  assert.equal(current(turns).gap, false);
});

test("joining mid-turn: the snapshot, then only the deltas after it", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started({ text: "The answer ", next_index: 5 }));
  // Deltas already inside the snapshot (the gateway's fan-out raced the subscribe): skipped.
  applyTurnFrame(turns, delta(3, "ans"));
  applyTurnFrame(turns, delta(4, "wer "));
  applyTurnFrame(turns, delta(5, "is"));
  applyTurnFrame(turns, delta(6, " 42."));
  assert.equal(turnText(current(turns)), "The answer is 42.");
});

test("a snapshot older than what we hold does not roll the text back", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  ["a", "b", "c"].forEach((s, i) => applyTurnFrame(turns, delta(i, s)));
  applyTurnFrame(turns, started({ text: "a", next_index: 1 }));
  applyTurnFrame(turns, delta(3, "d"));
  assert.equal(turnText(current(turns)), "abcd");
});

test("finished carries the status and reason; later frames of that turn change nothing", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "par"));
  applyTurnFrame(turns, finished("stopped", { reason: "stopped by bob", deltas: 1 }));
  const turn = current(turns);
  assert.equal(turn.status, "stopped");
  assert.equal(turn.reason, "stopped by bob");
  assert.equal(missedTail(turn), false);
  assert.deepEqual(applyTurnFrame(turns, delta(1, "tial")), { changed: false, resubscribe: false });
  assert.deepEqual(applyTurnFrame(turns, started({ text: "partial", next_index: 2 })), { changed: false, resubscribe: false });
  assert.equal(turnText(turn), "par");
  assert.deepEqual(messageOutcome(turns, { message_id: "r1", thread_id: "t1" }), { status: "stopped", reason: "stopped by bob" });
});

test("a complete turn adds no outcome note to its stored message", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, finished("complete", { deltas: 0 }));
  assert.equal(messageOutcome(turns, { message_id: "r1" }), null);
});

test("a tail we missed is known from the finished count", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "a"));
  applyTurnFrame(turns, finished("complete", { deltas: 3 }));
  assert.equal(missedTail(current(turns)), true);
});

test("the stored reply ends a turn whose finished frame was lost", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "a"));
  assert.equal(onStoredMessage(turns, { thread_id: "t1", message_id: "other", seq: 3 }), false);
  assert.equal(isStreaming(current(turns)), true);
  assert.equal(onStoredMessage(turns, { thread_id: "t1", message_id: "r1", seq: 4, turn_id: "u1" }), true);
  assert.equal(current(turns).status, "complete");
});

test("finished after the stored reply still sets the outcome", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "par"));
  onStoredMessage(turns, { thread_id: "t1", message_id: "r1", seq: 4, turn_id: "u1" });
  assert.equal(current(turns).status, "complete");
  applyTurnFrame(turns, finished("stopped", { reason: "stopped by bob", deltas: 1 }));
  assert.equal(current(turns).status, "stopped");
  assert.deepEqual(messageOutcome(turns, { message_id: "r1" }), { status: "stopped", reason: "stopped by bob" });
  // A repeat of the frame changes nothing more.
  assert.deepEqual(applyTurnFrame(turns, finished("complete")), { changed: false, resubscribe: false });
});

test("a stored reply that carries its turn's status shows it after a reload", () => {
  const turns = createTurns(); // a fresh page: no frames seen
  const m = { thread_id: "t1", message_id: "r1", seq: 4, turn_id: "u1", turn_status: "error", turn_reason: "model server unreachable" };
  assert.deepEqual(messageOutcome(turns, m), { status: "error", reason: "model server unreachable" });
  assert.equal(messageOutcome(turns, { thread_id: "t1", message_id: "m9", seq: 5 }), null);
});

test("an error before any text: finished alone is remembered", () => {
  const turns = createTurns();
  applyTurnFrame(turns, finished("error", { reason: "model server down", deltas: 0, message_id: undefined }));
  const turn = current(turns);
  assert.equal(turn.status, "error");
  assert.equal(turn.reason, "model server down");
  assert.equal(turn.message_id, "");
});

test("deltas of a turn whose start we missed begin it at index 0, or ask for a snapshot", () => {
  const a = createTurns();
  applyTurnFrame(a, delta(0, "x"));
  assert.equal(turnText(current(a)), "x");
  const b = createTurns();
  assert.deepEqual(applyTurnFrame(b, delta(4, "y")), { changed: true, resubscribe: true });
  assert.equal(turnText(current(b)), "");
});

test("a new turn replaces the last one; messages posted meanwhile wait for it", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  assert.equal(noteQueued(turns, { thread_id: "t1", message_id: "m1", sender_id: "alice" }), false); // what it answers
  assert.equal(noteQueued(turns, { thread_id: "t1", message_id: "m2", sender_id: "bob" }), true);
  assert.equal(noteQueued(turns, { thread_id: "t1", message_id: "m2", sender_id: "bob" }), false);
  assert.equal(noteQueued(turns, { thread_id: "t1", message_id: "r1", sender_id: "plugin:assistant" }), false);
  assert.equal(isQueued(turns, "t1", "m2"), true);
  applyTurnFrame(turns, finished());
  assert.equal(isQueued(turns, "t1", "m2"), false);
  applyTurnFrame(turns, started({ turn_id: "u2", reply_to: "m2", message_id: "r2" }));
  assert.equal(current(turns).turn_id, "u2");
  assert.equal(turnText(current(turns)), "");
});

test("frames that are not turn frames, or carry bad fields, change nothing", () => {
  const turns = createTurns();
  for (const f of [null, { type: "message" }, { type: "turn", phase: "started" },
    { type: "turn", phase: "later", thread_id: "t1", turn_id: "u1" },
    delta(-1, "x"), delta(1.5, "x"), delta(0, 7), finished("done")]) {
    assert.deepEqual(applyTurnFrame(turns, f), { changed: false, resubscribe: false });
  }
  assert.equal(current(turns), undefined);
});

test("a lost connection marks a streaming turn as catching up until the next snapshot", () => {
  const turns = createTurns();
  applyTurnFrame(turns, started());
  applyTurnFrame(turns, delta(0, "a"));
  markDisconnected(turns);
  assert.equal(current(turns).gap, true);
  applyTurnFrame(turns, started({ text: "ab", next_index: 2 }));
  assert.equal(current(turns).gap, false);
  assert.equal(turnText(current(turns)), "ab");
});
