// Reading window.PARLEY_CONFIG (frontend/app/config.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, readConfig } from "../../../frontend/app/config.js";

const page = "http://127.0.0.1:8080/";
const full = { apiUrl: "http://127.0.0.1:8080", wsUrl: "ws://127.0.0.1:8081/ws", issuer: "http://i/parley", clientId: "parley-web", audience: "parley" };

test("the gateway base URL gets /api; a URL already ending in /api is kept", () => {
  assert.equal(readConfig(full, page).apiBase, "http://127.0.0.1:8080/api");
  assert.equal(readConfig({ ...full, apiUrl: "http://h/api/" }, page).apiBase, "http://h/api");
});

test("a relative or http WebSocket URL becomes ws:// on the page's host", () => {
  assert.equal(readConfig({ ...full, wsUrl: "/ws" }, page).wsUrl, "ws://127.0.0.1:8080/ws");
  assert.equal(readConfig({ ...full, wsUrl: "https://h/ws" }, page).wsUrl, "wss://h/ws");
});

test("missing config says what is missing", () => {
  assert.throws(() => readConfig(null, page), ConfigError);
  assert.throws(() => readConfig({ ...full, issuer: "" }, page), /^ConfigError: \/config\.js lacks issuer\.$/);
});
