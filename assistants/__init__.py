"""Assistants: prompts within a token budget for the turns of a thread's assistant members.

    AssistantConfig   an assistant plugin's [config] (system prompt, model, context budget,
                      max reply tokens, temperature, seed), validated against the model's context
    estimate_tokens   an upper estimate of a text's tokens, measured against SmolLM2's tokenizer
    build_prompt      system prompt + the thread's recent history with sender names, oldest
                      dropped first, never over the budget (`Prompt` says what was kept)
    defuse            chat-template markers in a text broken up (no fake turns)
    TurnRate          turns a user may start per minute (429 with the seconds to wait)
    AssistantDirectory  which bot members are assistants, with their validated configs
                      (collection `assistants`: the plugin host writes, the core reads)
    Turn              one turn: the model's reply as turn records to a sink, `stop()`,
                      always one `finished` (complete | stopped | error with the reason)

The model is called through `adapters.ChatCompletions`; turn records are `protocol.turns`.
Who owns a turn (the thread's actor) and where its records go is the caller's part.
"""

from __future__ import annotations

from assistants._config import AssistantConfig, AssistantConfigError
from assistants._directory import ASSISTANT_PREFIX, AssistantDirectory, is_bot
from assistants._limits import TurnRate
from assistants._prompt import (
    HistoryMessage,
    Prompt,
    PromptBudget,
    PromptBudgetError,
    build_prompt,
    defuse,
)
from assistants._tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens
from assistants._turn import Turn, TurnOutcome, TurnSink

__all__ = [
    "ASSISTANT_PREFIX",
    "MESSAGE_OVERHEAD_TOKENS",
    "AssistantConfig",
    "AssistantConfigError",
    "AssistantDirectory",
    "HistoryMessage",
    "Prompt",
    "PromptBudget",
    "PromptBudgetError",
    "Turn",
    "TurnOutcome",
    "TurnRate",
    "TurnSink",
    "build_prompt",
    "defuse",
    "estimate_tokens",
    "is_bot",
]
