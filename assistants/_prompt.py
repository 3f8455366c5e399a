"""The prompt of one turn: system prompt + the thread's recent history, within a token budget.

Pure logic, no I/O. The history comes oldest first; the newest messages are kept and the
oldest dropped first, as a contiguous run (never a hole in the middle of the conversation).
What people wrote is always a `user` message prefixed with the sender's name ("alice: hi"),
so several people in one thread stay apart and no message text can become a `system` or
`assistant` message; the assistant's own earlier replies are `assistant` messages. Chat
template markers (`<|...|>`, as ChatML's `<|im_start|>`) in a text are broken up, so a message
cannot open a fake turn of its own in the rendered prompt.

The work is bounded by the budget, not by the thread: the walk from the newest message stops
at the first one that does not fit, so a long thread costs no more than a short one.

Budget: the prompt may use `min(budget_tokens, context_tokens - max_reply_tokens)` estimated
tokens (`estimate_tokens`, an upper estimate; see `assistants._tokens`), so prompt + reply
never pass the model's context. A newest message too large for the budget on its own (a 16 KB
paste) is cut in the middle, keeping its start and its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters import ChatMessage
from assistants._tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens

__all__ = ["HistoryMessage", "Prompt", "PromptBudget", "PromptBudgetError", "build_prompt"]

TRIM_MARK = "\n[… {n} characters left out …]\n"


class PromptBudgetError(ValueError):
    """Raised when the budget cannot hold the system prompt and one message's start."""


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """One stored message of the thread, as the prompt needs it."""

    sender_name: str
    text: str
    # True for the replies of the assistant whose turn this is (role "assistant").
    from_assistant: bool = False


@dataclass(frozen=True, slots=True)
class PromptBudget:
    """The model's context per request, the reply's share, and the assistant's own cap."""

    context_tokens: int
    max_reply_tokens: int
    budget_tokens: int | None = None  # the assistant config's context budget, if smaller

    @property
    def prompt_tokens(self) -> int:
        room = self.context_tokens - self.max_reply_tokens
        return room if self.budget_tokens is None else min(room, self.budget_tokens)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The messages to send, what they cost (estimated), and what was left out."""

    messages: tuple[ChatMessage, ...]
    estimated_tokens: int
    kept: int  # history messages in the prompt
    dropped: int  # older history messages left out
    trimmed: bool  # the newest message was cut to fit


def defuse(text: str) -> str:
    """Break chat-template markers so a text cannot open a turn of its own."""
    return text.replace("<|", "< |").replace("|>", "| >")


def _render(message: HistoryMessage) -> ChatMessage:
    if message.from_assistant:
        return ChatMessage("assistant", defuse(message.text))
    return ChatMessage("user", f"{defuse(message.sender_name)}: {defuse(message.text)}")


def _cost(message: ChatMessage, count: Callable[[str], int]) -> int:
    return count(message.content) + MESSAGE_OVERHEAD_TOKENS


def build_prompt(
    system_prompt: str,
    history: Sequence[HistoryMessage],
    budget: PromptBudget,
    *,
    count: Callable[[str], int] = estimate_tokens,
) -> Prompt:
    """The prompt for a turn answering the newest message of `history` (oldest first)."""
    system = ChatMessage("system", system_prompt)
    left = budget.prompt_tokens - _cost(system, count)
    if left < MESSAGE_OVERHEAD_TOKENS + 64:
        raise PromptBudgetError(
            f"a prompt budget of {budget.prompt_tokens} tokens cannot hold the system prompt "
            f"({_cost(system, count)} tokens) and a message"
        )
    kept: list[ChatMessage] = []
    trimmed = False
    for index in range(len(history) - 1, -1, -1):
        rendered = _render(history[index])
        cost = _cost(rendered, count)
        if cost > left:
            if not kept:
                rendered = _trim(rendered, left - MESSAGE_OVERHEAD_TOKENS, count)
                cost = _cost(rendered, count)
                trimmed = True
            else:
                break
        kept.append(rendered)
        left -= cost
    kept.reverse()
    messages = (system, *kept)
    return Prompt(
        messages=messages,
        estimated_tokens=sum(_cost(m, count) for m in messages),
        kept=len(kept),
        dropped=len(history) - len(kept),
        trimmed=trimmed,
    )


def _trim(message: ChatMessage, tokens: int, count: Callable[[str], int]) -> ChatMessage:
    """`message` cut in the middle to at most `tokens`, keeping its start and its end."""
    text = message.content

    def cut(keep: int) -> str:
        head, tail = keep - keep // 2, keep // 2
        mark = TRIM_MARK.format(n=len(text) - keep)
        return text[:head] + mark + (text[len(text) - tail :] if tail else "")

    # The largest number of characters kept whose cut text fits: a binary search, so the
    # cost is O(log n) estimates of at most `tokens`-sized texts, whatever the message size.
    low, high = 0, len(text)
    while low < high:
        mid = math.ceil((low + high) / 2)
        if count(cut(mid)) <= tokens:
            low = mid
        else:
            high = mid - 1
    return ChatMessage(message.role, cut(low))
