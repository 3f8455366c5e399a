// Ordering, dedupe and gap rules of frontend/app/timeline.js (run by test_frontend_modules.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createTimeline, hasGap, insertMessages, startAt, unreadCount } from "../../../frontend/app/timeline.js";

const msg = (seq, sender = "bob", id = `m${seq}`) => ({ message_id: id, seq, sender_id: sender, text: `t${seq}` });

test("a redelivered message is kept once", () => {
  const t = createTimeline();
  assert.equal(insertMessages(t, [msg(1), msg(2)]).length, 2);
  assert.equal(insertMessages(t, [msg(2), msg(1)]).length, 0);
  assert.deepEqual(t.list.map((m) => m.seq), [1, 2]);
});

test("messages arriving out of order are shown in seq order", () => {
  const t = createTimeline();
  insertMessages(t, [msg(3), msg(1), msg(2)]);
  assert.deepEqual(t.list.map((m) => m.seq), [1, 2, 3]);
  assert.equal(t.high, 3);
});

test("a hole keeps the high-water mark below it until it is filled", () => {
  const t = createTimeline();
  insertMessages(t, [msg(1), msg(2), msg(4)]);
  assert.equal(t.high, 2);
  assert.equal(hasGap(t), true);
  insertMessages(t, [msg(3)]);
  assert.equal(t.high, 4);
  assert.equal(hasGap(t), false);
});

test("the server's last_seq beyond what we hold is a gap", () => {
  const t = createTimeline();
  insertMessages(t, [msg(1)]);
  assert.equal(hasGap(t, 1), false);
  assert.equal(hasGap(t, 5), true);
});

test("the latest page starts tracking just below it, with older history to page", () => {
  const t = createTimeline();
  startAt(t, 50);
  insertMessages(t, [51, 52, 53].map((s) => msg(s)));
  assert.equal(t.high, 53);
  assert.equal(t.hasOlder, true);
  insertMessages(t, [msg(1)]);
  assert.equal(t.low, 1);
  assert.equal(t.hasOlder, false);
  assert.equal(t.high, 53);
});

test("malformed messages are ignored", () => {
  const t = createTimeline();
  assert.equal(insertMessages(t, [{ seq: 1 }, { message_id: "x", seq: 0 }, { message_id: "y", seq: "2" }]).length, 0);
});

test("unread counts only others' messages after the last read seq", () => {
  const t = createTimeline();
  insertMessages(t, [msg(1), msg(2, "alice"), msg(3), msg(4)]);
  assert.equal(unreadCount(t, 2, "alice"), 2);
  assert.equal(unreadCount(t, 0, "alice"), 3);
  assert.equal(unreadCount(t, 4, "alice"), 0);
});

test("edits and deletes fill their seq and change the message they name", async () => {
  const { applyChanges, createTimeline, hasGap, insertMessages } = await import("../../../frontend/app/timeline.js");
  const t = createTimeline(0);
  insertMessages(t, [
    { message_id: "m1", seq: 1, text: "helo", sender_id: "a" },
    { message_id: "m2", seq: 2, text: "secret", sender_id: "b" },
  ]);
  applyChanges(t, [{ type: "message_deleted", seq: 4, message_id: "m2", deleted_at: "t4" }]);
  assert.equal(hasGap(t), true); // seq 3 (the edit) is not here yet
  assert.equal(t.byId.m2.text, "");
  assert.equal(t.byId.m2.deleted_at, "t4");
  applyChanges(t, [{ type: "message_edited", seq: 3, message_id: "m1", text: "hello", edited_at: "t3" }]);
  assert.equal(hasGap(t), false);
  assert.equal(t.high, 4);
  assert.equal(t.byId.m1.text, "hello");
  assert.equal(t.byId.m1.edited_at, "t3");
  assert.deepEqual(t.list.map((m) => m.seq), [1, 2]); // changes are not rows of their own
  assert.equal(applyChanges(t, [{ type: "message_edited", seq: 3, message_id: "m1", text: "x" }]).length, 0);
  assert.equal(t.byId.m1.text, "hello"); // a replayed change is applied once
});
