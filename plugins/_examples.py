"""The bundled example plugins and the `parley plugin new` templates, as file contents.

Kept as text here (not package data) so creating a workspace needs no file lookup inside the
installed package; each one is committed into a new workspace as it is written here.
"""

from __future__ import annotations

__all__ = ["EXAMPLES", "GITIGNORE", "TEMPLATES", "scaffold"]

GITIGNORE = "__pycache__/\n*.pyc\n.pytest_cache/\n"

_COMMANDS_TOML = """\
id = "commands"
version = "1.0.0"
api_version = 1
description = "A command bot: /roll 2d6, /remind 10m text, /help"

[server]
entry = "server.py"

[config.max_dice]
type = "int"
default = 100
description = "most dice one /roll may throw"
"""

_COMMANDS_SERVER = '''\
"""A command bot: add `plugin:commands` to a thread, then type /help."""

from __future__ import annotations

import random
import re

from plugins.api import Context, Message

HELP = "Commands: /roll NdM (e.g. /roll 2d6), /remind 10m text (s, m, h or d), /help"
_ROLL = re.compile(r"^/roll\\s+(\\d{1,3})d(\\d{1,4})\\s*$")
_REMIND = re.compile(r"^/remind\\s+(\\d{1,6})([smhd])\\s+(.+)$", re.S)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def roll(spec: str, seed: str, max_dice: int = 100) -> str:
    """The answer to `/roll spec`; the same seed gives the same dice (a redelivery)."""
    match = _ROLL.match(f"/roll {spec}")
    if match is None:
        return "usage: /roll NdM, for example /roll 2d6"
    count, sides = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= max_dice or sides < 2:
        return f"between 1 and {max_dice} dice of at least 2 sides"
    rng = random.Random(seed)
    dice = [rng.randint(1, sides) for _ in range(count)]
    return f"{count}d{sides}: {' + '.join(map(str, dice))} = {sum(dice)}"


async def on_message(ctx: Context, message: Message) -> None:
    text = message.text.strip()
    if text == "/help":
        await ctx.reply(HELP)
    elif text.startswith("/roll"):
        spec = text[len("/roll"):].strip()
        await ctx.reply(roll(spec, message.message_id, int(ctx.config["max_dice"])))
        ctx.counters.inc("rolls")
    elif text.startswith("/remind"):
        match = _REMIND.match(text)
        if match is None:
            await ctx.reply("usage: /remind 10m text (s, m, h or d)")
            return
        amount, unit, what = int(match.group(1)), match.group(2), match.group(3).strip()
        await ctx.reply(f"I will remind you in {amount}{unit}.")
        await ctx.post_later(amount * _UNIT_S[unit], f"Reminder for {message.sender_id}: {what}")
        ctx.counters.inc("reminders")


def self_check() -> None:
    assert roll("2d6", "x").startswith("2d6: ")
'''

_COMMANDS_TEST = '''\
"""Run with `parley plugin test commands`: the harness gives a real thread context."""

from __future__ import annotations


async def test_roll_answers_with_the_dice(plugin) -> None:
    replies = await plugin.say("/roll 2d6")
    assert len(replies) == 1
    assert replies[0].startswith("2d6: ")


async def test_help_lists_the_commands(plugin) -> None:
    assert await plugin.say("/help") == [
        "Commands: /roll NdM (e.g. /roll 2d6), /remind 10m text (s, m, h or d), /help"
    ]


async def test_remind_answers_and_schedules(plugin) -> None:
    replies = await plugin.say("/remind 10m tea")
    assert replies == ["I will remind you in 10m."]
'''

_ACTIVITY_TOML = """\
id = "activity"
version = "1.0.0"
api_version = 1
description = "A live panel: how many messages its bot saw, from its own HTTP route"

[server]
entry = "server.py"

[browser]
entry = "ui.js"
"""

_ACTIVITY_SERVER = '''\
"""A live panel: add `plugin:activity` to threads; the sidebar shows what it saw.

The counts live in the plugin's durable state (so every plugin host, and every version,
sees the same numbers); the browser module polls GET /api/plugins/activity/stats.
"""

from __future__ import annotations

from plugins.api import Context, HttpRequest, JSONValue, Message, Routes

routes = Routes()


async def on_message(ctx: Context, message: Message) -> None:
    seen = await ctx.state.get("messages", 0)
    await ctx.state.set("messages", int(seen) + 1 if isinstance(seen, int) else 1)
    key = f"thread:{message.thread_id}"
    in_thread = await ctx.state.get(key, 0)
    await ctx.state.set(key, int(in_thread) + 1 if isinstance(in_thread, int) else 1)
    await ctx.state.set("last", {"sender_id": message.sender_id, "at": message.created_at})


@routes.get("/stats")
async def stats(ctx: Context, request: HttpRequest) -> JSONValue:
    return {
        "messages": await ctx.state.get("messages", 0),
        "threads": len(await ctx.state.keys("thread:")),
        "last": await ctx.state.get("last"),
        "version": ctx.version,
    }


@routes.get("/threads/{thread_id}")
async def thread_stats(ctx: Context, request: HttpRequest) -> JSONValue:
    return {"messages": await ctx.state.get(f"thread:{request.params['thread_id']}", 0)}
'''

_ACTIVITY_UI = """\
// The activity plugin's browser module. The shell imports it from its versioned URL and
// calls mount(element, plugin); the function mount returns is called before a new version
// (or nothing) takes the slot. plugin.fetch(path) calls /api/plugins/activity<path> with
// the user's token and gives the JSON answer.
export const label = "Messages seen";

export function mount(element, plugin) {
  const title = document.createElement("h3");
  title.textContent = `Activity ${plugin.version}`;
  const line = document.createElement("p");
  line.dataset.testid = "activity-stats";
  line.textContent = "…";
  element.replaceChildren(title, line);
  let timer = null;
  let stopped = false;
  async function refresh() {
    try {
      const stats = await plugin.fetch("/stats");
      line.textContent = `${label}: ${stats.messages} in ${stats.threads} threads`;
    } catch (err) {
      line.textContent = `Activity unavailable: ${err.message}`;
    }
    if (!stopped) timer = setTimeout(refresh, 1000);
  }
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
"""

_ACTIVITY_TEST = '''\
"""Run with `parley plugin test activity`."""

from __future__ import annotations


async def test_it_counts_without_replying(plugin) -> None:
    assert await plugin.say("hello") == []
    assert await plugin.say("again") == []
'''

_ASSISTANT_TOML = """\
id = "local-assistant"
version = "1.0.0"
api_version = 1
description = "An assistant on the local model (SmolLM2-135M: small and weak, but real)"

[server]
entry = "server.py"

# Makes the plugin an assistant: add `plugin:local-assistant` to a thread, and each message a
# person posts there starts its turn (run by the thread's core, streamed to every member).
[assistant]
system_prompt = "You are a helpful assistant in a group chat. Answer briefly."
model = ""                      # empty: PARLEY_LLM_MODEL
context_budget_tokens = 1536
max_reply_tokens = 256
temperature = 0.7
"""

_ASSISTANT_EXAMPLE_SERVER = '''\
"""local-assistant: its turns are run by Parley's core from the [assistant] table of plugin.toml.

No hook is needed; one could add commands (on_message) beside the assistant's answers.
"""
'''

EXAMPLES: dict[str, dict[str, str]] = {
    "local-assistant": {
        "plugin.toml": _ASSISTANT_TOML,
        "server.py": _ASSISTANT_EXAMPLE_SERVER,
    },
    "commands": {
        "plugin.toml": _COMMANDS_TOML,
        "server.py": _COMMANDS_SERVER,
        "tests/test_commands.py": _COMMANDS_TEST,
    },
    "activity": {
        "plugin.toml": _ACTIVITY_TOML,
        "server.py": _ACTIVITY_SERVER,
        "ui.js": _ACTIVITY_UI,
        "tests/test_activity.py": _ACTIVITY_TEST,
    },
}

_BOT_SERVER = '''\
"""{name}: answers `/{name}` in the threads its bot user is a member of."""

from __future__ import annotations

from plugins.api import Context, Message


async def on_message(ctx: Context, message: Message) -> None:
    if message.text.strip() == "/{name}":
        await ctx.reply("Hello from {name}!")
'''

_ASSISTANT_TEMPLATE_TOML = """\
id = "{name}"
version = "0.1.0"
api_version = 1
description = "An assistant plugin"

[server]
entry = "server.py"

# Makes the plugin an assistant: add `plugin:{name}` to a thread, and each message a person
# posts there starts its turn (run by the thread's core with the model, streamed to every
# member, stored once as this plugin's message). Checked when the plugin loads.
[assistant]
system_prompt = "You are {name}, a helpful assistant in a group chat. Answer briefly."
model = ""                      # empty: PARLEY_LLM_MODEL
context_budget_tokens = 1536    # the prompt's share of the model's context, at most
max_reply_tokens = 256
temperature = 0.7
# seed = 0                      # with temperature 0: repeatable replies
"""

_ASSISTANT_SERVER = '''\
"""{name}: an assistant. Parley's core runs its turns from the [assistant] table of
plugin.toml (system prompt, model, budget, reply length): no hook is needed.

Hooks still run beside the assistant's answers (e.g. on_member_added to greet), but an
on_message that replies would answer each message a second time.
"""
'''

_ASSISTANT_TEST = '''\
"""Run with `parley plugin test {name}`.

Parley's core answers with the model; `plugin.ask` returns the prompt a turn would send it,
built from plugin.toml's [assistant] table and the thread so far (no model needed).
"""

from __future__ import annotations


async def test_a_turn_sends_the_system_prompt_and_the_thread_within_the_budget(plugin) -> None:
    assistant = plugin.assistant
    assert assistant is not None, "plugin.toml needs an [assistant] table"
    first = await plugin.ask("What can you do?")
    assert [(m.role, m.content) for m in first.messages] == [
        ("system", assistant.system_prompt),
        ("user", "alice: What can you do?"),
    ]
    # Bob posts 16 KB, far more than the budget holds: his message is cut to fit, the older
    # ones are left out, and nothing over the budget (the model's context, less the reply,
    # at most context_budget_tokens) is sent.
    second = await plugin.ask("Summarise this: " + "lorem ipsum dolor " * 900, sender="bob")
    assert second.trimmed
    assert (second.kept, second.dropped) == (1, 1)
    assert second.messages[-1].content.startswith("bob: Summarise this: lorem ipsum")
    assert second.estimated_tokens <= assistant.budget(plugin.context_tokens).prompt_tokens
'''

_UI_MODULE = """\
// {name}: a browser module; the shell imports it from /plugins/{name}/<version>/ui.js and
// calls mount(element, plugin) (plugin: id, version, fetch(path) of its routes); what
// mount returns, if a function, is called when a new version replaces this one.
export function mount(element, plugin) {{
  element.textContent = `Hello from {name} ${{plugin.version}}`;
  return () => element.replaceChildren();
}}
"""

_TEST = '''\
"""Run with `parley plugin test {name}`."""

from __future__ import annotations


async def test_it_answers(plugin) -> None:
    replies = await plugin.say({say!r})
    assert replies == [{expect!r}]
'''

TEMPLATES = ("bot", "ui", "assistant")


def scaffold(name: str, template: str) -> dict[str, str]:
    """The files of a new plugin called `name` made from `template`."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    toml = (
        f'id = "{name}"\nversion = "0.1.0"\napi_version = 1\n'
        f'description = "A {template} plugin"\n\n[server]\nentry = "server.py"\n'
    )
    if template == "assistant":
        toml = _ASSISTANT_TEMPLATE_TOML.format(name=name)
        server = _ASSISTANT_SERVER.format(name=name)
        test = _ASSISTANT_TEST.format(name=name)
    else:
        server = _BOT_SERVER.format(name=name)
        test = _TEST.format(name=name, say=f"/{name}", expect=f"Hello from {name}!")
    files = {"server.py": server, f"tests/test_{name.replace('-', '_')}.py": test}
    if template == "ui":
        toml += '\n[browser]\nentry = "ui.js"\n'
        files["ui.js"] = _UI_MODULE.format(name=name)
    files["plugin.toml"] = toml
    return files
