// The operator page: processes, the selected one's supervision tree, and live charts.
// Admins only: the API answers 403 to everyone else, and the page says so.
import uPlot from "uplot";
import { readConfig } from "parley/config.js";
import { createAuth } from "parley/auth.js";
import { SERIES, createSeries } from "parley/ops/series.js";

const POLL_MS = 1000;
const $ = (sel) => document.querySelector(sel);

function status(text, isError = false) {
  const el = $("[data-testid=ops-status]");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function ago(seconds) {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

async function boot() {
  const config = readConfig();
  const auth = createAuth(config);
  const user = await auth.init();
  if (!user) {
    status("");
    $("[data-testid=ops-status]").append(
      "Not signed in. ", el("a", { href: "/" }, "Sign in"), " as an operator, then come back.");
    return;
  }
  $("[data-testid=ops-user]").textContent = user.profile.sub;
  const api = async (method, path, body) => {
    const token = await auth.token();
    const answer = await fetch(`${new URL(config.apiBase).origin}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const err = new Error((data.error && data.error.message) || `HTTP ${answer.status}`);
      err.status = answer.status;
      throw err;
    }
    return data;
  };

  const series = createSeries();
  const charts = makeCharts(series);
  let selected = null;

  async function poll() {
    let listing;
    try {
      listing = await api("GET", "/api/v1/ops/processes");
    } catch (err) {
      status(err.status === 403 ? "Operators only: this account has no admin claim." :
        `Cannot reach the operations API: ${err.message}`, true);
      return;
    }
    status("");
    $("[data-testid=ops-charts]").hidden = false;
    series.add(listing, Date.now() / 1000);
    for (const chart of charts) chart.update();
    selected = selected || listing.answered_by;
    renderProcesses(listing, selected, (id) => { selected = id; poll(); }, api);
    try {
      renderTree(await api("GET", `/api/v1/ops/processes/${encodeURIComponent(selected)}/actors`),
        api);
    } catch (err) {
      $("[data-testid=ops-tree]").replaceChildren(el("li", { class: "failure" }, err.message));
    }
  }
  await poll();
  setInterval(poll, POLL_MS);
}

function makeCharts(series) {
  const root = $("[data-testid=ops-charts]");
  const colors = ["#2f6fde", "#d9480f"];
  return SERIES.map((spec) => {
    const box = el("div", { class: "ops-chart", "data-testid": `chart-${spec.key}` },
      el("h3", {}, spec.title));
    root.append(box);
    const plot = new uPlot({
      width: 420, height: 160,
      scales: { x: { time: true } },
      series: [{}, ...spec.labels.map((label, i) => ({ label, stroke: colors[i], width: 1.5 }))],
      axes: [{}, { size: 50 }],
    }, series.data[spec.key], box);
    return {
      update() {
        const cols = series.data[spec.key];
        plot.setData(cols);
        // For tests and curious operators: how many points and the latest value.
        box.dataset.points = String(cols[0].length);
        const latest = cols[1][cols[1].length - 1];
        box.dataset.last = latest == null ? "" : String(latest);
      },
    };
  });
}

function renderProcesses(listing, selected, select, api) {
  const now = Date.now() / 1000;
  const rows = (listing.processes || []).map((p) => {
    const partitions = Object.entries(p.partitions || {})
      .map(([label, owned]) => `${label}: ${owned.length}`).join(", ") || "-";
    const live = p.state === "running";
    const drain = live ? el("button", {
      onclick: async (event) => {
        event.stopPropagation();
        if (!window.confirm(`Drain ${p.id}? It stops taking work and exits.`)) return;
        try { await api("POST", `/api/v1/ops/processes/${encodeURIComponent(p.id)}/drain`); }
        catch (err) { status(err.message, true); }
      },
    }, "drain") : null;
    return el("tr", {
      class: p.id === selected ? "selected" : "",
      dataset: { id: p.id, state: p.state },
      onclick: () => select(p.id),
    },
    el("td", {}, p.id), el("td", {}, p.role),
    el("td", { class: `state-${p.state}` }, p.state), el("td", {}, p.version),
    el("td", {}, ago(now - p.started_at)), el("td", {}, `${ago(p.heartbeat_age_s)} ago`),
    el("td", {}, String(p.connections)), el("td", {}, String(p.threads)),
    el("td", {}, partitions), el("td", {}, drain));
  });
  $("[data-testid=ops-processes] tbody").replaceChildren(...rows);
}

function renderTree(tree, api) {
  $("[data-testid=ops-tree-of]").textContent = `of ${tree.id} (${tree.state})`;
  const items = (tree.actors || []).map((node) => {
    const depth = node.path.split("/").length - 2;
    const facts = [node.kind, node.state, `age ${ago(node.uptime)}`];
    if (node.restarts) facts.push(`restarts ${node.restarts}`);
    if (node.mailbox) facts.push(`mailbox ${node.mailbox.depth}/${node.mailbox.capacity}`);
    if (node.live != null) facts.push(`live ${node.live}`);
    const failure = node.last_failure
      ? el("span", { class: "failure" }, ` · last failure: ${node.last_failure}`) : null;
    const restart = (node.kind === "registry" || node.kind === "supervisor") && depth > 0
      ? el("button", {
        onclick: async () => {
          try {
            await api("POST", `/api/v1/ops/processes/${encodeURIComponent(tree.id)}/restart`,
              { path: node.path });
          } catch (err) { status(err.message, true); }
        },
      }, "restart") : null;
    return el("li", { dataset: { path: node.path, restarts: String(node.restarts) },
      style: `padding-left: ${0.5 + depth * 1.2}rem` },
    `${node.path.split("/").pop()}  `, el("small", {}, facts.join(", ")), failure, " ", restart);
  });
  $("[data-testid=ops-tree]").replaceChildren(...items);
}

boot().catch((err) => status(`The operator page failed: ${err.message}`, true));
