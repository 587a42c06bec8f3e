"""One way into the store: the services object is built once, by the page's settings and by
the CLI's main, and handed down; no function of annotator/ takes a database URL but the one
that builds it, and none opens the database itself."""

from __future__ import annotations

import ast
from pathlib import Path

import db
from annotator.services import Services
from annotator.ui.settings import app_settings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "annotator").rglob("*.py")) + [ROOT / "streamlit_app.py"]
BUILDS_SERVICES = {"annotator/services/context.py"}  # Services.open(database_url)


def url_parameters(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for argument in node.args.args + node.args.kwonlyargs
            if argument.arg in ("database_url", "url")]


def calls_named(path: Path, name: str) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and name in (getattr(node.func, "attr", None),
                                                       getattr(node.func, "id", None))]


def test_no_function_of_the_application_takes_a_database_url():
    found = [line for path in SOURCES if str(path.relative_to(ROOT)) not in BUILDS_SERVICES
             for line in url_parameters(path)]
    assert found == []


def test_the_application_never_opens_the_database_itself():
    assert [line for path in SOURCES for line in calls_named(path, "open_database")] == []


def test_the_services_are_built_by_the_pages_settings_and_the_clis_main_only():
    builders = {line.split(":")[0] for path in SOURCES for line in services_opened(path)}
    assert sorted(builders) == ["annotator/cli.py", "annotator/ui/settings.py"]


def services_opened(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "open" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "Services"}


def test_the_pages_settings_hold_the_services_of_the_apps_database(monkeypatch, tmp_path):
    monkeypatch.setenv("AU_ANNOTATOR_DB", str(tmp_path / "page.sqlite3"))
    services = app_settings().services
    assert isinstance(services, Services)
    assert services.store.url == db.database_url()
    with services.store.read() as session:
        assert db.list_videos(session) == []
