// Assistants' turns through the chat store (frontend/app/chat.js) and the generated frame
// validator, against a fake WebSocket and a fake REST API: the reply grows from frames, a
// missed delta resubscribes, the stored reply ends the turn, Stop goes over WS or REST.
import { register } from "node:module";
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";

register(new URL("./import-map-hooks.mjs", import.meta.url));

class FakeSocket {
  static all = [];
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; FakeSocket.all.push(this); }
  send(data) { this.sent.push(JSON.parse(data)); }
  close(code = 1000) { this.readyState = 3; if (this.onclose) this.onclose({ code }); }
  open() { this.readyState = 1; this.onopen(); }
  receive(obj) { this.onmessage({ data: JSON.stringify(obj) }); }
  frames(type) { return this.sent.filter((f) => f.type === type); }
}

globalThis.window = { crypto: globalThis.crypto, WebSocket: FakeSocket, addEventListener() {} };
globalThis.document = { visibilityState: "visible", addEventListener() {} };
const { createChat } = await import("parley/chat.js");
const { turnText } = await import("parley/turns.js");

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const AT = "2026-12-02T18:00:00Z";
const msg = (seq, extra = {}) => ({
  type: "message", thread_id: "t1", seq, message_id: `m${seq}`, sender_id: "bob",
  text: `text ${seq}`, created_at: AT, ...extra,
});
const started = (extra = {}) => ({
  type: "turn", phase: "started", thread_id: "t1", turn_id: "u1", assistant_id: "plugin:assistant",
  reply_to: "m1", message_id: "r1", started_at: AT, text: "", next_index: 0, ...extra,
});
const delta = (index, text) => ({ type: "turn", phase: "delta", thread_id: "t1", turn_id: "u1", index, text });

function fakeApi(stored) {
  const calls = [];
  return {
    calls,
    stored,
    async listThreads() { return [{ thread_id: "t1", title: "T", members: ["alice", "bob", "plugin:assistant"] }]; },
    async history(id, { afterSeq, limit = 50 } = {}) {
      const page = afterSeq !== undefined ? stored.filter((m) => m.seq > afterSeq).slice(0, limit) : stored.slice(-limit);
      return { messages: page };
    },
    async stopTurn(threadId, turnId) { calls.push({ stop: [threadId, turnId] }); return { accepted_at: AT }; },
    async addMember(threadId, userId) { calls.push({ add: [threadId, userId] }); return { thread_id: threadId, members: ["alice", "bob", userId] }; },
    async listPlugins() { return [{ id: "assistant", bot_user_id: "plugin:assistant" }]; },
  };
}

let chat = null;
afterEach(() => { if (chat) chat.stop(); chat = null; FakeSocket.all = []; });

async function connected(stored = [msg(1, { sender_id: "alice" })]) {
  const api = fakeApi(stored);
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  const auth = { token: async () => "tok", onChange() {}, renew: async () => null };
  chat = createChat({ api, config: { wsUrl: "ws://x/ws" }, auth, me: "alice", storage });
  await chat.start();
  await tick();
  const ws = FakeSocket.all.at(-1);
  ws.open();
  ws.receive({ type: "pong" });
  await tick();
  await chat.openThread("t1");
  return { api, ws };
}

const turn = () => chat.state.turns.byThread.t1;

test("turn frames from the server build the reply; the stored reply ends the turn", async () => {
  const { ws } = await connected();
  ws.receive([started(), delta(0, "Hel"), delta(1, "lo")]);
  ws.receive(delta(1, "lo")); // a repeat
  assert.equal(turnText(turn()), "Hello");
  assert.equal(chat.state.invalidFrames, 0);
  ws.receive({ type: "turn", phase: "finished", thread_id: "t1", turn_id: "u1", status: "complete", deltas: 2, message_id: "r1" });
  ws.receive(msg(2, { message_id: "r1", sender_id: "plugin:assistant", text: "Hello", turn_id: "u1" }));
  assert.equal(turn().status, "complete");
  assert.equal(chat.state.timelines.t1.byId.r1.text, turnText(turn()));
});

test("a delta after a hole resubscribes; the snapshot fills the hole", async () => {
  const { ws } = await connected();
  ws.receive([started(), delta(0, "a")]);
  const before = ws.frames("subscribe").length;
  ws.receive(delta(2, "c"));
  assert.equal(ws.frames("subscribe").length, before + 1);
  assert.deepEqual(ws.frames("subscribe").at(-1), { type: "subscribe", thread_id: "t1", since_seq: 1 });
  ws.receive(started({ text: "abc", next_index: 3 }));
  ws.receive(delta(3, "d"));
  assert.equal(turnText(turn()), "abcd");
});

test("a turn frame the schema refuses is reported, not applied", async () => {
  const { ws } = await connected();
  ws.receive({ type: "turn", phase: "delta", thread_id: "t1", turn_id: "u1", index: "zero", text: "x" });
  assert.equal(chat.state.invalidFrames, 1);
  assert.equal(turn(), undefined);
});

test("a message posted while the turn runs is noted as waiting for the next turn", async () => {
  const { ws } = await connected();
  ws.receive(started());
  ws.receive(msg(2, { sender_id: "bob" }));
  assert.deepEqual(turn().queued, ["m2"]);
});

test("Stop goes over the WebSocket when it is up, else over REST", async () => {
  const { api, ws } = await connected();
  ws.receive(started());
  await chat.stopTurn("t1", "u1");
  assert.deepEqual(ws.frames("stop"), [{ type: "stop", thread_id: "t1", turn_id: "u1" }]);
  assert.equal(chat.state.stopping.u1, true);
  ws.close(1006);
  await chat.stopTurn("t1", "u1");
  assert.deepEqual(api.calls.filter((c) => c.stop), [{ stop: ["t1", "u1"] }]);
  assert.equal(turn().gap, true); // offline: catching up until the next snapshot
});

test("adding the assistant updates the thread's members", async () => {
  const { api } = await connected();
  await chat.addMember("t1", " plugin:helper ");
  assert.deepEqual(api.calls.filter((c) => c.add), [{ add: ["t1", "plugin:helper"] }]);
  assert.deepEqual(chat.state.threads[0].members, ["alice", "bob", "plugin:helper"]);
  await chat.refreshPlugins();
  assert.equal(chat.state.plugins[0].bot_user_id, "plugin:assistant");
});
