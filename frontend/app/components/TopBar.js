// Top bar: who is signed in, the live connection state, the sidebar toggle for narrow screens.
import { computed } from "vue";
import PluginSlot from "parley/components/PluginSlot.js";

export default {
  name: "TopBar",
  components: { PluginSlot },
  props: {
    userName: { type: String, required: true },
    connection: { type: String, required: true },
    retryInMs: { type: Number, default: 0 },
    sidebarOpen: { type: Boolean, default: false },
  },
  emits: ["logout", "toggle-sidebar", "reconnect"],
  setup(props) {
    const label = computed(() => {
      if (props.connection === "online") return "Connected";
      if (props.connection === "connecting") return "Connecting…";
      const s = Math.max(1, Math.round(props.retryInMs / 1000));
      return props.retryInMs ? `Offline, reconnecting in ${s} s` : "Offline";
    });
    return { label };
  },
  template: `
    <header class="topbar">
      <button type="button" class="sidebar-toggle" aria-controls="sidebar"
              :aria-expanded="sidebarOpen ? 'true' : 'false'" @click="$emit('toggle-sidebar')">
        Threads
      </button>
      <h1 class="brand">Parley</h1>
      <PluginSlot name="topbar" />
      <p class="connection" role="status" data-testid="connection" :data-state="connection">
        <span class="dot" aria-hidden="true"></span>{{ label }}
        <button v-if="connection === 'offline' && retryInMs" type="button" class="link"
                @click="$emit('reconnect')">Reconnect now</button>
      </p>
      <p class="user"><span class="sr-only">Signed in as </span>
        <strong data-testid="current-user">{{ userName }}</strong></p>
      <button type="button" @click="$emit('logout')">Log out</button>
    </header>`,
};
