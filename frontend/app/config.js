// Runtime configuration from GET /config.js (window.PARLEY_CONFIG); nothing is baked in.
//   { apiUrl, wsUrl, issuer, clientId, audience }
// apiUrl is the gateway's base URL (REST lives under <apiUrl>/api/...; a trailing "/api" is
// accepted too). wsUrl is the WebSocket URL; relative URLs resolve against the page.

export class ConfigError extends Error {
  name = "ConfigError";
}

const REQUIRED = ["apiUrl", "wsUrl", "issuer", "clientId"];

export function readConfig(raw = window.PARLEY_CONFIG, base = window.location.href) {
  if (!raw || typeof raw !== "object") {
    throw new ConfigError(
      "The server did not provide /config.js (window.PARLEY_CONFIG is missing).");
  }
  const missing = REQUIRED.filter((key) => typeof raw[key] !== "string" || !raw[key]);
  if (missing.length) {
    throw new ConfigError(`/config.js lacks ${missing.join(", ")}.`);
  }
  const api = new URL(raw.apiUrl, base);
  let apiPath = api.pathname.replace(/\/+$/, "");
  if (!apiPath.endsWith("/api")) apiPath += "/api";
  const ws = new URL(raw.wsUrl, base);
  if (ws.protocol === "http:") ws.protocol = "ws:";
  if (ws.protocol === "https:") ws.protocol = "wss:";
  return Object.freeze({
    apiBase: api.origin + apiPath,
    wsUrl: ws.href,
    issuer: raw.issuer,
    clientId: raw.clientId,
    audience: typeof raw.audience === "string" ? raw.audience : "",
  });
}
