"""An assistant's configuration (the `[config]` of an assistant plugin), validated.

    [config]
    system_prompt = "You are a helpful assistant in a group chat."
    model = ""                      # empty: PARLEY_LLM_MODEL
    context_budget_tokens = 1536    # the prompt's share of the model's context, at most
    max_reply_tokens = 256
    temperature = 0.7
    seed = 0                        # optional: with temperature 0, repeatable replies

`AssistantConfig.load(mapping, context_tokens=...)` refuses unknown keys, wrong types and
values out of range, and a reply that leaves the prompt no room in the model's context; each
refusal names the key (`AssistantConfigError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistants._prompt import HistoryMessage, Prompt, PromptBudget, build_prompt

__all__ = ["AssistantConfig", "AssistantConfigError"]

# The prompt needs room for the system prompt and at least the start of one message.
MIN_PROMPT_TOKENS = 256


class AssistantConfigError(ValueError):
    """Raised by `AssistantConfig.load` for a config that cannot run; `key` names the field."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class AssistantConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    system_prompt: str = Field(
        default="You are a helpful assistant in a group chat. Messages start with the "
        "sender's name. Answer briefly.",
        min_length=1,
        max_length=8000,
    )
    model: str = Field(default="", max_length=200)
    context_budget_tokens: int = Field(default=1536, ge=MIN_PROMPT_TOKENS, le=1_000_000)
    max_reply_tokens: int = Field(default=256, ge=1, le=32_768)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)

    @classmethod
    def load(cls, config: Mapping[str, Any], *, context_tokens: int) -> AssistantConfig:
        """Validate `config` for a model whose context holds `context_tokens` per request."""
        data = dict(config)
        if isinstance(data.get("temperature"), int) and not isinstance(
            data.get("temperature"), bool
        ):
            data["temperature"] = float(data["temperature"])  # TOML's `0` for 0.0
        try:
            loaded = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "config"
            raise AssistantConfigError(
                f"assistant config {key!r}: {first['msg']}", key=key
            ) from None
        room = context_tokens - loaded.max_reply_tokens
        if room < MIN_PROMPT_TOKENS:
            raise AssistantConfigError(
                f"assistant config 'max_reply_tokens': {loaded.max_reply_tokens} leaves the "
                f"prompt {room} of the model's {context_tokens} context tokens "
                f"(at least {MIN_PROMPT_TOKENS} needed)",
                key="max_reply_tokens",
            )
        return loaded

    def budget(self, context_tokens: int) -> PromptBudget:
        return PromptBudget(
            context_tokens=context_tokens,
            max_reply_tokens=self.max_reply_tokens,
            budget_tokens=self.context_budget_tokens,
        )

    def prompt(
        self, history: Sequence[tuple[str, str]], *, assistant_id: str, context_tokens: int
    ) -> Prompt:
        """The prompt a turn of this assistant (member `assistant_id`) sends, answering the
        newest of `history` ((sender id, text) of the thread's messages, oldest first):
        the system prompt, then the newest messages within the budget, with sender names.
        Raises PromptBudgetError if the budget cannot hold the system prompt and a message."""
        messages = [
            HistoryMessage(sender_name=sender, text=text, from_assistant=sender == assistant_id)
            for sender, text in history
        ]
        return build_prompt(self.system_prompt, messages, self.budget(context_tokens))
