// The chat state machine (frontend/app/chat.js) against a fake WebSocket and a fake REST API:
// dedupe, order, gap recovery, pending sends through acks, errors, drops and reconnects.
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

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const msg = (seq, extra = {}) => ({
  type: "message", thread_id: "t1", seq, message_id: `m${seq}`, sender_id: "bob",
  text: `text ${seq}`, created_at: "2026-01-01T00:00:00Z", ...extra,
});

// The server's view: every stored message, and what REST pages were asked for.
function fakeApi(stored) {
  const calls = [];
  return {
    calls,
    stored,
    async listThreads() { return [{ thread_id: "t1", title: "T", members: ["alice", "bob"] }]; },
    async history(id, { afterSeq, beforeSeq, limit = 50 } = {}) {
      calls.push({ afterSeq, beforeSeq, limit });
      let page;
      if (afterSeq !== undefined) page = stored.filter((m) => m.seq > afterSeq).slice(0, limit);
      else if (beforeSeq !== undefined) page = stored.filter((m) => m.seq < beforeSeq).slice(-limit);
      else page = stored.slice(-limit);
      return { messages: page };
    },
  };
}

let chat = null;
afterEach(() => { if (chat) chat.stop(); chat = null; FakeSocket.all = []; });

async function connected(stored) {
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
  return { api, ws };
}

const seqs = () => chat.state.timelines.t1.list.map((m) => m.seq);

test("a replayed or redelivered message shows once, in seq order", async () => {
  const { ws } = await connected([msg(1), msg(2), msg(3)]);
  await chat.openThread("t1");
  ws.receive([msg(2), msg(4), msg(3)]); // one frame carrying an array, with copies
  ws.receive(msg(4));
  assert.deepEqual(seqs(), [1, 2, 3, 4]);
});

test("a seq jump is filled through REST after_seq", async () => {
  const stored = [1, 2, 3, 4, 5].map((s) => msg(s));
  const { api, ws } = await connected(stored.slice(0, 2));
  await chat.openThread("t1");
  api.stored.push(...stored.slice(2));
  ws.receive(msg(5));
  await tick();
  assert.deepEqual(seqs(), [1, 2, 3, 4, 5]);
  assert.ok(api.calls.some((c) => c.afterSeq === 2));
});

test("subscribed.last_seq beyond what we hold is recovered after a reconnect", async () => {
  const { api, ws } = await connected([msg(1)]);
  await chat.openThread("t1");
  ws.close(1006);
  api.stored.push(msg(2), msg(3)); // written while we were away
  await tick(600); // first reconnect waits 250-500 ms
  const again = FakeSocket.all.at(-1);
  assert.notEqual(again, ws);
  again.open();
  again.receive({ type: "pong" });
  await tick();
  assert.deepEqual(again.frames("subscribe"), [{ type: "subscribe", thread_id: "t1", since_seq: 1 }]);
  again.receive({ type: "subscribed", thread_id: "t1", last_seq: 3 });
  await tick();
  assert.deepEqual(seqs(), [1, 2, 3]);
});

test("a send is pending until its ack and its message arrive", async () => {
  const { ws } = await connected([]);
  await chat.openThread("t1");
  const p = chat.send("t1", "hello");
  const [frame] = ws.frames("send");
  assert.deepEqual(frame, { type: "send", thread_id: "t1", client_msg_id: p.clientMsgId, text: "hello" });
  assert.equal(p.status, "sending");
  ws.receive({ type: "ack", client_msg_id: p.clientMsgId, message_id: "m1", thread_id: "t1" });
  assert.equal(p.status, "sent");
  ws.receive(msg(1, { message_id: "m1", sender_id: "alice", text: "hello" }));
  assert.deepEqual(chat.state.pending.t1, []);
  assert.deepEqual(seqs(), [1]);
});

test("a refusal shows the server's reason; Retry sends the same client_msg_id", async () => {
  const { ws } = await connected([]);
  await chat.openThread("t1");
  const p = chat.send("t1", "too long");
  ws.receive({ type: "error", code: "too_large", message: "text is 17000 bytes", client_msg_id: p.clientMsgId });
  assert.equal(p.status, "failed");
  assert.equal(p.error, "text is 17000 bytes");
  chat.retry(p);
  const sends = ws.frames("send");
  assert.equal(sends.length, 2);
  assert.equal(sends[1].client_msg_id, p.clientMsgId);
  assert.equal(p.status, "sending");
  assert.equal(p.error, "");
});

test("over the rate limit a send waits as told and goes again by itself", async () => {
  const { ws } = await connected([]);
  await chat.openThread("t1");
  const p = chat.send("t1", "hi");
  ws.receive({ type: "error", code: "rate_limited", message: "slow down", retry_after_s: 0.2, client_msg_id: p.clientMsgId });
  assert.equal(p.status, "waiting");
  await tick(300);
  assert.equal(ws.frames("send").length, 2);
  assert.equal(p.status, "sending");
});

test("sends not acknowledged when the link drops go again, same id, after reconnect", async () => {
  const { ws } = await connected([]);
  await chat.openThread("t1");
  const inFlight = chat.send("t1", "in flight");
  ws.close(1006);
  assert.equal(inFlight.status, "waiting");
  const offline = chat.send("t1", "written offline");
  assert.equal(offline.status, "waiting");
  await tick(600);
  const again = FakeSocket.all.at(-1);
  again.open();
  again.receive({ type: "pong" });
  await tick();
  assert.deepEqual(again.frames("send").map((f) => f.client_msg_id), [inFlight.clientMsgId, offline.clientMsgId]);
});

test("unread counts others' messages in a thread not on screen", async () => {
  const { ws } = await connected([]);
  ws.receive([msg(1), msg(2, { sender_id: "alice" }), msg(3)]);
  assert.equal(chat.unread("t1"), 2);
  await chat.openThread("t1");
  assert.equal(chat.unread("t1"), 0);
});

test("a thread frame for a thread we do not list yet lists it and follows it at once", async () => {
  const { api, ws } = await connected([msg(1)]);
  const listed = [{ thread_id: "t1", title: "T", members: ["alice", "bob"] }];
  api.listThreads = async () => listed;
  listed.push({ thread_id: "t2", title: "New", members: ["bob", "alice"] });
  ws.receive({ type: "thread", thread_id: "t2", members: ["bob", "alice"] });
  await tick();
  assert.deepEqual(chat.state.threads.map((t) => t.thread_id), ["t1", "t2"]);
  assert.deepEqual(ws.frames("subscribe").map((f) => f.thread_id).at(-1), "t2");
  ws.receive({ type: "thread", thread_id: "t2", members: ["bob", "alice"] }); // known: no reload
  await tick();
  assert.equal(chat.state.threads.length, 2);
});
