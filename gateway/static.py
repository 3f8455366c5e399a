"""The browser's files, served by the gateway, and the list of plugin UI modules.

    /                   frontend/index.html (the shell; its import map names every module)
    /silent-renew.html  frontend/silent-renew.html (OIDC silent renew when no refresh token)
    /app/...            frontend/app/      application modules and CSS
    /plugins/...        frontend/plugins/  plugin UI modules
    /vendor/...         frontend/vendor/   Vue and oidc-client-ts, vendored by `parley assets build`
    /api/ui-modules     {"modules": [{"name", "url", "slot"}]} from frontend/plugins/manifest.json

ES modules are refused by browsers unless served with a JavaScript content type, so types come
from a fixed table, not from the host's mimetypes database. Files are read through trio's async
file API; the manifest is read on every request so a plugin added at run time shows up on the
next page load without a restart.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import trio
from quart import Blueprint, Response, request

from config.settings import REPO_ROOT

__all__ = [
    "FRONTEND_DIR",
    "UI_SLOTS",
    "UiModule",
    "UiModuleError",
    "content_type_for",
    "make_static_blueprint",
    "parse_ui_manifest",
    "safe_relative_path",
    "static_blueprint",
]

FRONTEND_DIR = REPO_ROOT / "frontend"

# Where the shell can mount a plugin component; an unknown slot is refused at listing time.
UI_SLOTS = frozenset({"sidebar", "topbar", "chat-header"})

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class UiModuleError(ValueError):
    """Raised when frontend/plugins/manifest.json lists a module the shell could not load."""


@dataclass(frozen=True, slots=True)
class UiModule:
    """A browser module a plugin ships: the shell maps ``parley-ui/<name>`` to ``url``."""

    name: str
    url: str
    slot: str


def content_type_for(path: PurePosixPath | Path) -> str | None:
    """The Content-Type to serve a file with, or None for a type we never serve."""
    return _CONTENT_TYPES.get(path.suffix.lower())


def safe_relative_path(name: str) -> PurePosixPath | None:
    """``name`` as a path inside a served folder, or None if it could leave it or is hidden."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    return PurePosixPath(*parts)


def parse_ui_manifest(raw: bytes, url_prefix: str = "/plugins/") -> list[UiModule]:
    """Validate the plugin manifest; every entry names a file under ``frontend/plugins/``."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise UiModuleError(f"manifest is not JSON: {exc}") from None
    entries = doc.get("modules") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise UiModuleError("manifest must be an object with a 'modules' list")
    modules: list[UiModule] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise UiModuleError("each module must be an object")
        name, file, slot = entry.get("name"), entry.get("file"), entry.get("slot")
        if not isinstance(name, str) or not _NAME_RE.match(name) or name in seen:
            raise UiModuleError(f"module name {name!r} must be unique, lowercase, a-z0-9-")
        rel = safe_relative_path(file) if isinstance(file, str) else None
        if rel is None or rel.suffix != ".js":
            raise UiModuleError(f"module {name!r}: 'file' must be a .js path inside plugins/")
        if slot not in UI_SLOTS:
            raise UiModuleError(f"module {name!r}: slot {slot!r} is not one of {sorted(UI_SLOTS)}")
        seen.add(name)
        modules.append(UiModule(name=name, url=url_prefix + str(rel), slot=slot))
    return modules


def make_static_blueprint(frontend_dir: Path = FRONTEND_DIR) -> Blueprint:
    """A blueprint serving ``frontend_dir``; tests point it at a folder of their own."""
    bp = Blueprint("static_files", __name__)
    served = {"app": frontend_dir / "app", "plugins": frontend_dir / "plugins"}
    served["vendor"] = frontend_dir / "vendor"

    @bp.get("/")
    async def index() -> Response:
        return await _send(frontend_dir, "index.html")

    @bp.get("/ops")
    async def operator_page() -> Response:
        # Admins only where it matters: every call the page makes is checked by the API.
        return await _send(frontend_dir, "ops.html")

    @bp.get("/silent-renew.html")
    async def silent_renew() -> Response:
        return await _send(frontend_dir, "silent-renew.html")

    @bp.get("/app/<path:name>")
    async def app_file(name: str) -> Response:
        return await _send(served["app"], name)

    @bp.get("/plugins/<path:name>")
    async def plugin_file(name: str) -> Response:
        return await _send(served["plugins"], name)

    @bp.get("/vendor/<path:name>")
    async def vendor_file(name: str) -> Response:
        response = await _send(served["vendor"], name)
        if response.status_code == 404:
            # The one failure an operator can fix: say how instead of a bare 404.
            response = _text(404, f"{name} is not vendored yet: run `parley assets build`\n")
        return response

    @bp.get("/api/ui-modules")
    async def ui_modules() -> Response:
        manifest = trio.Path(served["plugins"] / "manifest.json")
        try:
            modules = parse_ui_manifest(await manifest.read_bytes())
        except FileNotFoundError:
            modules = []
        except UiModuleError as exc:
            error = {"error": {"code": "bad_manifest", "message": f"plugins/manifest.json: {exc}"}}
            return Response(json.dumps(error), status=500, content_type="application/json")
        body = json.dumps({"modules": [asdict(m) for m in modules]})
        return Response(
            body, content_type="application/json", headers={"Cache-Control": "no-store"}
        )

    return bp


async def _send(root: Path, name: str) -> Response:
    rel = safe_relative_path(name)
    ctype = content_type_for(rel) if rel is not None else None
    if rel is None or ctype is None:
        return _text(404, "not found\n")
    path = trio.Path(root / rel)
    try:
        stat = await path.stat()
        if not (await path.is_file()):
            return _text(404, "not found\n")
        data = await path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return _text(404, "not found\n")
    etag = hashlib.sha256(f"{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:32]
    headers = {
        # Revalidate every time: set-up may replace vendored files without renaming them.
        "Cache-Control": "no-cache",
        "ETag": f'"{etag}"',
        "X-Content-Type-Options": "nosniff",
    }
    if rel.suffix == ".html":
        # The OIDC redirect puts the authorization code in the page URL; never leak it.
        headers["Referrer-Policy"] = "no-referrer"
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return Response(b"", status=304, headers=headers)
    return Response(data, content_type=ctype, headers=headers)


def _text(status: int, body: str) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


static_blueprint = make_static_blueprint()
