"""`parley protocol generate [--check]`: write (or check) the files read off protocol.catalog.

Only the browser module is a file (the browser cannot ask Python); ``/asyncapi.json`` and
``/openapi.json`` are served from the models at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from config.errors import ParleyError
from config.settings import REPO_ROOT
from protocol.browser import BROWSER_MODULE_PATH, browser_module

__all__ = ["generated_files", "protocol_main"]


def generated_files(root: Path = REPO_ROOT) -> dict[Path, str]:
    return {root / BROWSER_MODULE_PATH: browser_module()}


def protocol_main(action: str, *, check: bool = False, root: Path = REPO_ROOT) -> int:
    if action != "generate":
        raise ParleyError(f"unknown protocol action {action!r} (expected: generate)")
    stale = []
    for path, text in generated_files(root).items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if check:
            stale.append(path.relative_to(root))
            continue
        path.write_text(text, encoding="utf-8")
        print(f"parley protocol: wrote {path.relative_to(root)}")
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(
            f"parley protocol: {names} is stale (the models changed): "
            "run `parley protocol generate`",
            file=sys.stderr,
        )
        return 1
    if check:
        print("parley protocol: generated files are current")
    return 0
