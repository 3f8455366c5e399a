// Backoff, frame parsing and the connection life cycle of frontend/app/ws.js.
import { register } from "node:module";
import { test } from "node:test";
import assert from "node:assert/strict";

register(new URL("./import-map-hooks.mjs", import.meta.url));
const { ChatSocket, backoffDelay, parseFrames } = await import("../../../frontend/app/ws.js");

test("backoff grows, is capped, and is never zero", () => {
  assert.equal(backoffDelay(0, { random: () => 0 }), 250);
  assert.equal(backoffDelay(0, { random: () => 1 }), 500);
  assert.equal(backoffDelay(3, { random: () => 0 }), 2000);
  assert.equal(backoffDelay(50, { random: () => 1 }), 15000);
  assert.equal(backoffDelay(50, { random: () => 0 }), 7500);
});

test("a frame is one event or an array of events; junk is dropped", () => {
  assert.deepEqual(parseFrames('{"type":"pong"}'), [{ type: "pong" }]);
  assert.deepEqual(parseFrames('[{"type":"a"},{"type":"b"},3,null,{"x":1}]'), [{ type: "a" }, { type: "b" }]);
  assert.deepEqual(parseFrames("not json"), []);
});

class FakeSocket {
  static all = [];
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; FakeSocket.all.push(this); }
  send(data) { this.sent.push(JSON.parse(data)); }
  close(code = 1000) { this.readyState = 3; this.onclose && this.onclose({ code }); }
  open() { this.readyState = 1; this.onopen(); }
  receive(obj) { this.onmessage({ data: JSON.stringify(obj) }); }
}
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test("auth goes first, online only after the server answers, reconnect after a drop", async () => {
  FakeSocket.all = [];
  const states = [];
  let opened = 0;
  let refused = 0;
  const sock = new ChatSocket({
    url: "ws://x/ws", getToken: async () => "tok", WebSocketImpl: FakeSocket, random: () => 0,
    onFrame: () => {}, onOpen: () => { opened += 1; }, onState: (s) => states.push(s),
    onAuthRefused: async () => { refused += 1; },
  });
  sock.start();
  await tick();
  const first = FakeSocket.all[0];
  first.open();
  assert.deepEqual(first.sent, [{ type: "auth", token: "tok" }, { type: "ping" }]);
  assert.equal(sock.send({ type: "x" }), false); // not online before the server answered
  first.receive({ type: "pong" });
  assert.equal(sock.state, "online");
  assert.equal(opened, 1);
  assert.equal(sock.send({ type: "x" }), true);

  first.close(1006);
  assert.equal(sock.state, "offline");
  await tick(300); // backoff with random 0 is 250 ms for the first retry
  assert.equal(FakeSocket.all.length, 2);
  const second = FakeSocket.all[1];
  second.open();
  second.close(1008);
  await tick();
  assert.equal(refused, 1);
  sock.stop();
  assert.equal(sock.state, "offline");
  assert.ok(states.includes("connecting"));
});

test("a frame the protocol schemas refuse is reported, never handed to onFrame", async () => {
  FakeSocket.all = [];
  const frames = [];
  const invalid = [];
  const sock = new ChatSocket({
    url: "ws://x/ws", getToken: async () => "tok", WebSocketImpl: FakeSocket, random: () => 0,
    onFrame: (f) => frames.push(f), onOpen: () => {}, onState: () => {},
    onInvalidFrame: (f, verdict) => invalid.push([f.type, verdict.field]),
  });
  const warn = console.warn;
  console.warn = () => {};
  try {
    sock.start();
    await tick();
    const ws = FakeSocket.all[0];
    ws.open();
    // One batch: a valid pong, a message without seq, an unknown type, a valid typing frame.
    ws.onmessage({ data: JSON.stringify([
      { type: "pong" },
      { type: "message", thread_id: "t1", message_id: "m1", sender_id: "eve", text: "<img>", created_at: "x" },
      { type: "dance" },
      { type: "typing", thread_id: "t1", user_id: "bob" },
    ]) });
  } finally {
    console.warn = warn;
    sock.stop();
  }
  assert.deepEqual(frames.map((f) => f.type), ["pong", "typing"]);
  assert.deepEqual(invalid, [["message", "seq"], ["dance", "type"]]);
  assert.equal(sock.attempt, 0);
});
