"""Assistants: prompts within a token budget for the turns of a thread's assistant members.

    estimate_tokens   an upper estimate of a text's tokens, measured against SmolLM2's tokenizer
    build_prompt      system prompt + the thread's recent history with sender names, oldest
                      dropped first, never over the budget (`Prompt` says what was kept)
    defuse            chat-template markers in a text broken up (no fake turns)

Pure logic; the model is called through `adapters.ChatCompletions`. Turn lifecycle records are
in `protocol.turns`.
"""

from __future__ import annotations

from assistants._prompt import (
    HistoryMessage,
    Prompt,
    PromptBudget,
    PromptBudgetError,
    build_prompt,
    defuse,
)
from assistants._tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "HistoryMessage",
    "Prompt",
    "PromptBudget",
    "PromptBudgetError",
    "build_prompt",
    "defuse",
    "estimate_tokens",
]
