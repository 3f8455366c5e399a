// The chat state the components render: threads, timelines, pending sends, typing, presence.
// It owns the WebSocket client and turns its frames into state; REST fills history and gaps.
import { reactive } from "vue";
import { ChatSocket } from "parley/ws.js";
import { applyChanges, createTimeline, hasGap, insertMessages, startAt, unreadCount } from "parley/timeline.js";
import { applyTurnFrame, createTurns, markDisconnected, noteQueued, onStoredMessage } from "parley/turns.js";
import { memberName } from "parley/members.js";

const PAGE = 50;
const ACK_TIMEOUT_MS = 15000;
const TYPING_SHOWN_MS = 6000;
const TYPING_SEND_EVERY_MS = 3000;
const THREAD_POLL_MS = 10000;
const TRANSIENT = new Set(["rate_limited", "unavailable"]);

export function newClientMsgId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function createChat({ api, config, auth, me, storage = window.localStorage }) {
  const state = reactive({
    me,
    connection: "offline", // offline | connecting | online
    retryInMs: 0,
    threads: [], // [{thread_id, title, members}]
    activeId: null,
    timelines: {}, // thread_id -> timeline
    lastRead: {}, // thread_id -> seq
    lastSeq: {}, // thread_id -> last_seq the server reported
    pending: {}, // thread_id -> [{clientMsgId, text, status, error, messageId}]
    typing: {}, // thread_id -> {user_id: expiresAt}
    presence: {}, // user_id -> "online" | "offline"
    names: {}, // user_id -> display name the user chose (boot snapshot, then profile frames)
    banner: "", // a problem that is not about one message
    invalidFrames: 0, // server frames refused by the protocol schemas (reported, not rendered)
    loadingOlder: false,
    threadsError: "",
    turns: createTurns(), // assistants' turns per thread (parley/turns.js)
    stopping: {}, // turn_id -> true once this page asked to stop it
    plugins: [], // GET /api/plugins: the assistants and bots that can be added to a thread
    pluginsError: "",
  });
  const recovering = new Map(); // thread_id -> promise (one gap fill at a time per thread)
  const ackTimers = new Map();
  let lastTypingSent = 0;
  let pollTimer = null;
  let tickTimer = null;

  const readKey = (id) => `parley:lastRead:${me}:${id}`;
  const loadLastRead = (id) => Number(storage.getItem(readKey(id)) || 0);

  function timeline(id) {
    if (!state.timelines[id]) {
      state.timelines[id] = createTimeline(state.lastRead[id] ?? loadLastRead(id));
      state.lastRead[id] = state.lastRead[id] ?? loadLastRead(id);
    }
    return state.timelines[id];
  }

  // The read marker lives on the server (per user and thread, only moving forward), so every
  // device agrees; localStorage keeps it across a reload before the boot snapshot answers.
  function markRead(id) {
    const t = state.timelines[id];
    if (!t || document.visibilityState === "hidden") return;
    const seq = Math.max(t.high || 0, t.maxSeen || 0);
    if (seq > (state.lastRead[id] || 0)) {
      state.lastRead[id] = seq;
      storage.setItem(readKey(id), String(seq));
      if (!socket.send({ type: "read", thread_id: id, seq }) && api.markRead) {
        api.markRead(id, seq).catch(() => {});
      }
    }
  }

  // Unread after the marker: counted in the timeline where it holds everything after the
  // marker (own messages aside), else the server's count (last seq - marker).
  function unread(id) {
    const t = state.timelines[id];
    if (!t) return 0;
    const read = state.lastRead[id] || 0;
    const counted = unreadCount(t, read, me);
    const covered = t.floor <= read && t.high >= (state.lastSeq[id] || 0);
    return covered ? counted : Math.max(counted, (state.lastSeq[id] || 0) - read);
  }

  function displayName(userId) {
    // A person's chosen name, else their id; a plugin member by its plugin id.
    return state.names[userId] || memberName(userId);
  }

  function addMessages(id, messages, { live = false } = {}) {
    const t = timeline(id);
    const added = insertMessages(t, messages);
    for (const m of added) {
      // The stored reply ends its turn (its `finished` may have been lost on a reconnect);
      // anything else posted while a turn runs waits for the next one. Whether it came after
      // the message the turn answers: by seq when that one is here, else only if it is live.
      const msg = { ...m, thread_id: id };
      if (onStoredMessage(state.turns, msg)) continue;
      const turn = state.turns.byThread[id];
      const answered = turn && t.byId[turn.reply_to];
      if (answered ? m.seq > answered.seq : live) noteQueued(state.turns, msg);
    }
    if (added.length) {
      const pend = state.pending[id] || [];
      state.pending[id] = pend.filter((p) => !added.some((m) =>
        m.message_id === p.messageId || (m.client_msg_id && m.client_msg_id === p.clientMsgId)));
      if (id === state.activeId) markRead(id);
    }
    return added;
  }

  // A REST history page: its messages, and the edits and deletes in the same seq range.
  function addPage(id, page) {
    const added = addMessages(id, (page && page.messages) || []);
    applyChanges(timeline(id), (page && page.changes) || []);
    return added;
  }

  // ---- REST: history and gap recovery ------------------------------------------------------

  async function openThread(id) {
    state.activeId = id;
    const t = timeline(id);
    if (!t.loaded) {
      const page = await api.history(id, { limit: PAGE });
      const rows = [...((page && page.messages) || []), ...((page && page.changes) || [])];
      if (rows.length) startAt(t, Math.min(...rows.map((m) => m.seq)) - 1);
      else startAt(t, 0);
      addPage(id, page);
      t.loaded = true;
      t.hasOlder = t.low !== null && t.low > 1;
      await recover(id);
    }
    markRead(id);
  }

  async function loadOlder(id) {
    const t = timeline(id);
    if (!t.hasOlder || state.loadingOlder || t.low === null) return 0;
    state.loadingOlder = true;
    try {
      const page = await api.history(id, { beforeSeq: t.low, limit: PAGE });
      const added = addPage(id, page);
      if (!added.length || (t.low !== null && t.low <= 1)) t.hasOlder = false;
      return added.length;
    } finally {
      state.loadingOlder = false;
    }
  }

  // Fill every hole between what we hold and what the server says exists, via after_seq.
  function recover(id) {
    if (recovering.has(id)) return recovering.get(id);
    const run = (async () => {
      const t = timeline(id);
      for (let rounds = 0; rounds < 200 && hasGap(t, state.lastSeq[id] || 0); rounds += 1) {
        const before = t.high;
        const page = await api.history(id, { afterSeq: t.high, limit: 100 });
        addPage(id, page);
        if (t.high === before) break; // the server has nothing more for now
      }
    })().catch((err) => { state.banner = `Could not load missed messages: ${err.message}`; })
      .finally(() => recovering.delete(id));
    recovering.set(id, run);
    return run;
  }

  // ---- threads -------------------------------------------------------------------------------

  // The boot snapshot when the API has it (threads with last seq, read marker, archived;
  // everyone's display names), else the plain thread list.
  async function refreshThreads() {
    try {
      const booted = api.boot ? await api.boot() : null;
      const threads = booted ? booted.threads || [] : await api.listThreads();
      if (booted && booted.display_names) state.names = { ...booted.display_names };
      state.threadsError = "";
      const known = new Set(state.threads.map((t) => t.thread_id));
      state.threads = threads;
      for (const th of threads) {
        if (Number.isInteger(th.last_seq)) state.lastSeq[th.thread_id] = th.last_seq;
        timeline(th.thread_id);
        if (Number.isInteger(th.read_seq) && th.read_seq > (state.lastRead[th.thread_id] || 0)) {
          state.lastRead[th.thread_id] = th.read_seq;
        }
        if (!known.has(th.thread_id)) subscribe(th.thread_id);
      }
    } catch (err) {
      state.threadsError = `Could not load threads: ${err.message}`;
    }
  }

  async function createThread(title, members) {
    const unique = [...new Set([me, ...members.map((m) => m.trim()).filter(Boolean)])];
    const created = await api.createThread(title, unique);
    await refreshThreads();
    if (!state.threads.some((t) => t.thread_id === created.thread_id)) {
      state.threads = [{ title, members: unique, ...created }, ...state.threads];
      timeline(created.thread_id);
      subscribe(created.thread_id);
    }
    return created.thread_id;
  }

  // ---- WebSocket -----------------------------------------------------------------------------

  // An open thread resumes where its timeline is contiguous. A thread not opened yet only
  // needs enough for its unread badge: from the last read seq, but (when the thread list
  // says how long it is) never more than a page, so a long history is paged, not replayed.
  function subscribe(id) {
    const t = timeline(id);
    let since = t.high;
    if (!t.loaded && Number.isInteger(state.lastSeq[id])) {
      since = Math.max(since, state.lastSeq[id] - PAGE);
      startAt(t, since);
    }
    socket.send({ type: "subscribe", thread_id: id, since_seq: since });
  }

  // Gaps matter in a thread on screen; others catch up when opened (openThread recovers).
  function recoverIfOpen(id) {
    if (state.timelines[id] && state.timelines[id].loaded) recover(id);
  }

  function onOpen() {
    state.banner = "";
    for (const th of state.threads) subscribe(th.thread_id);
    // Anything not acknowledged before the link dropped goes again, with the same id.
    for (const list of Object.values(state.pending)) {
      for (const p of list) if (p.status === "sending" || p.status === "waiting") transmit(p);
    }
    refreshThreads();
  }

  function onFrame(f) {
    switch (f.type) {
      case "message": {
        if (typeof f.thread_id !== "string") return;
        if (!state.threads.some((t) => t.thread_id === f.thread_id)) refreshThreads();
        if (f.seq > (state.lastSeq[f.thread_id] || 0)) state.lastSeq[f.thread_id] = f.seq;
        addMessages(f.thread_id, [f], { live: true });
        if (hasGap(timeline(f.thread_id))) recoverIfOpen(f.thread_id);
        const typers = state.typing[f.thread_id];
        if (typers) delete typers[f.sender_id];
        return;
      }
      case "subscribed": {
        if (Number.isInteger(f.last_seq)) state.lastSeq[f.thread_id] = f.last_seq;
        // Who is already here (presence frames only report changes), if the server says.
        if (Array.isArray(f.online)) for (const u of f.online) state.presence[u] = "online";
        if (hasGap(timeline(f.thread_id), f.last_seq || 0)) recoverIfOpen(f.thread_id);
        return;
      }
      case "message_edited":
      case "message_deleted": {
        if (f.seq > (state.lastSeq[f.thread_id] || 0)) state.lastSeq[f.thread_id] = f.seq;
        applyChanges(timeline(f.thread_id), [f]);
        if (hasGap(timeline(f.thread_id))) recoverIfOpen(f.thread_id);
        return;
      }
      case "ack": return onAck(f);
      case "typing": {
        const who = f.user_id || f.sender_id;
        if (!who || who === me || typeof f.thread_id !== "string") return;
        state.typing[f.thread_id] = { ...(state.typing[f.thread_id] || {}), [who]: Date.now() + TYPING_SHOWN_MS };
        return;
      }
      case "presence": {
        const who = f.user_id;
        if (!who) return;
        const online = f.status ? f.status === "online" : Boolean(f.online);
        state.presence[who] = online ? "online" : "offline";
        return;
      }
      case "thread": {
        // A thread we belong to but do not follow yet (just created, or we were added), or,
        // with a title, one of ours was renamed (with archived: it was archived).
        const known = state.threads.find((t) => t.thread_id === f.thread_id);
        if (!known) refreshThreads();
        else {
          if (typeof f.title === "string") known.title = f.title;
          if (f.archived === true) known.archived = true;
        }
        return;
      }
      case "profile": {
        if (typeof f.user_id === "string") state.names[f.user_id] = f.display_name;
        return;
      }
      case "turn": {
        // A lost delta cannot be asked for again: subscribing anew brings a `started` frame
        // with the text so far (and the stored messages after our high-water mark).
        if (applyTurnFrame(state.turns, f).resubscribe) subscribe(f.thread_id);
        return;
      }
      case "error": return onError(f);
      default:
    }
  }

  function findPending(clientMsgId) {
    for (const list of Object.values(state.pending)) {
      const p = list.find((x) => x.clientMsgId === clientMsgId);
      if (p) return p;
    }
    return null;
  }

  function onAck(f) {
    const p = findPending(f.client_msg_id);
    if (!p) return;
    clearTimeout(ackTimers.get(p.clientMsgId));
    p.status = "sent";
    p.messageId = f.message_id;
    const t = state.timelines[p.threadId];
    if (t && t.byId[f.message_id]) {
      state.pending[p.threadId] = state.pending[p.threadId].filter((x) => x !== p);
    }
  }

  function onError(f) {
    const text = f.message || f.code || "The server refused the request.";
    let p = f.client_msg_id ? findPending(f.client_msg_id) : null;
    if (!p) {
      // Errors for a send may lack its id; with exactly one send in flight it must be that one.
      const inFlight = Object.values(state.pending).flat().filter((x) => x.status === "sending" && x.transmitted);
      if (inFlight.length === 1 && !["auth", "unauthenticated"].includes(f.code)) p = inFlight[0];
    }
    if (p && TRANSIENT.has(f.code)) {
      // Over the rate or the server is draining: not the message's fault, so try again
      // (same client_msg_id) when told, without asking the user.
      clearTimeout(ackTimers.get(p.clientMsgId));
      p.status = "waiting";
      const wait = Math.min(30, Math.max(0.2, Number(f.retry_after_s) || 1)) * 1000;
      ackTimers.set(p.clientMsgId, setTimeout(() => transmit(p), wait));
    } else if (p) {
      clearTimeout(ackTimers.get(p.clientMsgId));
      p.status = "failed";
      p.error = text;
    } else {
      state.banner = text;
    }
  }

  function transmit(p) {
    p.error = "";
    const ok = socket.send({ type: "send", thread_id: p.threadId, client_msg_id: p.clientMsgId, text: p.text });
    p.transmitted = ok;
    p.status = ok ? "sending" : "waiting";
    clearTimeout(ackTimers.get(p.clientMsgId));
    if (!ok) return;
    ackTimers.set(p.clientMsgId, setTimeout(() => {
      if (p.status === "sending") {
        p.status = "failed";
        p.error = "No answer from the server; the message may not have been sent.";
      }
    }, ACK_TIMEOUT_MS));
  }

  function send(id, text) {
    const p = reactive({ clientMsgId: newClientMsgId(), threadId: id, text, status: "waiting", error: "", messageId: null, transmitted: false });
    state.pending[id] = [...(state.pending[id] || []), p];
    transmit(p);
    return p;
  }

  function retry(p) {
    transmit(p); // same client_msg_id: the server stores it at most once
  }

  function discard(p) {
    clearTimeout(ackTimers.get(p.clientMsgId));
    state.pending[p.threadId] = (state.pending[p.threadId] || []).filter((x) => x !== p);
  }

  // Edits and deletes go over the WebSocket; their ack and then message_edited /
  // message_deleted come back like a message's (an error frame says why one was refused).
  function editMessage(id, messageId, text) {
    return socket.send({ type: "edit", thread_id: id, message_id: messageId, client_msg_id: newClientMsgId(), text });
  }

  function deleteMessage(id, messageId) {
    return socket.send({ type: "delete", thread_id: id, message_id: messageId, client_msg_id: newClientMsgId() });
  }

  // Any member may stop the thread's turn: over the WebSocket when it is up, else over REST
  // (the turn belongs to the thread, so either reaches the core that runs it).
  async function stopTurn(id, turnId) {
    state.stopping[turnId] = true;
    if (socket.send({ type: "stop", thread_id: id, turn_id: turnId })) return;
    try {
      await api.stopTurn(id, turnId);
    } catch (err) {
      delete state.stopping[turnId];
      state.banner = `Could not stop the reply: ${err.message}`;
    }
  }

  // ---- members: people, assistants and bots ----------------------------------------------

  async function refreshPlugins() {
    try {
      state.plugins = await api.listPlugins();
      state.pluginsError = "";
    } catch (err) {
      state.pluginsError = `Could not list assistants: ${err.message}`;
    }
  }

  async function addMember(id, userId) {
    const thread = await api.addMember(id, userId.trim());
    const known = state.threads.find((t) => t.thread_id === id);
    if (known && thread && Array.isArray(thread.members)) known.members = thread.members;
    return thread;
  }

  function typing(id) {
    const now = Date.now();
    if (now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
    lastTypingSent = now;
    socket.send({ type: "typing", thread_id: id });
  }

  function typingUsers(id) {
    const now = Date.now();
    return Object.entries(state.typing[id] || {}).filter(([, until]) => until > now).map(([u]) => u);
  }

  const socket = new ChatSocket({
    url: config.wsUrl,
    getToken: () => auth.token(),
    onFrame,
    onOpen,
    // A frame that does not match the protocol (a bug or a mismatched server): say so, show
    // nothing of it.
    onInvalidFrame: (f, verdict) => {
      const where = verdict.field ? ` (field ${verdict.field})` : "";
      state.invalidFrames += 1;
      state.banner = `Ignored an invalid "${String(f.type).slice(0, 40)}" frame from the server${where}: ${verdict.message}`;
    },
    onState: (s, detail) => {
      state.connection = s;
      state.retryInMs = detail.retryInMs || 0;
      // Offline we know nothing about others: stale "online" dots would mislead.
      if (s !== "online") {
        markDisconnected(state.turns);
        state.presence = {};
        state.typing = {};
        // Sent but not acknowledged when the link dropped: the outcome is unknown, so it goes
        // again (same client_msg_id) on reconnect instead of timing out as a failure.
        for (const list of Object.values(state.pending)) {
          for (const p of list) {
            if (p.status === "sending") {
              clearTimeout(ackTimers.get(p.clientMsgId));
              p.status = "waiting";
            }
          }
        }
      }
    },
    onAuthRefused: () => auth.renew().catch(() => { state.banner = "Your session has expired; please sign in again."; }),
  });

  async function start() {
    auth.onChange((user) => { if (user) socket.reauth(user.access_token); });
    await refreshThreads();
    socket.start();
    pollTimer = setInterval(refreshThreads, THREAD_POLL_MS);
    // Re-render typing indicators as they expire.
    tickTimer = setInterval(() => {
      const now = Date.now();
      for (const [id, users] of Object.entries(state.typing)) {
        for (const [u, until] of Object.entries(users)) if (until <= now) delete state.typing[id][u];
      }
    }, 1000);
    window.addEventListener("online", () => socket.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (state.activeId) markRead(state.activeId);
    });
  }

  function stop() {
    clearInterval(pollTimer);
    clearInterval(tickTimer);
    socket.stop();
  }

  return {
    state, start, stop, openThread, loadOlder, createThread, refreshThreads, send, retry,
    discard, typing, typingUsers, unread, timeline, reconnectNow: () => socket.reconnectNow(),
    editMessage, deleteMessage, displayName, stopTurn, refreshPlugins, addMember,
  };
}
