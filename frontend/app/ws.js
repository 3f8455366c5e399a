// WebSocket client: auth frame first, reconnect with exponential backoff and jitter, liveness
// pings. It knows nothing about threads: the chat store subscribes in onOpen and reads frames.
// Every incoming frame is checked against the generated protocol schemas (parley/protocol.js,
// written from the server's models by `parley protocol generate`): an invalid one goes to
// onInvalidFrame, never to onFrame, so it is reported instead of rendered.
import { validateServerFrame } from "parley/protocol.js";

// Half fixed, half random: never zero (no reconnect storm against a restarting server), and
// spread out so that many browsers do not come back in the same instant.
export function backoffDelay(attempt, { baseMs = 500, capMs = 15000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

// One server frame may carry an event object or an array of them (batching under load).
export function parseFrames(data) {
  let parsed;
  try { parsed = JSON.parse(data); } catch { return []; }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.filter((f) => f && typeof f === "object" && typeof f.type === "string");
}

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000; // no frame at all for this long: the link is dead, reconnect

export class ChatSocket {
  constructor({ url, getToken, onFrame, onOpen, onState, onAuthRefused, onInvalidFrame,
                WebSocketImpl = window.WebSocket, random = Math.random }) {
    Object.assign(this, { url, getToken, onFrame, onOpen, onState, onAuthRefused,
                          onInvalidFrame, WebSocketImpl, random });
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.timer = null;
    this.pinger = null;
    this.lastFrameAt = 0;
    this.state = "offline";
  }

  setState(state, detail = {}) {
    this.state = state;
    if (this.onState) this.onState(state, detail);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
    this.setState("offline");
  }

  // True if the frame went onto an open socket; callers keep what must survive a reconnect.
  send(frame) {
    if (!this.ws || this.ws.readyState !== 1 || this.state !== "online") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  async connect() {
    if (this.stopped) return;
    this.setState("connecting", { attempt: this.attempt });
    let token = "";
    try { token = await this.getToken(); } catch { token = ""; }
    if (this.stopped) return;
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      // Authenticate before anything else; the token never goes into the URL.
      ws.send(JSON.stringify({ type: "auth", token }));
      ws.send(JSON.stringify({ type: "ping" }));
      this.lastFrameAt = Date.now();
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.heartbeat(ws), PING_EVERY_MS);
    };
    ws.onmessage = (event) => {
      this.lastFrameAt = Date.now();
      const frames = [];
      for (const frame of parseFrames(event.data)) {
        const verdict = validateServerFrame(frame);
        if (verdict.valid) frames.push(frame);
        else this.reportInvalid(frame, verdict);
      }
      if (!welcomed && frames.some((f) => f.type !== "error")) {
        // The first answer after auth: the server accepted us. Only now is the link usable.
        welcomed = true;
        this.attempt = 0;
        this.setState("online");
        if (this.onOpen) this.onOpen();
      }
      for (const frame of frames) if (this.onFrame) this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      clearInterval(this.pinger);
      this.ws = null;
      if (this.stopped) return;
      // 1008 (policy) and 4401: the token was refused or expired; renew before retrying.
      if ((event.code === 1008 || event.code === 4401) && this.onAuthRefused) {
        Promise.resolve(this.onAuthRefused()).finally(() => this.scheduleReconnect());
      } else {
        this.scheduleReconnect();
      }
    };
    ws.onerror = () => { /* onclose follows and decides */ };
  }

  reportInvalid(frame, verdict) {
    console.warn("parley: ignored an invalid server frame", frame.type, verdict.field, verdict.message);
    if (this.onInvalidFrame) this.onInvalidFrame(frame, verdict);
  }

  heartbeat(ws) {
    if (ws !== this.ws || ws.readyState !== 1) return;
    if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
      ws.close(4000, "silent peer");
      return;
    }
    ws.send(JSON.stringify({ type: "ping" }));
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, { random: this.random });
    this.attempt += 1;
    this.setState("offline", { retryInMs: delay, attempt: this.attempt });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // A renewed token goes to the open connection as a new auth frame (the server closes with
  // 1008 when the token it holds expires); a closed one uses it on the next connect.
  reauth(token) {
    if (this.ws && this.ws.readyState === 1 && token) {
      this.ws.send(JSON.stringify({ type: "auth", token }));
    }
  }

  // Skip the wait (the user pressed "Reconnect now", or the browser came back online).
  reconnectNow() {
    if (this.stopped || this.state === "online" || this.state === "connecting") return;
    clearTimeout(this.timer);
    this.connect();
  }
}
