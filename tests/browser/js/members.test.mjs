// People, assistants and bots among a thread's members (frontend/app/members.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { answeringMembers, isPluginMember, memberKind, memberName } from "../../../frontend/app/members.js";

const plugins = [
  { id: "assistant", bot_user_id: "plugin:assistant", kind: "assistant" },
  { id: "commands", bot_user_id: "plugin:commands" },
];

test("plugin members are named by their plugin id, people by their user id", () => {
  assert.equal(memberName("plugin:assistant"), "assistant");
  assert.equal(memberName("alice"), "alice");
  assert.equal(isPluginMember("plugin:"), false);
  assert.equal(memberName("plugin:"), "plugin:");
});

test("a plugin the host reports as an assistant is one; other plugins are bots", () => {
  assert.equal(memberKind("alice", plugins), "person");
  assert.equal(memberKind("plugin:assistant", plugins), "assistant");
  assert.equal(memberKind("plugin:commands", plugins), "bot");
  assert.equal(memberKind("plugin:unknown", plugins), "bot");
});

test("a plugin seen answering in the thread is an assistant", () => {
  const seen = answeringMembers({ assistant_id: "plugin:a" }, [
    { sender_id: "plugin:b", turn_id: "u1" }, { sender_id: "plugin:c" }, { sender_id: "alice" },
  ]);
  assert.deepEqual(seen.sort(), ["plugin:a", "plugin:b"]);
  assert.equal(memberKind("plugin:b", [], seen), "assistant");
  assert.equal(memberKind("plugin:c", [], seen), "bot");
  assert.equal(memberKind("plugin:commands", undefined, undefined), "bot");
  assert.deepEqual(answeringMembers(null), []);
});
