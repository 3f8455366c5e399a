// Sidebar: the user's threads with unread counts, and the form to start a new thread.
import { ref, nextTick } from "vue";
import PluginSlot from "parley/components/PluginSlot.js";
import PluginPanels from "parley/components/PluginPanels.js";

export default {
  name: "Sidebar",
  components: { PluginSlot, PluginPanels },
  props: {
    threads: { type: Array, required: true },
    activeId: { type: String, default: null },
    unread: { type: Function, required: true },
    error: { type: String, default: "" },
    open: { type: Boolean, default: false },
  },
  emits: ["select", "create", "refresh"],
  setup(props, { emit }) {
    const showNew = ref(false);
    const title = ref("");
    const members = ref("");
    const busy = ref(false);
    const createError = ref("");
    const titleInput = ref(null);

    async function toggleNew() {
      showNew.value = !showNew.value;
      createError.value = "";
      if (showNew.value) { await nextTick(); titleInput.value && titleInput.value.focus(); }
    }
    function cancel() { showNew.value = false; createError.value = ""; }
    async function create() {
      if (!title.value.trim()) { createError.value = "Give the thread a title."; return; }
      busy.value = true;
      createError.value = "";
      const list = members.value.split(/[,\s]+/).map((m) => m.trim()).filter(Boolean);
      try {
        await new Promise((resolve, reject) => emit("create", { title: title.value.trim(), members: list, resolve, reject }));
        title.value = "";
        members.value = "";
        showNew.value = false;
      } catch (err) {
        createError.value = err.message || String(err);
      } finally {
        busy.value = false;
      }
    }
    function label(t) {
      const n = props.unread(t.thread_id);
      return n ? `${t.title || "Untitled"}, ${n} unread` : (t.title || "Untitled");
    }
    return { showNew, title, members, busy, createError, titleInput, toggleNew, cancel, create, label };
  },
  template: `
    <nav id="sidebar" class="sidebar" :class="{ open }" aria-label="Threads">
      <div class="sidebar-head">
        <h2>Threads</h2>
        <button type="button" class="icon" aria-label="Refresh threads" @click="$emit('refresh')">↻</button>
      </div>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
      <p v-if="!threads.length" class="hint">No threads yet.</p>
      <ul class="thread-list">
        <li v-for="t in threads" :key="t.thread_id">
          <button type="button" class="thread" :data-thread-id="t.thread_id"
                  :aria-current="t.thread_id === activeId ? 'page' : null"
                  :aria-label="label(t)" @click="$emit('select', t.thread_id)">
            <span class="thread-title">{{ t.title || "Untitled" }}</span>
            <span v-if="t.archived" class="archived-mark" data-testid="archived-mark"
                  title="Archived">archived</span>
            <span v-if="unread(t.thread_id)" class="badge" aria-hidden="true"
                  data-testid="unread">{{ unread(t.thread_id) }}</span>
          </button>
        </li>
      </ul>
      <button type="button" class="new-thread-toggle" aria-controls="new-thread"
              :aria-expanded="showNew ? 'true' : 'false'" @click="toggleNew">New thread</button>
      <form v-if="showNew" id="new-thread" class="new-thread" aria-label="New thread"
            @submit.prevent="create" @keydown.esc="cancel">
        <label for="new-thread-title">Title</label>
        <input id="new-thread-title" ref="titleInput" v-model="title" autocomplete="off" required>
        <label for="new-thread-members">Members</label>
        <input id="new-thread-members" v-model="members" autocomplete="off"
               aria-describedby="new-thread-members-help" placeholder="bob, carol">
        <small id="new-thread-members-help">User names, separated by commas. You are added.</small>
        <div class="row">
          <button type="submit" :disabled="busy">{{ busy ? "Creating…" : "Create" }}</button>
          <button type="button" class="secondary" @click="cancel">Cancel</button>
        </div>
        <p v-if="createError" class="error" role="alert">{{ createError }}</p>
      </form>
      <PluginSlot name="sidebar" />
      <PluginPanels />
    </nav>`,
};
