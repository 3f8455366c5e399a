"""`parley assets build`: vendor the browser's pinned npm packages, without a bundler.

The browser shell loads Vue, oidc-client-ts, @cfworker/json-schema and markdown-it as native ES
modules through an import map, so set-up only has to copy each package's ES-module build into
``frontend/vendor/`` (gitignored), which the gateway serves at ``/vendor/``. Versions are
pinned by the committed ``frontend/package.json`` and ``package-lock.json``; ``npm ci``
installs them into a cache under the state directory (``.parley/npm``), never into the
source tree (the dev dependencies there, the AsyncAPI and OpenAPI schemas, are read by the
tests only). A manifest records the lock's hash and each copied file's hash, so a second run
does nothing and costs milliseconds.

The same step makes sure Debian's chromium exists for the browser tests.

This is a set-up command run from the Makefile, not server code: it blocks freely.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from config.errors import MissingToolError, ParleyError
from config.settings import REPO_ROOT, load_settings

__all__ = [
    "CHROMIUM_PATH",
    "VENDORED",
    "VendoredFile",
    "assets_main",
    "build_assets",
    "ensure_chromium",
]

CHROMIUM_PATH = Path("/usr/bin/chromium")
FRONTEND_DIR = REPO_ROOT / "frontend"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True, slots=True)
class VendoredFile:
    """One file copied from an installed npm package into ``frontend/vendor/``."""

    package: str
    source: str  # path inside the package
    target: str  # file name under frontend/vendor/


# Import-map names in frontend/index.html point at these targets; keep the two in step.
VENDORED: tuple[VendoredFile, ...] = (
    VendoredFile("vue", "dist/vue.esm-browser.prod.js", "vue.esm-browser.prod.js"),
    VendoredFile("oidc-client-ts", "dist/esm/oidc-client-ts.js", "oidc-client-ts.js"),
    # oidc-client-ts's ESM build imports the bare name "jwt-decode"; the import map resolves it.
    VendoredFile("jwt-decode", "build/esm/index.js", "jwt-decode.js"),
    # The JSON Schema validator of the generated frontend/app/protocol.js: an ES-module build
    # in several files that import each other relatively, so they keep one folder.
    *(
        VendoredFile(
            "@cfworker/json-schema", f"dist/esm/{name}.js", f"cfworker-json-schema/{name}.js"
        )
        for name in (
            "index",
            "deep-compare-strict",
            "dereference",
            "format",
            "pointer",
            "types",
            "ucs2-length",
            "validate",
            "validator",
        )
    ),
    # The operator page's charts (frontend/ops.html).
    VendoredFile("uplot", "dist/uPlot.esm.js", "uPlot.esm.js"),
    VendoredFile("uplot", "dist/uPlot.min.css", "uPlot.min.css"),
    # Markdown of assistant replies (app/markdown.js): the package's self-contained ES-module
    # browser build (its dependencies are bundled in), used with raw HTML disabled.
    VendoredFile("markdown-it", "dist/browser/markdown-it.esm.min.mjs", "markdown-it.mjs"),
)
_LICENSES = ("LICENSE", "LICENSE.md", "LICENSE.txt")


def assets_main(action: str) -> int:
    if action != "build":
        raise ParleyError(f"unknown assets action {action!r} (expected: build)")
    settings = load_settings()
    changed = build_assets(FRONTEND_DIR, settings.state_dir / "npm")
    print(
        "parley assets: vendored browser modules "
        + ("updated" if changed else "up to date")
        + f" in {FRONTEND_DIR / 'vendor'}"
    )
    ensure_chromium()
    return 0


def build_assets(frontend_dir: Path, cache_dir: Path) -> bool:
    """Install the pinned packages and copy their browser builds; True if anything changed."""
    vendor_dir = frontend_dir / "vendor"
    lock_hash = _sha256(frontend_dir / "package-lock.json") + _sha256(frontend_dir / "package.json")
    if _manifest_current(vendor_dir, lock_hash):
        return False

    _npm_ci(frontend_dir, cache_dir, lock_hash)
    modules = cache_dir / "node_modules"
    vendor_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for item in VENDORED:
        package_dir = modules / item.package
        version = json.loads((package_dir / "package.json").read_text())["version"]
        target = vendor_dir / item.target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package_dir / item.source, target)
        files[item.target] = {
            "package": item.package,
            "version": version,
            "sha256": _sha256(target),
        }
        for name in _LICENSES:
            if (package_dir / name).is_file():
                (vendor_dir / "licenses").mkdir(exist_ok=True)
                licence = item.package.replace("/", "-").lstrip("@")
                shutil.copyfile(package_dir / name, vendor_dir / "licenses" / f"{licence}.txt")
                break
    manifest = {"lock_sha256": lock_hash, "files": files}
    (vendor_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return True


def _manifest_current(vendor_dir: Path, lock_hash: str) -> bool:
    try:
        manifest = json.loads((vendor_dir / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("lock_sha256") != lock_hash:
        return False
    files = manifest.get("files", {})
    for item in VENDORED:
        target = vendor_dir / item.target
        entry = files.get(item.target)
        if entry is None or not target.is_file() or _sha256(target) != entry.get("sha256"):
            return False
    return True


def _npm_ci(frontend_dir: Path, cache_dir: Path, lock_hash: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise MissingToolError(
            "npm not found; it vendors the browser's Vue and oidc-client-ts: apt-get install -y npm"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp = cache_dir / ".lock-sha256"
    if stamp.is_file() and stamp.read_text() == lock_hash and (cache_dir / "node_modules").is_dir():
        return
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(frontend_dir / name, cache_dir / name)
    # `npm ci` installs exactly what the lock says; scripts are off because we only copy files.
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    proc = subprocess.run(cmd, cwd=cache_dir, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit status {proc.returncode}"
        raise ParleyError(f"npm ci in {cache_dir} failed: {last}")
    stamp.write_text(lock_hash)


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests if it is missing and we may."""
    if CHROMIUM_PATH.exists():
        return
    if os.geteuid() != 0:
        # Not fatal: the server does not need a browser; the browser tests say why they skip.
        print(
            f"parley assets: {CHROMIUM_PATH} missing and not root; browser tests need it: "
            "sudo apt-get install -y chromium",
            file=sys.stderr,
        )
        return
    print("parley assets: installing Debian's chromium for the browser tests (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise MissingToolError(f"could not install chromium ({' '.join(cmd)}): {last}")
    if not CHROMIUM_PATH.exists():
        raise MissingToolError(f"apt-get installed chromium but {CHROMIUM_PATH} is still missing")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
