// The workspace plugins' panels (see parley/pluginShell.js): one slot per plugin with a
// browser module or an error to show. Each slot mounts its module into an element of its
// own and contains what the module throws.
import { inject, onBeforeUnmount, ref, watch } from "vue";

const PluginPanel = {
  name: "PluginPanel",
  props: { panel: { type: Object, required: true }, shell: { type: Object, required: true } },
  setup(props) {
    const host = ref(null);
    const mountError = ref("");
    const mounts = ref(0);
    let cleanup = null;
    let generation = 0;

    function unmountCurrent() {
      const done = cleanup;
      cleanup = null;
      if (typeof done === "function") {
        try { done(); } catch (err) {
          console.warn(`Parley plugin ${props.panel.id}: its cleanup threw: ${err && err.message}`);
        }
      }
      if (host.value) host.value.replaceChildren();
    }

    async function mountModule(module) {
      const mine = ++generation;
      unmountCurrent();
      mountError.value = "";
      if (!module || !host.value) return;
      try {
        const result = await module.mount(host.value, props.shell.pluginApi(props.panel));
        if (mine !== generation) { if (typeof result === "function") result(); return; }
        cleanup = typeof result === "function" ? result : null;
        mounts.value += 1;
      } catch (err) {
        if (mine !== generation) return;
        if (host.value) host.value.replaceChildren();
        mountError.value = err && err.message ? `${err.name && err.name !== "Error" ? `${err.name}: ` : ""}${err.message}` : String(err);
        console.warn(`Parley plugin ${props.panel.id} failed to mount: ${mountError.value}`);
      }
    }

    watch([() => props.panel.module, host], ([module]) => mountModule(module), { immediate: true });
    onBeforeUnmount(() => { generation += 1; unmountCurrent(); });
    return { host, mountError, mounts };
  },
  template: `
    <section class="plugin-panel" :data-plugin="panel.id" :data-plugin-url="panel.url"
             :data-loaded-via="panel.via" :data-mounts="mounts" :aria-label="'Plugin ' + panel.id">
      <div ref="host" class="plugin-panel-body"></div>
      <p v-if="panel.error || mountError" class="plugin-error" role="alert" data-testid="plugin-error">
        Plugin <strong>{{ panel.id }}</strong> failed: {{ panel.error || mountError }}</p>
      <p v-if="panel.lastError" class="plugin-warning" data-testid="plugin-last-error">
        Plugin <strong>{{ panel.id }}</strong> ({{ panel.state }}): {{ panel.lastError }}</p>
    </section>`,
};

export default {
  name: "PluginPanels",
  components: { PluginPanel },
  setup() {
    const shell = inject("pluginShell", null);
    return { shell };
  },
  template: `
    <div v-if="shell && shell.state.panels.length" class="plugin-panels" data-testid="plugin-panels">
      <PluginPanel v-for="p in shell.state.panels" :key="p.id" :panel="p" :shell="shell" />
    </div>`,
};
