"""The README is the contract users read first: keep it in step with the code."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings, env_names, markdown_env_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = text.split("```", 2)[1]
    assert "make run" in first_block
    assert "make test" in first_block


def test_readme_env_table_is_generated_from_settings() -> None:
    text = README.read_text()
    start = text.index("<!-- env-table:start -->") + len("<!-- env-table:start -->")
    end = text.index("<!-- env-table:end -->")
    assert text[start:end].strip() == markdown_env_table()


def test_every_setting_has_an_env_name_in_the_readme() -> None:
    text = README.read_text()
    missing = [n for n in Settings.model_fields if env_names(n)[0] not in text]
    assert missing == []
