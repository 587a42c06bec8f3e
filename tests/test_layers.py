"""Layers run one way, and the project's modules import each other without a cycle.

The rule, for the next person who adds a module:

    streamlit_app.py  →  annotator/  →  db/  →  model/

- model/ (the network, features, metrics and the formats all layers share) imports neither
  annotator/ nor db/.
- db/ (the store; all SQL lives here) may import model/ (AU names, label values, smoothing)
  but never annotator/.
- annotator/ may import db/ and model/, never the page script.
- Importing a lower layer directly is fine (the page may use model.formats' label values).
- No cycle among the project's modules, counting imports inside functions too: a lazy import
  that reaches back is still a loop. What two modules both need moves down, or is passed in
  (model.training takes a features loader instead of importing the pipeline).
- SQLAlchemy is imported only in db/: everywhere else asks the store through `db`'s functions.

Every module is read with `ast`, so a file that does not import cleanly is still checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"model": 0, "db": 1, "annotator": 2, "streamlit_app": 3}
SQL_LAYER = "db"


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for the layered packages and the page script under `root`."""
    modules = {}
    for top in LAYERS:
        single = root / f"{top}.py"
        if single.is_file():
            modules[top] = single
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else ():
            if "migrations" in path.relative_to(root).parts:
                continue  # Alembic revisions are written once and never imported by the code
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name `path` imports, anywhere in the file (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the project modules it imports (a package counts only when named itself)."""
    modules = project_modules(root)
    return {
        module: {name for name in imported_names(path, module) if name in modules} - {module}
        for module, path in modules.items()
    }


def layer_of(module: str) -> str:
    return module.split(".")[0]


def layer_violations(root: Path) -> list[str]:
    """One line per import that runs up a layer, per cycle, and per SQLAlchemy import outside
    db/; empty when the rule holds."""
    problems = []
    graph = import_graph(root)
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if LAYERS[layer_of(target)] > LAYERS[layer_of(module)]:
                problems.append(f"upward import: {module} -> {target}")
    for module, path in sorted(project_modules(root).items()):
        names = imported_names(path, module)
        if layer_of(module) != SQL_LAYER and any(n.split(".")[0] == "sqlalchemy" for n in names):
            problems.append(f"SQLAlchemy outside db/: {module}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_project_keeps_its_layers_and_has_no_import_cycle():
    assert len(project_modules(ROOT)) > 30  # the walk found the code
    assert layer_violations(ROOT) == []


def _house(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in ("model", "db", "annotator"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    return tmp_path


def test_a_planted_upward_import_is_found_even_inside_a_function(tmp_path):
    root = _house(tmp_path, {
        "model/features.py": "def load():\n    from annotator.pipeline import run\n",
        "annotator/pipeline.py": "from model.features import load\n\ndef run():\n    pass\n",
        "db/labels.py": "import annotator.pipeline\n",
    })
    problems = layer_violations(root)
    assert "upward import: model.features -> annotator.pipeline" in problems
    assert "upward import: db.labels -> annotator.pipeline" in problems
    assert "import cycle: annotator.pipeline -> model.features" in problems


def test_a_cycle_within_one_layer_and_sql_outside_the_store_are_found(tmp_path):
    root = _house(tmp_path, {
        "model/checkpoint.py": "from model.predictor import load_predictor\n",
        "model/predictor.py": "def load_predictor():\n    from .checkpoint import load\n",
        "annotator/jobs.py": "from sqlalchemy import select\nimport db\n",
    })
    problems = layer_violations(root)
    assert "import cycle: model.checkpoint -> model.predictor" in problems
    assert "SQLAlchemy outside db/: annotator.jobs" in problems
    assert not [p for p in problems if p.startswith("upward")]


def test_downward_imports_that_skip_a_layer_are_allowed(tmp_path):
    root = _house(tmp_path, {
        "streamlit_app.py": "from model.formats import PRESENT\nfrom annotator import actions\n",
        "annotator/actions.py": "import db\nfrom model.formats import PRESENT\n",
        "db/videos.py": "from model.formats import PRESENT\nfrom sqlalchemy import select\n",
        "model/formats.py": "PRESENT = 1\n",
    })
    assert layer_violations(root) == []
