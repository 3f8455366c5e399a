// The open thread: history with scroll-back paging, live messages, pending sends, typing and
// presence. New messages keep the view at the bottom only if the reader was already there.
import { computed, nextTick, ref, watch, onMounted } from "vue";
import Composer from "parley/components/Composer.js";
import PluginSlot from "parley/components/PluginSlot.js";

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export default {
  name: "ChatWindow",
  components: { Composer, PluginSlot },
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
    const members = computed(() => props.thread.members || []);
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
    watch(() => [t.value.list.length, pending.value.length, t.value.list.at(-1)?.seq],
      async () => { const keep = stickToBottom; await nextTick(); if (keep) toBottom(); });
    watch(id, async () => { stickToBottom = true; await nextTick(); toBottom(); });
    onMounted(toBottom);

    // The server tells us about others; we are online exactly when our own link is.
    const presenceOf = (m) => (m === s.me ? (s.connection === "online" ? "online" : "offline")
                                          : s.presence[m] || "unknown");
    const fmt = (iso) => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? "" : TIME.format(d); };
    const statusText = (p) => ({ waiting: "Waiting for connection…", sending: "Sending…",
                                 sent: "Sent", failed: "Not sent" })[p.status] || p.status;
    // The sender edits in place: a plain prompt keeps this shell small (the text is checked
    // by the server like a new message's).
    function edit(m) {
      const text = window.prompt("Edit message", m.text);
      if (text !== null && text.trim() && text !== m.text) props.chat.editMessage(id.value, m.message_id, text);
    }
    return { scroller, olderError, s, t, pending, members, typingText, older, onScroll, fmt, statusText, presenceOf, edit };
  },
  template: `
    <section class="chat" aria-labelledby="chat-title">
      <header class="chat-head">
        <h2 id="chat-title">{{ thread.title || "Untitled" }}</h2>
        <ul class="members" aria-label="People in this thread">
          <li v-for="m in members" :key="m" :data-presence="presenceOf(m)">
            <span class="dot" aria-hidden="true"></span>{{ m }}<span class="sr-only">{{ presenceOf(m) === 'online' ? ' (online)' : '' }}</span>
          </li>
        </ul>
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
              :data-seq="m.seq" :data-message-id="m.message_id" data-testid="message">
            <span class="sender">{{ m.sender_id }}</span>
            <time :datetime="m.created_at">{{ fmt(m.created_at) }}</time>
            <p v-if="m.deleted_at" class="text deleted" data-testid="deleted">Message deleted</p>
            <p v-else class="text">{{ m.text }}</p>
            <span v-if="m.edited_at && !m.deleted_at" class="edited" data-testid="edited"
                  :title="'Edited ' + fmt(m.edited_at)">(edited)</span>
            <span v-if="!m.deleted_at && (m.sender_id === s.me || thread.created_by === s.me)" class="actions">
              <button v-if="m.sender_id === s.me" type="button" class="secondary"
                      :aria-label="'Edit message ' + m.seq" @click="edit(m)">Edit</button>
              <button type="button" class="secondary" :aria-label="'Delete message ' + m.seq"
                      @click="chat.deleteMessage(thread.thread_id, m.message_id)">Delete</button>
            </span>
          </li>
          <li v-for="p in pending" :key="p.clientMsgId" class="message mine pending" :data-status="p.status"
              data-testid="pending">
            <span class="sender">{{ s.me }}</span>
            <p class="text">{{ p.text }}</p>
            <p class="status">{{ statusText(p) }}</p>
            <template v-if="p.status === 'failed'">
              <p class="error" role="alert">{{ p.error }}</p>
              <button type="button" @click="chat.retry(p)">Retry</button>
              <button type="button" class="secondary" @click="chat.discard(p)">Discard</button>
            </template>
          </li>
        </ol>
      </div>
      <p class="typing" aria-live="polite" data-testid="typing">{{ typingText }}</p>
      <Composer :key="thread.thread_id" :title="thread.title || 'Untitled'"
                @send="(text) => chat.send(thread.thread_id, text)"
                @typing="chat.typing(thread.thread_id)" />
    </section>`,
};
