// The shell: login screen, or top bar + sidebar + open thread once signed in.
import { computed, provide, reactive, ref, shallowRef, onBeforeUnmount } from "vue";
import { createApi } from "parley/api.js";
import { createChat } from "parley/chat.js";
import { createPluginShell } from "parley/pluginShell.js";
import { displayName, userId } from "parley/auth.js";
import TopBar from "parley/components/TopBar.js";
import Sidebar from "parley/components/Sidebar.js";
import ChatWindow from "parley/components/ChatWindow.js";

export default {
  name: "App",
  components: { TopBar, Sidebar, ChatWindow },
  props: {
    config: { type: Object, required: true },
    auth: { type: Object, required: true },
    initialUser: { type: Object, default: null },
    loginError: { type: String, default: "" },
    uiModules: { type: Object, required: true }, // shallowRef filled when plugins load
  },
  setup(props) {
    const user = shallowRef(props.initialUser);
    const error = ref(props.loginError);
    const sidebarOpen = ref(false);
    const signingIn = ref(false);
    let chat = null;
    let plugins = null;

    if (user.value) {
      const api = createApi(props.config, () => props.auth.token());
      chat = createChat({ api, config: props.config, auth: props.auth, me: userId(user.value) });
      chat.start();
      plugins = createPluginShell({ api, context: pluginContext() });
      plugins.start();
      window.parleyDebug = { chat, auth: props.auth, plugins };
    }
    // What a plugin module may read of the shell (read-only, live).
    function pluginContext() {
      return Object.freeze({
        get userId() { return userId(user.value); },
        get activeThreadId() { return chat ? chat.state.activeId : null; },
      });
    }
    let leaving = false;
    props.auth.onChange((u) => {
      // Signed out in another way (session removed): start over. Our own logout redirects.
      if (!u && user.value && !leaving) window.location.assign("/");
      if (u) user.value = u;
    });
    function logout() {
      leaving = true;
      if (chat) chat.stop();
      if (plugins) plugins.stop();
      props.auth.logout();
    }
    onBeforeUnmount(() => { if (chat) chat.stop(); if (plugins) plugins.stop(); });

    const userName = computed(() => displayName(user.value));
    const active = computed(() => chat && chat.state.threads.find((t) => t.thread_id === chat.state.activeId));
    const context = reactive({
      userName,
      connection: computed(() => (chat ? chat.state.connection : "offline")),
      activeThreadId: computed(() => (chat ? chat.state.activeId : null)),
      activeTitle: computed(() => (active.value ? active.value.title : "")),
    });
    provide("uiModules", props.uiModules);
    provide("uiContext", context);
    provide("pluginShell", plugins);

    async function login() {
      signingIn.value = true;
      error.value = "";
      try { await props.auth.login(); }
      catch (err) { error.value = `Could not reach the login provider: ${err.message}`; signingIn.value = false; }
    }
    async function select(id) {
      sidebarOpen.value = false;
      error.value = "";
      try { await chat.openThread(id); }
      catch (err) { error.value = `Could not open the thread: ${err.message}`; }
    }
    async function create({ title, members, resolve, reject }) {
      try {
        const id = await chat.createThread(title, members);
        resolve(id);
        await select(id);
      } catch (err) { reject(err); }
    }
    return { user, error, sidebarOpen, signingIn, chat, userName, active, login, logout, select, create };
  },
  template: `
    <main v-if="!user" class="login" aria-labelledby="login-title">
      <h1 id="login-title">Parley</h1>
      <p>Sign in with your organisation's account to chat.</p>
      <button type="button" class="primary" :disabled="signingIn" @click="login">
        {{ signingIn ? "Opening the login page…" : "Sign in" }}</button>
      <p v-if="error" class="error" role="alert">{{ error }}</p>
    </main>
    <div v-else class="shell" :class="{ 'sidebar-open': sidebarOpen }">
      <TopBar :user-name="userName" :connection="chat.state.connection" :retry-in-ms="chat.state.retryInMs"
              :sidebar-open="sidebarOpen" @logout="logout" @toggle-sidebar="sidebarOpen = !sidebarOpen"
              @reconnect="chat.reconnectNow()" />
      <p v-if="error || chat.state.banner" class="banner error" role="alert">{{ error || chat.state.banner }}</p>
      <div class="layout">
        <Sidebar :threads="chat.state.threads" :active-id="chat.state.activeId" :unread="chat.unread"
                 :error="chat.state.threadsError" :open="sidebarOpen"
                 @select="select" @create="create" @refresh="chat.refreshThreads()" />
        <ChatWindow v-if="active" :chat="chat" :thread="active" />
        <section v-else class="chat empty" aria-label="No thread open">
          <p class="hint">Pick a thread on the left, or start a new one.</p>
        </section>
      </div>
    </div>`,
};
