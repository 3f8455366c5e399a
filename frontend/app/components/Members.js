// A thread's members with their presence; assistants and bots (plugin members, "plugin:<id>")
// are marked as such, and any member can add a person, an assistant or a bot to the thread.
// The assistants and bots on offer come from GET /api/plugins (each plugin's bot_user_id).
import { computed, onMounted, ref } from "vue";
import { answeringMembers, memberKind, memberName } from "parley/members.js";

export default {
  name: "Members",
  props: {
    chat: { type: Object, required: true },
    thread: { type: Object, required: true },
  },
  setup(props) {
    const s = props.chat.state;
    const adding = ref(false);
    const who = ref("");
    const busy = ref(false);
    const addError = ref("");
    const members = computed(() => props.thread.members || []);
    const answering = computed(() => answeringMembers(s.turns.byThread[props.thread.thread_id],
      (s.timelines[props.thread.thread_id] || { list: [] }).list));
    const kindOf = (m) => memberKind(m, s.plugins, answering.value);
    // Plugins not in the thread yet, for the picker.
    const offered = computed(() => s.plugins.filter((p) => p.bot_user_id && !members.value.includes(p.bot_user_id)));
    const presenceOf = (m) => (m === s.me ? (s.connection === "online" ? "online" : "offline")
                                          : s.presence[m] || "unknown");

    function toggle() {
      adding.value = !adding.value;
      addError.value = "";
      if (adding.value) props.chat.refreshPlugins();
    }
    async function add() {
      const id = who.value.trim();
      if (!id) { addError.value = "Name a person, or pick an assistant."; return; }
      busy.value = true;
      addError.value = "";
      try {
        await props.chat.addMember(props.thread.thread_id, id);
        who.value = "";
        adding.value = false;
      } catch (err) {
        addError.value = err.message || String(err);
      } finally {
        busy.value = false;
      }
    }
    onMounted(() => { if (!s.plugins.length) props.chat.refreshPlugins(); });
    return { s, adding, who, busy, addError, members, offered, kindOf, presenceOf, memberName, toggle, add };
  },
  template: `
    <div class="members-bar">
      <ul class="members" aria-label="Members of this thread">
        <li v-for="m in members" :key="m" :data-presence="presenceOf(m)" :data-kind="kindOf(m)"
            :data-member="m" data-testid="member">
          <span class="dot" aria-hidden="true"></span>{{ chat.displayName(m) }}
          <span v-if="kindOf(m) !== 'person'" class="member-kind" data-testid="member-kind">{{ kindOf(m) }}</span>
          <span class="sr-only">{{ presenceOf(m) === 'online' ? ' (online)' : '' }}</span>
        </li>
      </ul>
      <button type="button" class="secondary add-member-toggle" aria-controls="add-member"
              :aria-expanded="adding ? 'true' : 'false'" @click="toggle">Add member</button>
      <form v-if="adding" id="add-member" class="add-member" aria-label="Add a member"
            @submit.prevent="add" @keydown.esc="adding = false">
        <label for="add-member-id">Person or assistant</label>
        <input id="add-member-id" v-model="who" list="add-member-options" autocomplete="off"
               placeholder="bob, or plugin:assistant" aria-describedby="add-member-help">
        <datalist id="add-member-options">
          <option v-for="p in offered" :key="p.bot_user_id" :value="p.bot_user_id">{{ p.id }}{{ p.description ? ' — ' + p.description : '' }}</option>
        </datalist>
        <small id="add-member-help">A user name, or an assistant / bot from the list.</small>
        <ul v-if="offered.length" class="add-member-plugins" aria-label="Assistants and bots">
          <li v-for="p in offered" :key="p.bot_user_id">
            <button type="button" class="link" :data-bot="p.bot_user_id" @click="who = p.bot_user_id">
              {{ p.id }}</button>
          </li>
        </ul>
        <p v-if="s.pluginsError" class="error">{{ s.pluginsError }}</p>
        <div class="row">
          <button type="submit" :disabled="busy">{{ busy ? "Adding…" : "Add" }}</button>
          <button type="button" class="secondary" @click="adding = false">Cancel</button>
        </div>
        <p v-if="addError" class="error" role="alert">{{ addError }}</p>
      </form>
    </div>`,
};
