"""gateway.assets: pinned npm packages vendored once, a no-op when current, one-line errors.

npm itself is replaced by a small script that lays out node_modules the way `npm ci` does, so
these tests need no registry; `make install` runs the real thing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from config.errors import MissingToolError, ParleyError
from gateway.assets import VENDORED, build_assets

FAKE_NPM = """#!/bin/sh
# Stand-in for `npm ci`: count calls, then install each vendored file from the fixture.
echo x >> "$FAKE_NPM_CALLS"
[ -n "$FAKE_NPM_FAIL" ] && { echo "npm ERR! code E404" >&2; exit 1; }
cp -r "$FAKE_NPM_TREE" node_modules
"""


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    root = tmp_path / "frontend"
    root.mkdir()
    (root / "package.json").write_text('{"dependencies": {"vue": "3.5.45"}}')
    (root / "package-lock.json").write_text('{"lockfileVersion": 3}')
    return root


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tree = tmp_path / "tree"
    for item in VENDORED:
        pkg = tree / item.package
        (pkg / item.source).parent.mkdir(parents=True, exist_ok=True)
        (pkg / item.source).write_text(f"export const name = {item.package!r};\n")
        (pkg / "package.json").write_text(json.dumps({"version": "1.2.3"}))
        (pkg / "LICENSE").write_text("MIT")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    npm = bindir / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    calls = tmp_path / "npm-calls"
    calls.touch()
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_NPM_TREE", str(tree))
    monkeypatch.setenv("FAKE_NPM_CALLS", str(calls))
    return calls


def test_build_copies_each_browser_build_with_a_manifest(
    frontend: Path, fake_npm: Path, tmp_path: Path
) -> None:
    assert build_assets(frontend, tmp_path / "cache") is True
    vendor = frontend / "vendor"
    for item in VENDORED:
        assert (vendor / item.target).read_text() == f"export const name = {item.package!r};\n"
        licence = item.package.replace("/", "-").lstrip("@")  # @scope/name → scope-name
        assert (vendor / "licenses" / f"{licence}.txt").read_text() == "MIT"
    manifest = json.loads((vendor / "manifest.json").read_text())
    assert manifest["files"]["vue.esm-browser.prod.js"]["version"] == "1.2.3"


def test_second_build_is_a_no_op(frontend: Path, fake_npm: Path, tmp_path: Path) -> None:
    build_assets(frontend, tmp_path / "cache")
    assert build_assets(frontend, tmp_path / "cache") is False
    assert fake_npm.read_text().count("x") == 1


def test_a_damaged_vendored_file_is_restored_without_npm(
    frontend: Path, fake_npm: Path, tmp_path: Path
) -> None:
    build_assets(frontend, tmp_path / "cache")
    (frontend / "vendor" / VENDORED[0].target).write_text("tampered")
    assert build_assets(frontend, tmp_path / "cache") is True
    assert (frontend / "vendor" / VENDORED[0].target).read_text() != "tampered"
    assert fake_npm.read_text().count("x") == 1  # the cache was still valid


def test_a_new_lock_installs_again(frontend: Path, fake_npm: Path, tmp_path: Path) -> None:
    build_assets(frontend, tmp_path / "cache")
    (frontend / "package-lock.json").write_text('{"lockfileVersion": 3, "changed": true}')
    shutil.rmtree(tmp_path / "cache" / "node_modules")
    assert build_assets(frontend, tmp_path / "cache") is True
    assert fake_npm.read_text().count("x") == 2


def test_missing_npm_is_one_clear_line(
    frontend: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingToolError, match=r"^npm not found; .*: apt-get install -y npm$"):
        build_assets(frontend, tmp_path / "cache")


def test_failing_npm_names_its_last_line(
    frontend: Path, fake_npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")
    with pytest.raises(ParleyError, match=r"^npm ci in .* failed: npm ERR! code E404$"):
        build_assets(frontend, tmp_path / "cache")


def test_the_pages_point_at_every_vendored_file() -> None:
    # index.html (the chat) and ops.html (the operator page, which adds uPlot) between them
    # import or link every vendored file, and nothing that is not vendored.
    frontend = Path(__file__).resolve().parents[2] / "frontend"
    used: set[str] = set()
    for name in ("index.html", "ops.html"):
        page = (frontend / name).read_text()
        block = re.search(r'<script type="importmap">\s*(\{.*?\})\s*</script>', page, re.S)
        assert block is not None, name
        used |= {
            v for v in json.loads(block.group(1))["imports"].values() if v.startswith("/vendor/")
        }
        used |= set(re.findall(r'<link rel="stylesheet" href="(/vendor/[^"]+)">', page))
    assert used <= {f"/vendor/{i.target}" for i in VENDORED}
    # A package vendored as several files that import each other relatively (the JSON Schema
    # validator) is used through its entry module only.
    used_packages = {i.package for i in VENDORED if f"/vendor/{i.target}" in used}
    assert used_packages == {i.package for i in VENDORED}
