// Plugin UI modules, loaded at run time through the import map.
//
// The server lists modules at GET /api/ui-modules ({modules: [{name, url, slot}]}). The shell
// adds an import map mapping "parley-ui/<name>" to each URL, then imports the bare names, so a
// plugin module resolves exactly like the app's own ones and shares the page's single Vue
// ("vue" comes from the first map). Browsers with several import maps (Chromium 133+, and the
// others as they follow) merge the new one; an older browser refuses the bare name, and the
// shell then imports the URL directly so the plugin still works.
import { markRaw } from "vue";

export const SPECIFIER_PREFIX = "parley-ui/";

export function importMapFor(modules, base = window.location.href) {
  const imports = {};
  for (const m of modules) imports[SPECIFIER_PREFIX + m.name] = new URL(m.url, base).href;
  return { imports };
}

export async function listUiModules(fetchImpl = window.fetch.bind(window)) {
  const response = await fetchImpl("/api/ui-modules", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /api/ui-modules answered HTTP ${response.status}`);
  const body = await response.json();
  return Array.isArray(body.modules) ? body.modules : [];
}

export async function loadUiModules({ doc = document, fetchImpl } = {}) {
  const modules = (await listUiModules(fetchImpl)).filter(
    (m) => m && typeof m.name === "string" && typeof m.url === "string" && typeof m.slot === "string");
  if (!modules.length) return [];
  const script = doc.createElement("script");
  script.type = "importmap";
  script.dataset.parley = "ui-modules";
  script.textContent = JSON.stringify(importMapFor(modules));
  doc.head.append(script);

  const loaded = await Promise.all(modules.map(async (m) => {
    const specifier = SPECIFIER_PREFIX + m.name;
    let mod;
    let via = "importmap";
    try {
      mod = await import(specifier);
    } catch (err) {
      if (!(err instanceof TypeError)) return { ...m, error: String(err) };
      // The bare name did not resolve (no support for a second import map): use the URL.
      via = "url";
      try { mod = await import(new URL(m.url, window.location.href).href); }
      catch (err2) { return { ...m, error: String(err2) }; }
    }
    const component = mod.default;
    if (!component || typeof component !== "object") {
      return { ...m, error: "module has no default export (a Vue component)" };
    }
    return { ...m, specifier, via, component: markRaw(component) };
  }));
  for (const m of loaded) {
    if (m.error) console.warn(`Parley UI module ${m.name} (${m.url}) failed: ${m.error}`);
  }
  return loaded;
}
