"""An assistant's config (assistants._config): defaults, refusals naming the key, the budget."""

from __future__ import annotations

import pytest

from assistants import AssistantConfig, AssistantConfigError, PromptBudget


def test_defaults_fit_the_local_models_context() -> None:
    config = AssistantConfig.load({}, context_tokens=2048)
    assert config.max_reply_tokens == 256 and config.model == ""
    assert config.budget(2048) == PromptBudget(2048, 256, budget_tokens=1536)
    assert config.budget(2048).prompt_tokens == 1536


def test_a_toml_integer_temperature_is_accepted() -> None:
    config = AssistantConfig.load({"temperature": 0, "seed": 42}, context_tokens=2048)
    assert (config.temperature, config.seed) == (0.0, 42)


@pytest.mark.parametrize(
    ("config", "key", "reason"),
    [
        ({"sytem_prompt": "x"}, "sytem_prompt", "Extra inputs are not permitted"),
        ({"max_reply_tokens": "many"}, "max_reply_tokens", "Input should be a valid integer"),
        ({"max_reply_tokens": 0}, "max_reply_tokens", "Input should be greater than or equal to 1"),
        ({"system_prompt": ""}, "system_prompt", "String should have at least 1 character"),
        ({"temperature": 3.0}, "temperature", "Input should be less than or equal to 2"),
        (
            {"context_budget_tokens": 100},
            "context_budget_tokens",
            "Input should be greater than or equal to 256",
        ),
    ],
)
def test_bad_configs_name_the_key(config: dict[str, object], key: str, reason: str) -> None:
    with pytest.raises(AssistantConfigError, match=rf"^assistant config '{key}': {reason}$") as e:
        AssistantConfig.load(config, context_tokens=2048)
    assert e.value.key == key


def test_a_reply_that_leaves_the_prompt_no_room_is_refused() -> None:
    with pytest.raises(
        AssistantConfigError,
        match=r"^assistant config 'max_reply_tokens': 1900 leaves the prompt 148 of the model's "
        r"2048 context tokens \(at least 256 needed\)$",
    ):
        AssistantConfig.load({"max_reply_tokens": 1900}, context_tokens=2048)
