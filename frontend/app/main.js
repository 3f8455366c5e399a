// Entry point: read /config.js, finish or check the OIDC login, load plugin UI modules, mount.
import { createApp, shallowRef } from "vue";
import { readConfig } from "parley/config.js";
import { createAuth } from "parley/auth.js";
import { loadUiModules } from "parley/plugins.js";
import App from "parley/components/App.js";

function fatal(message) {
  const root = document.getElementById("app");
  root.replaceChildren();
  const p = document.createElement("p");
  p.className = "error fatal";
  p.setAttribute("role", "alert");
  p.textContent = message;
  root.append(p);
}

async function boot() {
  let config;
  try {
    config = readConfig();
  } catch (err) {
    fatal(err.message);
    return;
  }
  const auth = createAuth(config);
  const uiModules = shallowRef([]);
  // Plugins load beside the login check; the slots fill in when they arrive.
  const pluginsLoaded = loadUiModules()
    .then((mods) => { uiModules.value = mods; return mods; })
    .catch((err) => { console.warn(`UI modules unavailable: ${err.message}`); return []; });
  window.parleyPlugins = pluginsLoaded;

  let user = null;
  let loginError = "";
  try {
    user = await auth.init();
  } catch (err) {
    loginError = err.message || String(err);
  }
  createApp(App, { config, auth, initialUser: user, loginError, uiModules }).mount("#app");
}

boot();
