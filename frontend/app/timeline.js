// One thread's messages: deduped by message_id, ordered by seq, with the contiguous
// high-water mark that subscriptions (since_seq) and gap recovery (after_seq) start from.
// Plain data and functions, no Vue and no I/O, so the rules are easy to check.
//
//   floor  every seq <= floor is "before what we track" (older pages come via before_seq)
//   high   largest seq such that floor+1 .. high are all present
//   maxSeen largest seq present; maxSeen > high means a gap to fill with after_seq=high

export function createTimeline(floor = 0) {
  return {
    byId: Object.create(null),
    bySeq: Object.create(null),
    list: [],
    floor,
    high: floor,
    maxSeen: floor,
    low: null,
    hasOlder: floor > 0,
    loaded: false,
  };
}

function advance(t) {
  while (t.bySeq[t.high + 1]) t.high += 1;
}

// Index at which seq belongs in the sorted list (after any equal seq).
function position(list, seq) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function isChange(c) {
  return c && (c.type === "message_edited" || c.type === "message_deleted")
    && typeof c.message_id === "string" && Number.isInteger(c.seq) && c.seq > 0;
}

// Edits and deletes have seqs of their own: they fill their place in the seq line (so gap
// recovery sees no hole) and change the message they name, when it is here. A message that
// arrives later (an older page) already carries its current text from the server.
export function applyChanges(t, changes) {
  const applied = [];
  for (const c of changes) {
    if (!isChange(c) || t.bySeq[c.seq]) continue;
    t.bySeq[c.seq] = { change: true, seq: c.seq, message_id: c.message_id };
    if (c.seq > t.maxSeen) t.maxSeen = c.seq;
    const m = t.byId[c.message_id];
    if (m && c.type === "message_edited" && !m.deleted_at) {
      m.text = c.text;
      m.edited_at = c.edited_at;
    } else if (m && c.type === "message_deleted") {
      m.text = "";
      m.deleted_at = c.deleted_at;
    }
    applied.push(c);
  }
  advance(t);
  return applied;
}

export function isMessage(m) {
  return m && typeof m.message_id === "string" && Number.isInteger(m.seq) && m.seq > 0;
}

// Insert messages; returns those that were new (a redelivery or a replay adds nothing).
export function insertMessages(t, messages) {
  const added = [];
  for (const m of messages) {
    if (!isMessage(m) || t.byId[m.message_id] || t.bySeq[m.seq]) continue;
    const msg = { ...m };
    t.byId[m.message_id] = msg;
    t.bySeq[m.seq] = msg;
    const at = position(t.list, m.seq);
    t.list.splice(at, 0, msg);
    if (m.seq > t.maxSeen) t.maxSeen = m.seq;
    if (t.low === null || m.seq < t.low) t.low = m.seq;
    added.push(msg);
  }
  advance(t);
  if (t.low !== null && t.low <= 1) t.hasOlder = false;
  return added;
}

// The latest page arrived: track from just below it, so older history is paged, not replayed.
export function startAt(t, floor) {
  if (floor > t.floor && floor > t.high) {
    t.floor = floor;
    t.high = floor;
  }
  t.hasOlder = t.hasOlder || floor > 0;
  advance(t);
}

export function hasGap(t, lastSeq = 0) {
  return t.maxSeen > t.high || lastSeq > t.high;
}

export function unreadCount(t, lastRead, me) {
  let n = 0;
  for (let i = t.list.length - 1; i >= 0 && t.list[i].seq > lastRead; i -= 1) {
    if (t.list[i].sender_id !== me) n += 1;
  }
  return n;
}
