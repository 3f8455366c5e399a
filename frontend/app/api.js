// REST client for the gateway: bearer token, JSON bodies, errors as readable sentences.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function errorText(status, body) {
  const err = body && (body.error ?? body);
  if (err && typeof err === "object" && typeof err.message === "string") return err.message;
  if (typeof err === "string") return err;
  if (body && typeof body.detail === "string") return body.detail;
  if (status === 401) return "Your session has expired; please sign in again.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 429) return "Too many messages; wait a moment.";
  if (status >= 500) return "The server is unavailable right now; try again shortly.";
  return `The server refused the request (HTTP ${status}).`;
}

export function createApi(config, getToken, fetchImpl = window.fetch.bind(window)) {
  async function request(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = await getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetchImpl(config.apiBase + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "Cannot reach the server; check your connection.");
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!response.ok) {
      const code = data && data.error && data.error.code ? data.error.code : `http_${response.status}`;
      throw new ApiError(response.status, code, errorText(response.status, data));
    }
    return data;
  }

  return {
    request,
    async listThreads() {
      const data = await request("GET", "/threads");
      return Array.isArray(data) ? data : (data && data.threads) || [];
    },
    // The boot snapshot: {profile, threads (with last_seq, read_seq, unread, archived),
    // online, display_names}.
    boot() {
      return request("GET", "/v1/server");
    },
    markRead(threadId, seq) {
      return request("POST", `/threads/${encodeURIComponent(threadId)}/read`, { seq });
    },
    createThread(title, members) {
      return request("POST", "/threads", { title, members });
    },
    // {messages, next_before_seq?, next_after_seq?}
    history(threadId, { afterSeq, beforeSeq, limit = 50 } = {}) {
      const q = new URLSearchParams({ limit: String(limit) });
      if (afterSeq !== undefined && afterSeq !== null) q.set("after_seq", String(afterSeq));
      if (beforeSeq !== undefined && beforeSeq !== null) q.set("before_seq", String(beforeSeq));
      return request("GET", `/threads/${encodeURIComponent(threadId)}/messages?${q}`);
    },
    postMessage(threadId, text, clientMsgId) {
      return request("POST", "/messages", { thread_id: threadId, text, client_msg_id: clientMsgId });
    },
    // Adds a person, or an assistant / bot by its bot_user_id ("plugin:<id>"); → the thread.
    addMember(threadId, userId) {
      return request("POST", `/threads/${encodeURIComponent(threadId)}/members`, { user_id: userId });
    },
    stopTurn(threadId, turnId) {
      return request("POST", `/threads/${encodeURIComponent(threadId)}/turns/${encodeURIComponent(turnId)}/stop`);
    },
    // [{id, version, state, bot_user_id, description, ...}] from every plugin host.
    async listPlugins() {
      const data = await request("GET", "/plugins");
      return (data && Array.isArray(data.plugins)) ? data.plugins : [];
    },
  };
}
