// The plugin shell's list handling (frontend/app/pluginShell.js) with a fake API and a fake
// importer: one entry per plugin, a new URL loads a new version, a throwing import becomes the
// panel's error, a failing list keeps what the page has. Mounting is the browser tests' job.
import { register } from "node:module";
import { test } from "node:test";
import assert from "node:assert/strict";

register(new URL("./import-map-hooks.mjs", import.meta.url));

const { createPluginShell, pluginEntries, specifierFor } = await import("parley/pluginShell.js");

const row = (id, host, extra = {}) => ({ id, host, version: "1.0.0", state: "running", last_error: "", ui_url: null, ...extra });

test("one entry per plugin: a running row with a module wins; bots without UI or error are left out", () => {
  const entries = pluginEntries([
    row("panel", "h1", { state: "failed" , ui_url: "/plugins/panel/aaa/ui.js" }),
    row("panel", "h2", { ui_url: "/plugins/panel/bbb/ui.js" }),
    row("bot", "h1"),
    row("broken", "h1", { state: "refused", last_error: "SyntaxError" }),
  ]);
  assert.deepEqual(entries.map((e) => [e.id, e.url, e.lastError]), [
    ["broken", "", "SyntaxError"],
    ["panel", "/plugins/panel/bbb/ui.js", ""],
  ]);
  assert.equal(specifierFor("/plugins/panel/bbb/ui.js"), "parley-plugin/panel/bbb/ui.js");
});

test("a new URL imports the new version; a throwing import is the panel's error", async () => {
  let rows = [row("panel", "h1", { ui_url: "/plugins/panel/v1/ui.js" })];
  const imported = [];
  const api = { async request(method, path) { assert.equal(`${method} ${path}`, "GET /plugins"); return { plugins: rows }; } };
  const importModule = async (url) => {
    imported.push(url);
    if (url.includes("v3")) throw new SyntaxError("Unexpected token");
    return { module: { mount() {} }, via: "importmap" };
  };
  const shell = createPluginShell({ api, importModule });
  await shell.refresh();
  await new Promise((r) => setTimeout(r, 0));
  const [panel] = shell.state.panels;
  assert.equal(panel.via, "importmap");
  assert.equal(typeof panel.module.mount, "function");
  await shell.refresh(); // same URL: nothing imported again
  assert.deepEqual(imported, ["/plugins/panel/v1/ui.js"]);

  rows = [row("panel", "h1", { ui_url: "/plugins/panel/v3/ui.js" })];
  await shell.refresh();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(shell.state.panels[0], panel);
  assert.equal(panel.module, null);
  assert.equal(panel.error, "SyntaxError: Unexpected token");

  api.request = async () => { throw new Error("offline"); };
  await shell.refresh();
  assert.equal(shell.state.listError, "offline");
  assert.equal(shell.state.panels.length, 1); // kept while the list is unavailable
});

test("plugin.fetch calls the plugin's own routes through the API client", async () => {
  const calls = [];
  const api = { async request(method, path, body) { calls.push([method, path, body]); return { ok: 1 }; } };
  const shell = createPluginShell({ api });
  const plugin = shell.pluginApi({ id: "panel", version: "1.0.0", url: "/plugins/panel/v1/ui.js" });
  assert.deepEqual(await plugin.fetch("/stats"), { ok: 1 });
  await plugin.fetch("notes", { method: "POST", body: { a: 1 } });
  assert.deepEqual(calls, [["GET", "/plugins/panel/stats", undefined], ["POST", "/plugins/panel/notes", { a: 1 }]]);
});
