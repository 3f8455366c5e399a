// The operator page's chart data (frontend/app/ops/series.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SERIES, createSeries } from "../../../frontend/app/ops/series.js";

const proc = (id, at, persisted, more = {}) => ({
  id, state: "running", heartbeat_at: at, connections: 1,
  stats: { persisted, lag: 2, restarts: 0, ...more }, ...more.row,
});

test("messages per second come from the persisted totals between heartbeats", () => {
  const s = createSeries();
  s.add({ processes: [proc("c1", 100, 0), proc("c2", 100, 10)] }, 1);
  s.add({ processes: [proc("c1", 102, 20), proc("c2", 102, 10)] }, 2);
  assert.deepEqual(s.data.messages, [[1, 2], [0, 10]]);
  // No new heartbeat: the last rate is kept, not halved.
  s.add({ processes: [proc("c1", 102, 20), proc("c2", 102, 10)] }, 3);
  assert.equal(s.data.messages[1][2], 10);
  assert.deepEqual(s.data.connections[1], [2, 2, 2]);
  assert.deepEqual(s.data.lag[1], [4, 4, 4]);
});

test("latency is the worst p50/p99 in ms; gone processes count for nothing", () => {
  const s = createSeries();
  s.add({ processes: [
    proc("g1", 1, 0, { e2e_p50_s: 0.002, e2e_p99_s: 0.01 }),
    proc("g2", 1, 0, { e2e_p50_s: 0.004, e2e_p99_s: 0.02 }),
    { ...proc("g3", 1, 0, { e2e_p99_s: 9 }), state: "gone" },
  ] }, 1);
  assert.deepEqual(s.data.latency, [[1], [4], [20]]);
  assert.deepEqual(s.data.connections[1], [2]);
});

test("every chart has its columns, and old points are dropped", () => {
  const s = createSeries({ keep: 2 });
  for (let t = 0; t < 5; t++) s.add({ processes: [] }, t);
  for (const spec of SERIES) {
    assert.equal(s.data[spec.key].length, spec.labels.length + 1);
    assert.deepEqual(s.data[spec.key][0], [3, 4]);
  }
});
