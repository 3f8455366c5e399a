// An assistant's turns as one browser sees them: the reply text assembled from `turn` frames
// (started, delta, finished; see protocol/turns.py), plain data and functions, no Vue, no I/O.
//
// Deltas travel on a path that may lose or repeat them, and a client that (re)subscribes
// mid-turn gets a `started` frame carrying the text so far and the index of the next delta.
// So the text is kept per turn by index: a delta whose index is already applied is ignored
// (no duplicate), one that skips an index is not applied and asks for a resubscribe, whose
// `started` snapshot fills the hole (no gap). The same rules as protocol.turns.TurnText.
//
//   turns.byThread[thread_id]  the thread's latest turn (one turn at a time per thread)
//   turns.byMessage[message_id] finished turns whose reply is (or will be) a stored message:
//                               the stored message shows their status (stopped / error)
//
// A turn: {thread_id, turn_id, assistant_id, reply_to, message_id, started_at, parts,
//          next_index, status: "streaming"|"complete"|"stopped"|"error", reason, deltas,
//          gap, queued: [message_id of messages posted while it ran]}

export const STREAMING = "streaming";
const STATUSES = new Set(["complete", "stopped", "error"]);

export function createTurns() {
  return { byThread: Object.create(null), byMessage: Object.create(null) };
}

export function turnText(turn) {
  return turn ? turn.parts.join("") : "";
}

export function isStreaming(turn) {
  return Boolean(turn) && turn.status === STREAMING;
}

function newTurn(f, status = STREAMING) {
  return {
    thread_id: f.thread_id,
    turn_id: f.turn_id,
    assistant_id: typeof f.assistant_id === "string" ? f.assistant_id : "",
    reply_to: typeof f.reply_to === "string" ? f.reply_to : "",
    message_id: typeof f.message_id === "string" ? f.message_id : "",
    started_at: typeof f.started_at === "string" ? f.started_at : "",
    parts: [],
    next_index: 0,
    status,
    reason: "",
    deltas: null,
    gap: false,
    queued: [],
    inferred: false, // ended by its stored reply, not by a `finished` frame (which may follow)
  };
}

function validIndex(n) {
  return Number.isInteger(n) && n >= 0;
}

// Apply one `turn` frame. Returns what the caller must do about it:
//   {changed, resubscribe}  changed: the turn's state moved; resubscribe: deltas were missed
//   (ask the server for a fresh `started` snapshot by subscribing again)
export function applyTurnFrame(turns, f) {
  const none = { changed: false, resubscribe: false };
  if (!f || f.type !== "turn" || typeof f.thread_id !== "string" || typeof f.turn_id !== "string") {
    return none;
  }
  const current = turns.byThread[f.thread_id];
  const same = current && current.turn_id === f.turn_id;
  if (f.phase === "started") return applyStarted(turns, current, same, f);
  if (f.phase === "delta") return applyDelta(turns, current, same, f);
  if (f.phase === "finished") return applyFinished(turns, current, same, f);
  return none; // a phase this version does not know (a newer server): nothing to show
}

function applyStarted(turns, current, same, f) {
  const text = typeof f.text === "string" ? f.text : "";
  const next = validIndex(f.next_index) ? f.next_index : 0;
  if (same && current.status !== STREAMING) {
    // A snapshot of a turn we already saw finish (frames crossed on a reconnect): keep the end.
    return { changed: false, resubscribe: false };
  }
  if (same && current.next_index > next) {
    // We hold more than the snapshot (it was taken before deltas we already applied): keep ours.
    current.gap = false;
    return { changed: true, resubscribe: false };
  }
  const turn = same ? current : newTurn(f);
  if (!same) {
    // A new turn answers the messages queued during the last one.
    turns.byThread[f.thread_id] = turn;
  } else {
    for (const key of ["assistant_id", "reply_to", "message_id", "started_at"]) {
      if (typeof f[key] === "string" && f[key]) turn[key] = f[key];
    }
  }
  turn.parts = text ? [text] : [];
  turn.next_index = next;
  turn.gap = false;
  return { changed: true, resubscribe: false };
}

function applyDelta(turns, current, same, f) {
  if (!validIndex(f.index) || typeof f.text !== "string") return { changed: false, resubscribe: false };
  let turn = current;
  if (!same) {
    if (current && current.status === STREAMING) {
      // Deltas of a newer turn while we still think the old one runs: its `finished` was lost.
      current.status = "complete";
    }
    // Its `started` was lost (or we joined between frames): begin from nothing at index 0.
    turn = newTurn(f);
    turns.byThread[f.thread_id] = turn;
  }
  if (turn.status !== STREAMING) return { changed: false, resubscribe: false };
  if (f.index < turn.next_index) return { changed: false, resubscribe: false }; // already applied
  if (f.index > turn.next_index) {
    // A hole: showing this delta would garble the text. A fresh snapshot fills it; ask once.
    const ask = !turn.gap;
    turn.gap = true;
    return { changed: ask, resubscribe: ask };
  }
  turn.parts.push(f.text);
  turn.next_index += 1;
  return { changed: true, resubscribe: false };
}

function applyFinished(turns, current, same, f) {
  if (!STATUSES.has(f.status)) return { changed: false, resubscribe: false };
  let turn = current;
  if (!same) {
    // Finished without us seeing it start (joined after it ended, or frames lost): remember the
    // outcome so that the stored reply can show it; the text comes with the stored message.
    turn = newTurn(f, f.status);
    turns.byThread[f.thread_id] = turn;
  }
  if (turn.status !== STREAMING && same && !turn.inferred) return { changed: false, resubscribe: false };
  turn.inferred = false;
  turn.status = f.status;
  turn.reason = typeof f.reason === "string" ? f.reason : "";
  turn.deltas = validIndex(f.deltas) ? f.deltas : null;
  if (typeof f.message_id === "string" && f.message_id) turn.message_id = f.message_id;
  turn.gap = false;
  if (turn.message_id) turns.byMessage[turn.message_id] = turn;
  return { changed: true, resubscribe: false };
}

// The streamed text is complete when every delta the server counted arrived; otherwise the
// stored message (which always arrives, through the durable path) has the whole reply.
export function missedTail(turn) {
  return turn.deltas !== null && turn.next_index < turn.deltas;
}

// The reply was stored: a message whose id is the turn's (or that names the turn) arrived.
// A turn still marked streaming then ended while we were away (its `finished` was lost).
export function onStoredMessage(turns, m) {
  const turn = turns.byThread[m.thread_id];
  if (!turn) return false;
  const mine = (turn.message_id && m.message_id === turn.message_id)
    || (typeof m.turn_id === "string" && m.turn_id === turn.turn_id);
  if (!mine) return false;
  if (!turn.message_id) turn.message_id = m.message_id;
  if (turn.status === STREAMING) {
    // The reply may be stored before this page gets `finished` (they travel different
    // paths): the frame, when it comes, still says how the turn ended.
    turn.status = storedStatus(m) || "complete";
    turn.reason = storedReason(m);
    turn.inferred = true;
  }
  turns.byMessage[m.message_id] = turn;
  return true;
}

// A message posted by someone else than the assistant while its turn runs is answered in the
// next turn: remember it so the page can say so.
export function noteQueued(turns, m) {
  const turn = turns.byThread[m.thread_id];
  if (!isStreaming(turn) || m.sender_id === turn.assistant_id || m.message_id === turn.reply_to) {
    return false;
  }
  if (m.message_id === turn.message_id || turn.queued.includes(m.message_id)) return false;
  turn.queued.push(m.message_id);
  return true;
}

// Whether a message waits for the next turn (posted during the thread's running turn).
export function isQueued(turns, threadId, messageId) {
  const turn = turns.byThread[threadId];
  return isStreaming(turn) && turn.queued.includes(messageId);
}

// The turn outcome a stored message carries, when the server stores one with the reply.
function storedStatus(m) {
  const s = m.turn_status ?? m.status;
  return STATUSES.has(s) ? s : "";
}

function storedReason(m) {
  const r = m.turn_reason ?? m.reason;
  return typeof r === "string" ? r : "";
}

// What to show under a stored message: the status of the turn that produced it, if it did
// not complete ("stopped", "error" + reason), from this page's frames or from the message.
export function messageOutcome(turns, m) {
  const turn = turns.byMessage[m.message_id];
  if (turn && turn.status !== STREAMING && turn.status !== "complete") {
    return { status: turn.status, reason: turn.reason };
  }
  const status = storedStatus(m);
  if (status && status !== "complete") return { status, reason: storedReason(m) };
  return null;
}

// Connection lost: frames may be missed until the resubscribe's snapshot; a streaming turn
// is marked so (the page shows it as catching up, not as stuck).
export function markDisconnected(turns) {
  for (const turn of Object.values(turns.byThread)) if (turn.status === STREAMING) turn.gap = true;
}
