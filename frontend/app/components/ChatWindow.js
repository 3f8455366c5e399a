// The open thread: history with scroll-back paging, live messages, pending sends, typing and
// presence, and an assistant's reply as it streams (with Stop). New messages keep the view at
// the bottom only if the reader was already there.
//
// Every message text, people's and assistants', streaming or stored, is rendered by the one
// Markdown renderer (parley/markdown.js: raw HTML off), so a reply looks the same while it
// grows, once stored, and after a reload. Its output is the only v-html here.
import { computed, nextTick, ref, watch, onMounted, onBeforeUnmount } from "vue";
import Composer from "parley/components/Composer.js";
import Members from "parley/components/Members.js";
import PluginSlot from "parley/components/PluginSlot.js";
import { renderMarkdown } from "parley/markdown.js";
import { answeringMembers, memberKind, memberName } from "parley/members.js";
import { isQueued, isStreaming, messageOutcome, missedTail, turnText } from "parley/turns.js";

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const SHOW_EVERY_MS = 100;

export default {
  name: "ChatWindow",
  components: { Composer, Members, PluginSlot },
  props: {
    chat: { type: Object, required: true },
    thread: { type: Object, required: true },
  },
  setup(props) {
    const scroller = ref(null);
    const olderError = ref("");
    const s = props.chat.state;
    const id = computed(() => props.thread.thread_id);
    const t = computed(() => s.timelines[id.value] || { list: [], hasOlder: false, loaded: false });
    const pending = computed(() => s.pending[id.value] || []);
    const turn = computed(() => s.turns.byThread[id.value] || null);
    const streaming = computed(() => isStreaming(turn.value));
    // The turn's own bubble shows while it streams, and after it unless its stored reply is
    // here (then the message is the reply, exactly as history shows it).
    const turnShown = computed(() => {
      const u = turn.value;
      if (!u) return false;
      if (isStreaming(u)) return true;
      return !(u.message_id && t.value.byId && t.value.byId[u.message_id]) && (turnText(u) || u.status !== "complete");
    });
    // The streaming text is drawn at most every SHOW_EVERY_MS, not per delta: a delta is a
    // token or two, and re-rendering the thread for each kept a slow page (a phone, or a
    // browser on a loaded machine) so busy that it fell behind the stream.
    const shownText = ref(turnText(turn.value));
    let showTimer = null;
    watch(() => turnText(turn.value), (text) => {
      if (showTimer !== null) return;
      showTimer = setTimeout(() => { showTimer = null; shownText.value = turnText(turn.value); }, SHOW_EVERY_MS);
      if (!text || !isStreaming(turn.value)) { clearTimeout(showTimer); showTimer = null; shownText.value = text; }
    });
    watch(() => turn.value && turn.value.status, () => { shownText.value = turnText(turn.value); });
    onBeforeUnmount(() => clearTimeout(showTimer));
    const turnHtml = computed(() => renderMarkdown(shownText.value));
    const stopping = computed(() => Boolean(turn.value && s.stopping[turn.value.turn_id]));
    const answering = computed(() => answeringMembers(turn.value, t.value.list));
    const kindOf = (m) => memberKind(m, s.plugins, answering.value);
    const outcomeOf = (m) => messageOutcome(s.turns, m);
    const queued = (m) => isQueued(s.turns, id.value, m.message_id);
    const outcomeText = (o) => (o.status === "stopped" ? "Stopped" : "Error")
      + (o.reason ? `: ${o.reason}` : "");
    const typers = computed(() => Object.keys(s.typing[id.value] || {}).filter((u) => u !== s.me));
    const typingText = computed(() => {
      const u = typers.value;
      if (!u.length) return "";
      return u.length === 1 ? `${u[0]} is typing…` : `${u.slice(0, -1).join(", ")} and ${u.at(-1)} are typing…`;
    });
    let stickToBottom = true;

    function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 40; }
    function toBottom() { const el = scroller.value; if (el) el.scrollTop = el.scrollHeight; }

    async function older() {
      const el = scroller.value;
      const before = el ? el.scrollHeight - el.scrollTop : 0;
      olderError.value = "";
      try {
        await props.chat.loadOlder(id.value);
      } catch (err) {
        olderError.value = `Could not load older messages: ${err.message}`;
        return;
      }
      await nextTick();
      // Keep the message the reader was looking at in place while older ones appear above.
      if (el) el.scrollTop = el.scrollHeight - before;
    }
    function onScroll() {
      const el = scroller.value;
      if (!el) return;
      stickToBottom = atBottom(el);
      if (el.scrollTop < 30 && t.value.hasOlder && !s.loadingOlder) older();
    }
    watch(() => [t.value.list.length, pending.value.length, t.value.list.at(-1)?.seq,
                  shownText.value.length, turnShown.value],
      async () => { const keep = stickToBottom; await nextTick(); if (keep) toBottom(); });
    watch(id, async () => { stickToBottom = true; await nextTick(); toBottom(); });
    onMounted(toBottom);

    const fmt = (iso) => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? "" : TIME.format(d); };
    const statusText = (p) => ({ waiting: "Waiting for connection…", sending: "Sending…",
                                 sent: "Sent", failed: "Not sent" })[p.status] || p.status;
    // The sender edits in place: a plain prompt keeps this shell small (the text is checked
    // by the server like a new message's).
    function edit(m) {
      const text = window.prompt("Edit message", m.text);
      if (text !== null && text.trim() && text !== m.text) props.chat.editMessage(id.value, m.message_id, text);
    }
    return {
      scroller, olderError, s, t, pending, typingText, older, onScroll, fmt, statusText, edit,
      turn, streaming, turnShown, turnHtml, stopping, kindOf, outcomeOf, queued, outcomeText,
      md: renderMarkdown, memberName, missedTail,
    };
  },
  template: `
    <section class="chat" aria-labelledby="chat-title">
      <header class="chat-head">
        <h2 id="chat-title">{{ thread.title || "Untitled" }}</h2>
        <p v-if="thread.archived" class="archived" data-testid="archived">Archived: read-only</p>
        <Members :chat="chat" :thread="thread" />
        <PluginSlot name="chat-header" />
      </header>
      <div ref="scroller" class="messages" role="log" tabindex="0" aria-live="polite"
           :aria-label="'Messages in ' + (thread.title || 'Untitled')" @scroll.passive="onScroll">
        <button v-if="t.hasOlder" type="button" class="older" :disabled="s.loadingOlder" @click="older">
          {{ s.loadingOlder ? "Loading…" : "Load older messages" }}</button>
        <p v-if="olderError" class="error" role="alert">{{ olderError }}</p>
        <p v-if="t.loaded && !t.list.length && !pending.length" class="hint">No messages yet. Say hello!</p>
        <ol class="message-list">
          <li v-for="m in t.list" :key="m.message_id" class="message" :class="{ mine: m.sender_id === s.me }"
              :data-seq="m.seq" :data-message-id="m.message_id" :data-sender="m.sender_id"
              :data-turn-id="m.turn_id || null" data-testid="message">
            <span class="sender" :title="m.sender_id">{{ chat.displayName(m.sender_id) }}</span>
            <span v-if="kindOf(m.sender_id) !== 'person'" class="member-kind">{{ kindOf(m.sender_id) }}</span>
            <time :datetime="m.created_at">{{ fmt(m.created_at) }}</time>
            <p v-if="m.deleted_at" class="text deleted" data-testid="deleted">Message deleted</p>
            <div v-else class="text md" v-html="md(m.text)"></div>
            <p v-if="outcomeOf(m)" class="turn-outcome" data-testid="turn-outcome"
               :data-status="outcomeOf(m).status">{{ outcomeText(outcomeOf(m)) }}</p>
            <p v-if="queued(m)" class="queued-note" data-testid="queued">
              Sent while the assistant was answering: it answers this in its next turn.</p>
            <span v-if="m.edited_at && !m.deleted_at" class="edited" data-testid="edited"
                  :title="'Edited ' + fmt(m.edited_at)">(edited)</span>
            <span v-if="!m.deleted_at && (m.sender_id === s.me || thread.created_by === s.me)" class="actions">
              <button v-if="m.sender_id === s.me && !thread.archived" type="button" class="secondary"
                      :aria-label="'Edit message ' + m.seq" @click="edit(m)">Edit</button>
              <button type="button" class="secondary" :aria-label="'Delete message ' + m.seq"
                      @click="chat.deleteMessage(thread.thread_id, m.message_id)">Delete</button>
            </span>
          </li>
          <li v-for="p in pending" :key="p.clientMsgId" class="message mine pending" :data-status="p.status"
              data-testid="pending">
            <span class="sender">{{ chat.displayName(s.me) }}</span>
            <div class="text md" v-html="md(p.text)"></div>
            <p class="status">{{ statusText(p) }}</p>
            <template v-if="p.status === 'failed'">
              <p class="error" role="alert">{{ p.error }}</p>
              <button type="button" @click="chat.retry(p)">Retry</button>
              <button type="button" class="secondary" @click="chat.discard(p)">Discard</button>
            </template>
          </li>
          <li v-if="turnShown" class="message turn" :class="{ streaming }" data-testid="turn"
              :data-turn-id="turn.turn_id" :data-status="turn.status" :aria-busy="streaming ? 'true' : 'false'">
            <span class="sender">{{ memberName(turn.assistant_id) || "assistant" }}</span>
            <span class="member-kind">assistant</span>
            <time v-if="turn.started_at" :datetime="turn.started_at">{{ fmt(turn.started_at) }}</time>
            <div class="text md" v-html="turnHtml"></div>
            <p v-if="streaming && turn.gap" class="status">Catching up…</p>
            <p v-else-if="!streaming && missedTail(turn)" class="status">Loading the rest of the reply…</p>
            <p v-if="!streaming && turn.status !== 'complete'" class="turn-outcome" data-testid="turn-outcome"
               :data-status="turn.status">{{ outcomeText(turn) }}</p>
          </li>
        </ol>
      </div>
      <div v-if="streaming" class="answering" role="status" data-testid="answering">
        <span class="spinner" aria-hidden="true"></span>
        <span>{{ memberName(turn.assistant_id) || "The assistant" }} is answering…
          Messages sent now are answered in the next turn.</span>
        <button type="button" class="stop" data-testid="stop-turn" :disabled="stopping"
                @click="chat.stopTurn(thread.thread_id, turn.turn_id)">{{ stopping ? "Stopping…" : "Stop" }}</button>
      </div>
      <p class="typing" aria-live="polite" data-testid="typing">{{ typingText }}</p>
      <p v-if="thread.archived" class="hint" data-testid="archived-composer">
        This thread is archived; no new messages.</p>
      <Composer v-else :key="thread.thread_id" :title="thread.title || 'Untitled'"
                @send="(text) => chat.send(thread.thread_id, text)"
                @typing="chat.typing(thread.thread_id)" />
    </section>`,
};
