"""`parley protocol generate [--check]`: write (or check) the files read off protocol.catalog.

Only the browser module is a file (the browser cannot ask Python); ``/asyncapi.json`` and
``/openapi.json`` are served from the models at run time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config.errors import ParleyError
from config.settings import REPO_ROOT
from protocol.browser import BROWSER_MODULE_PATH, browser_module

__all__ = ["generated_files", "protocol_main"]


def generated_files(root: Path = REPO_ROOT) -> dict[Path, str]:
    return {root / BROWSER_MODULE_PATH: browser_module()}


def protocol_main(
    action: str, *, check: bool = False, event_type: str | None = None, root: Path = REPO_ROOT
) -> int:
    if action == "new-event":
        from parley._scaffold import new_event

        if not event_type:
            raise ParleyError("new-event needs --type, e.g. --type thread.archived")
        for path in new_event(event_type, root):
            print(f"parley protocol: wrote {path.relative_to(root)}")
        # This process imported the catalog before it changed: regenerate in a fresh one.
        return _generate_in_subprocess(root)
    if action != "generate":
        raise ParleyError(f"unknown protocol action {action!r} (expected: generate, new-event)")
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


def _generate_in_subprocess(root: Path) -> int:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    code = (
        "import sys; from pathlib import Path; from parley.protocol_cli import protocol_main; "
        f"sys.exit(protocol_main('generate', root=Path({str(root)!r})))"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode
