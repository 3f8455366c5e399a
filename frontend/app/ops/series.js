// The operator page's chart data, from successive GET /api/v1/ops/processes answers.
// Pure (no DOM, no fetch): each answer adds one point to every series.

export const SERIES = [
  { key: "messages", title: "Messages stored per second", labels: ["msg/s"] },
  { key: "latency", title: "End-to-end latency (ms)", labels: ["p50", "p99"] },
  { key: "lag", title: "Consumer lag (records)", labels: ["lag"] },
  { key: "connections", title: "WebSocket connections", labels: ["connections"] },
  { key: "restarts", title: "Actor restarts (total)", labels: ["restarts"] },
];

const LIVE = new Set(["running", "draining"]);

export function createSeries({ keep = 300 } = {}) {
  // Per process: the last heartbeat seen and its persisted total, to turn totals into rates.
  const last = new Map();
  const rates = new Map();
  const data = Object.fromEntries(SERIES.map((s) => [s.key, [[], ...s.labels.map(() => [])]]));

  function push(key, t, values) {
    const cols = data[key];
    cols[0].push(t);
    values.forEach((v, i) => cols[i + 1].push(v));
    if (cols[0].length > keep) cols.forEach((c) => c.shift());
  }

  return {
    data,
    // Add the point for one answer, taken at `now` (seconds).
    add(listing, now) {
      let connections = 0, lag = 0, restarts = 0;
      let p50 = null, p99 = null;
      for (const p of listing.processes || []) {
        if (!LIVE.has(p.state)) { rates.delete(p.id); continue; }
        const stats = p.stats || {};
        connections += p.connections || 0;
        lag += stats.lag || 0;
        restarts += stats.restarts || 0;
        if (stats.e2e_p50_s != null) p50 = Math.max(p50 ?? 0, stats.e2e_p50_s * 1000);
        if (stats.e2e_p99_s != null) p99 = Math.max(p99 ?? 0, stats.e2e_p99_s * 1000);
        const before = last.get(p.id);
        if (before && p.heartbeat_at > before.at) {
          const dt = p.heartbeat_at - before.at;
          rates.set(p.id, Math.max(0, ((stats.persisted || 0) - before.persisted) / dt));
        }
        if (!before || p.heartbeat_at > before.at) {
          last.set(p.id, { at: p.heartbeat_at, persisted: stats.persisted || 0 });
        }
      }
      let messages = 0;
      for (const r of rates.values()) messages += r;
      push("messages", now, [messages]);
      push("latency", now, [p50, p99]);
      push("lag", now, [lag]);
      push("connections", now, [connections]);
      push("restarts", now, [restarts]);
    },
  };
}
