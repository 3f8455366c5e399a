"""gateway.static: the browser's files with module-safe content types, and the UI module list."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from quart_trio import QuartTrio

from gateway.static import (
    FRONTEND_DIR,
    UiModule,
    UiModuleError,
    content_type_for,
    make_static_blueprint,
    parse_ui_manifest,
    safe_relative_path,
)


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "plugins").mkdir()
    (tmp_path / "vendor").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "app" / "main.js").write_text("export const x = 1;\n")
    (tmp_path / "app" / "styles.css").write_text("body {}\n")
    (tmp_path / "vendor" / "vue.js").write_text("export default {};\n")
    (tmp_path / "plugins" / "demo.js").write_text("export default {};\n")
    (tmp_path / "secret.py").write_text("nope")
    manifest = {"modules": [{"name": "demo", "file": "demo.js", "slot": "sidebar"}]}
    (tmp_path / "plugins" / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


@pytest.fixture
def app(frontend: Path) -> QuartTrio:
    app = QuartTrio(__name__)
    app.register_blueprint(make_static_blueprint(frontend))
    return app


async def test_index_is_html_and_keeps_the_oidc_code_out_of_referrers(app: QuartTrio) -> None:
    response = await app.test_client().get("/")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert b"<!doctype html>" in await response.get_data()


@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/app/main.js", "text/javascript; charset=utf-8"),
        ("/app/styles.css", "text/css; charset=utf-8"),
        ("/vendor/vue.js", "text/javascript; charset=utf-8"),
        ("/plugins/demo.js", "text/javascript; charset=utf-8"),
    ],
)
async def test_modules_and_css_get_types_browsers_accept(
    app: QuartTrio, path: str, ctype: str
) -> None:
    response = await app.test_client().get(path)
    assert response.status_code == 200
    assert response.content_type == ctype
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_unchanged_file_answers_304_to_its_etag(app: QuartTrio) -> None:
    client = app.test_client()
    first = await client.get("/app/main.js")
    again = await client.get("/app/main.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    ["/app/../secret.py", "/app/%2e%2e/secret.py", "/app/.hidden.js", "/app/nope.js", "/app/x.py"],
)
async def test_nothing_outside_the_served_folders_or_of_unknown_type(
    app: QuartTrio, path: str
) -> None:
    response = await app.test_client().get(path)
    assert response.status_code == 404


async def test_missing_vendor_file_says_how_to_fix_it(app: QuartTrio) -> None:
    response = await app.test_client().get("/vendor/oidc-client-ts.js")
    assert response.status_code == 404
    body = await response.get_data(as_text=True)
    assert body == "oidc-client-ts.js is not vendored yet: run `parley assets build`\n"


async def test_ui_modules_lists_the_manifest(app: QuartTrio) -> None:
    response = await app.test_client().get("/api/ui-modules")
    assert response.status_code == 200
    assert await response.get_json() == {
        "modules": [{"name": "demo", "url": "/plugins/demo.js", "slot": "sidebar"}]
    }


async def test_ui_modules_without_manifest_is_empty(app: QuartTrio, frontend: Path) -> None:
    (frontend / "plugins" / "manifest.json").unlink()
    response = await app.test_client().get("/api/ui-modules")
    assert await response.get_json() == {"modules": []}


async def test_bad_manifest_is_a_500_naming_the_problem(app: QuartTrio, frontend: Path) -> None:
    (frontend / "plugins" / "manifest.json").write_text('{"modules": [{"name": "X"}]}')
    response = await app.test_client().get("/api/ui-modules")
    assert response.status_code == 500
    error = (await response.get_json())["error"]
    assert error["code"] == "bad_manifest"
    assert error["message"].startswith("plugins/manifest.json: module name 'X'")


@pytest.mark.parametrize(
    "name",
    ["", "/etc/passwd", "../x.js", "a/../../x.js", "a\\b.js", ".env", "a/.git/x", "a\x00.js"],
)
def test_safe_relative_path_refuses_escapes_and_hidden_files(name: str) -> None:
    assert safe_relative_path(name) is None


def test_safe_relative_path_keeps_plain_paths() -> None:
    assert safe_relative_path("components/App.js") == PurePosixPath("components/App.js")


def test_content_type_table_refuses_unknown_suffixes() -> None:
    assert content_type_for(PurePosixPath("x.MJS")) == "text/javascript; charset=utf-8"
    assert content_type_for(PurePosixPath("x.py")) is None


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("[]", r"^manifest must be an object with a 'modules' list$"),
        ('{"modules": [1]}', r"^each module must be an object$"),
        (
            '{"modules": [{"name": "a", "file": "../a.js", "slot": "sidebar"}]}',
            r"^module 'a': 'file' must be a \.js path inside plugins/$",
        ),
        (
            '{"modules": [{"name": "a", "file": "a.js", "slot": "footer"}]}',
            r"^module 'a': slot 'footer' is not one of \['chat-header', 'sidebar', 'topbar'\]$",
        ),
        (
            '{"modules": [{"name": "a", "file": "a.js", "slot": "sidebar"},'
            ' {"name": "a", "file": "b.js", "slot": "sidebar"}]}',
            r"^module name 'a' must be unique, lowercase, a-z0-9-$",
        ),
        (
            "{",
            r"^manifest is not JSON: Expecting property name enclosed in double quotes: "
            r"line 1 column 2 \(char 1\)$",
        ),
    ],
)
def test_manifest_validation(manifest: str, message: str) -> None:
    with pytest.raises(UiModuleError, match=message):
        parse_ui_manifest(manifest.encode())


def test_the_committed_demo_module_is_listed_and_exists() -> None:
    modules = parse_ui_manifest((FRONTEND_DIR / "plugins" / "manifest.json").read_bytes())
    assert UiModule(name="demo-panel", url="/plugins/demo-panel.js", slot="sidebar") in modules
    assert (FRONTEND_DIR / "plugins" / "demo-panel.js").is_file()
