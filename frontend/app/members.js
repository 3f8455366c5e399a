// Who a thread member is: a person, or a plugin's bot member ("plugin:<id>", see
// plugins/_manifest.py bot_user_id), which is an assistant when it answers in turns.
// Plain functions, no Vue, so the rules are tested under Node.

const PLUGIN_PREFIX = "plugin:";

export function isPluginMember(id) {
  return typeof id === "string" && id.startsWith(PLUGIN_PREFIX) && id.length > PLUGIN_PREFIX.length;
}

// The name to show: a plugin member by its plugin id, a person by their user id.
export function memberName(id) {
  return isPluginMember(id) ? id.slice(PLUGIN_PREFIX.length) : id;
}

// "person" | "assistant" | "bot". An assistant is a plugin GET /api/plugins reports as one
// (`kind`), or one seen answering in this thread (`answering`: ids of turns' assistants and
// of senders of stored replies, which carry a turn_id).
export function memberKind(id, plugins = [], answering = []) {
  if (!isPluginMember(id)) return "person";
  if (answering && answering.includes(id)) return "assistant";
  const plugin = (plugins || []).find((p) => p && p.bot_user_id === id);
  if (plugin && plugin.kind === "assistant") return "assistant";
  return "bot";
}

// Who has answered in turns in a thread: its current turn's assistant and the senders of the
// stored replies on the page.
export function answeringMembers(turn, messages = []) {
  const ids = new Set();
  if (turn && turn.assistant_id) ids.add(turn.assistant_id);
  for (const m of messages) if (m && m.turn_id && m.sender_id) ids.add(m.sender_id);
  return [...ids];
}
