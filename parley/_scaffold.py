"""`parley protocol new-event --type a.b`: a new domain event, wired everywhere it must be.

Writes (relative to the repository root):
    protocol/domain.py          the model (a frozen dataclass with event_id, thread_id,
                                actor_id, occurred_at, v and its type), in the DomainEvent
                                union and the decoder's table
    protocol/catalog.py         its registration (channel domain-changes, version 1)
    core/_domain_handlers.py    a handler stub in HANDLERS (what a consumer does with it)
    tests/protocol/test_domain_<name>.py   a test: schema, round trip, handler registered
then regenerates the browser module, so the next `make test` passes. Edits are anchored on
marker lines; a type that exists already is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from config.errors import ParleyError
from config.settings import REPO_ROOT

__all__ = ["class_name", "new_event"]

_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_HANDLERS_HEADER = '''"""Handlers of domain events, by type: what a deployment does with one.

`parley protocol new-event` adds a stub here for each new type; fill it in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["HANDLERS"]

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[Any], Awaitable[None]]] = {}
'''


def class_name(event_type: str) -> str:
    """'thread.archived' -> 'ThreadArchived'."""
    return "".join(part.capitalize() for word in event_type.split(".") for part in word.split("_"))


def new_event(event_type: str, root: Path = REPO_ROOT) -> list[Path]:
    if not _TYPE.match(event_type):
        raise ParleyError(f"--type {event_type!r}: expected noun.verb, e.g. thread.archived")
    name = class_name(event_type)
    snake = event_type.replace(".", "_")
    domain = root / "protocol" / "domain.py"
    text = domain.read_text(encoding="utf-8")
    if f'"{event_type}"' in text:
        raise ParleyError(f"domain event {event_type!r} exists already")
    model = f'''@dataclass(frozen=True, slots=True)
class {name}:
    """TODO: say when a {event_type} happens and what its fields mean."""

    event_id: NonEmpty
    thread_id: NonEmpty
    actor_id: NonEmpty
    occurred_at: NonEmpty
    v: int = DOMAIN_VERSION
    type: Literal["{event_type}"] = "{event_type}"


'''
    text = _replace_once(text, "DomainEvent = ", model + "DomainEvent = ")
    # The union is one parenthesised member a line: the new one goes before its ")".
    text = re.sub(
        r"^(DomainEvent = \(\n(?:    \| .*\n|    \w.*\n)*)\)",
        rf"\1    | {name}\n)",
        text,
        count=1,
        flags=re.M,
    )
    text = _replace_once(
        text,
        "_BY_TYPE: dict[str, type[DomainEvent]] = {\n",
        f'_BY_TYPE: dict[str, type[DomainEvent]] = {{\n    "{event_type}": {name},\n',
    )
    text = _replace_once(text, "__all__ = [\n", f'__all__ = [\n    "{name}",\n')
    domain.write_text(text, encoding="utf-8")

    catalog = root / "protocol" / "catalog.py"
    text = catalog.read_text(encoding="utf-8")
    if "from protocol.domain import (\n" in text:  # one name a line, as ruff writes it
        text = _replace_once(
            text, "from protocol.domain import (\n", f"from protocol.domain import (\n    {name},\n"
        )
    else:
        text = re.sub(
            r"^from protocol\.domain import (.*)$",
            rf"from protocol.domain import \1, {name}",
            text,
            count=1,
            flags=re.M,
        )
    text = _replace_once(
        text,
        "\n)\n\n\ndef payloads_on",
        f'\n    Payload("{event_type}", {name}, ("domain-changes",)),\n)\n\n\ndef payloads_on',
    )
    catalog.write_text(text, encoding="utf-8")

    handlers = root / "core" / "_domain_handlers.py"
    text = handlers.read_text(encoding="utf-8") if handlers.is_file() else _HANDLERS_HEADER
    text += f'''

async def handle_{snake}(event: Any) -> None:
    """TODO: what this deployment does when a {event_type} is consumed."""
    log.info("domain event %s", event.type, extra={{"event_id": event.event_id}})


HANDLERS["{event_type}"] = handle_{snake}
'''
    handlers.write_text(text, encoding="utf-8")

    test = root / "tests" / "protocol" / f"test_domain_{snake}.py"
    test.write_text(
        f'''"""The {event_type} domain event: in the catalog with a schema, round trip, handled."""

from __future__ import annotations

import jsonschema

from core._domain_handlers import HANDLERS
from protocol.catalog import PAYLOADS, schema_of
from protocol.domain import {name}, decode_domain_event, domain_document


def test_{snake}_is_registered_round_trips_and_has_a_handler() -> None:
    event = {name}("ev1", "t_1", "alice", "2026-01-01T00:00:00.000Z")
    (payload,) = [p for p in PAYLOADS if p.tag == "{event_type}"]
    document = domain_document(event)
    jsonschema.Draft202012Validator(schema_of(payload)).validate(document)
    assert decode_domain_event(document) == event
    assert "{event_type}" in HANDLERS
''',
        encoding="utf-8",
    )
    return [domain, catalog, handlers, test]


def _replace_once(text: str, anchor: str, replacement: str) -> str:
    if text.count(anchor) != 1:
        raise ParleyError(f"cannot place the new event: expected one {anchor.strip()!r}")
    return text.replace(anchor, replacement)
