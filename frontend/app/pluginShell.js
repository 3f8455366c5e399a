// Browser modules of the workspace plugins, kept current while the page stays open.
//
// GET /api/plugins (answered with Cache-Control: no-store, never cached) names each plugin's
// module by an immutable versioned URL (/plugins/<id>/<content digest>/ui.js). Each version
// gets a bare name of its own, "parley-plugin/<id>/<digest>/ui.js", added to the page in a
// new import map and imported by that name, so plugin modules resolve through the import map
// like the app's own and share its single Vue. A mapped name can never be remapped
// (whatwg/html#10528), hence one name per version: a new version is a new name, a new URL.
// The list is polled (every 2 s, paused while the tab is hidden); when a plugin's URL
// changes, its panel unmounts the old module and mounts the new one, without a reload.
//
// Module contract (the `ui` template of `parley plugin new` follows it):
//   export function mount(element, plugin) -> optional cleanup function (or a promise of one)
//   plugin: {id, version, url, context, fetch(path, {method, body}) -> JSON of its route}
// A module that throws on import or in mount is contained: its panel shows an error box
// naming the plugin and the error; every other panel and the chat go on.
import { markRaw, reactive } from "vue";

export const PLUGIN_SPECIFIER = "parley-plugin/";
const DEFAULT_POLL_MS = 2000;

// One entry per plugin id: GET /api/plugins has one row per (plugin, host); hosts converge on
// one version, and meanwhile a running row with a module wins over the others.
export function pluginEntries(rows) {
  const byId = new Map();
  for (const row of Array.isArray(rows) ? rows : []) {
    if (!row || typeof row.id !== "string") continue;
    const seen = byId.get(row.id);
    const rank = (r) => (r.ui_url ? 2 : 0) + (r.state === "running" ? 1 : 0);
    if (!seen || rank(row) > rank(seen)) byId.set(row.id, row);
  }
  return [...byId.values()]
    .filter((r) => r.ui_url || r.last_error)
    .map((r) => ({
      id: r.id,
      version: r.version || "",
      state: r.state || "",
      url: typeof r.ui_url === "string" ? r.ui_url : "",
      lastError: r.last_error || "",
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

export function specifierFor(url) {
  return PLUGIN_SPECIFIER + url.replace(/^\/plugins\//, "");
}

export async function importPluginModule(url, { doc = document, base = window.location.href } = {}) {
  const specifier = specifierFor(url);
  const href = new URL(url, base).href;
  if (!doc.querySelector(`script[type=importmap][data-parley-plugin="${CSS.escape(specifier)}"]`)) {
    const script = doc.createElement("script");
    script.type = "importmap";
    script.dataset.parleyPlugin = specifier;
    script.textContent = JSON.stringify({ imports: { [specifier]: href } });
    doc.head.append(script);
  }
  try {
    return { module: await import(specifier), via: "importmap" };
  } catch (err) {
    // A browser without merged import maps cannot resolve the name: import the URL itself.
    // A module that threw a TypeError while evaluating rejects the same way again.
    if (!(err instanceof TypeError) || !/resolv/i.test(String(err.message))) throw err;
    return { module: await import(href), via: "url" };
  }
}

function describe(err) {
  if (err && typeof err === "object" && "message" in err) {
    return `${err.name && err.name !== "Error" ? `${err.name}: ` : ""}${err.message}`;
  }
  return String(err);
}

export function createPluginShell({ api, context = {}, pollMs = DEFAULT_POLL_MS, importModule = importPluginModule }) {
  // panels: [{id, version, state, url, lastError, module (raw), via, error, loads}]
  const state = reactive({ panels: [], listError: "", polls: 0 });
  let timer = null;
  let running = false;

  function pluginApi(panel) {
    return Object.freeze({
      id: panel.id,
      version: panel.version,
      url: panel.url,
      context,
      fetch(path, { method = "GET", body } = {}) {
        const rel = String(path).startsWith("/") ? path : `/${path}`;
        return api.request(method, `/plugins/${encodeURIComponent(panel.id)}${rel}`, body);
      },
    });
  }

  async function load(panel, url) {
    try {
      const { module, via } = await importModule(url);
      if (panel.url !== url) return; // a newer version arrived while this one loaded
      if (typeof module.mount !== "function") {
        throw new Error("the module exports no mount(element, plugin) function");
      }
      // Only mount is kept: the module namespace itself is frozen, and Vue must not wrap it.
      panel.module = markRaw({ mount: module.mount });
      panel.via = via;
      panel.error = "";
    } catch (err) {
      if (panel.url !== url) return;
      panel.module = null;
      panel.error = describe(err);
      console.warn(`Parley plugin ${panel.id} (${url}) failed to load: ${panel.error}`);
    } finally {
      if (panel.url === url) panel.loads += 1;
    }
  }

  async function refresh() {
    let rows;
    try {
      const data = await api.request("GET", "/plugins");
      rows = data && Array.isArray(data.plugins) ? data.plugins : [];
      state.listError = "";
    } catch (err) {
      state.listError = describe(err);
      return;
    } finally {
      state.polls += 1;
    }
    const wanted = pluginEntries(rows);
    const kept = [];
    for (const entry of wanted) {
      let panel = state.panels.find((p) => p.id === entry.id);
      if (!panel) {
        panel = reactive({ ...entry, url: "", module: null, via: "", error: "", loads: 0 });
      }
      panel.version = entry.version;
      panel.state = entry.state;
      panel.lastError = entry.lastError;
      if (entry.url && entry.url !== panel.url) {
        panel.url = entry.url;
        load(panel, entry.url); // not awaited: a slow module must not hold the others
      } else if (!entry.url) {
        panel.url = "";
        panel.module = null;
      }
      kept.push(panel);
    }
    state.panels = kept;
  }

  async function loop() {
    if (!running) return;
    if (typeof document === "undefined" || !document.hidden) await refresh();
    if (running) timer = setTimeout(loop, pollMs);
  }

  return {
    state,
    pluginApi,
    refresh,
    start() {
      if (running) return;
      running = true;
      loop();
    },
    stop() {
      running = false;
      clearTimeout(timer);
    },
  };
}
