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

- A house a newcomer can find things in: no module (or package) name used in two places
  (CLI groups under annotator/commands/ may mirror the nouns they work on), at most
  MAX_TOP_LEVEL modules at annotator/'s top level (the rest sits in packages named for what they
  do), and tests/model/ tests the model on its own (it imports no annotator/ nor db/).

Every module is read with `ast`, so a file that does not import cleanly is still checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"model": 0, "db": 1, "annotator": 2, "streamlit_app": 3}
SQL_LAYER = "db"
MAX_TOP_LEVEL = 10
MIRRORING = ("annotator", "commands")  # CLI groups named after the nouns they work on


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


def house_problems(root: Path) -> list[str]:
    """One line per name used by two modules or packages, for a crowded annotator/ top level,
    and per tests/model/ file importing a layer above model/."""
    problems = []
    places: dict[str, list[str]] = {}
    for module in project_modules(root):
        parts = module.split(".")
        if len(parts) < 2 or tuple(parts[:2]) == MIRRORING:
            continue
        places.setdefault(parts[-1], []).append(module)
    for name, modules in sorted(places.items()):
        if len(modules) > 1:
            problems.append(f"name used twice: {name} ({', '.join(sorted(modules))})")
    top = sorted(p.name for p in (root / "annotator").glob("*.py") if p.name != "__init__.py")
    if len(top) > MAX_TOP_LEVEL:
        problems.append(f"annotator/ has {len(top)} top-level modules (at most {MAX_TOP_LEVEL})")
    for path in sorted((root / "tests" / "model").glob("*.py")):
        names = imported_names(path, f"tests.model.{path.stem}")
        above = sorted({n.split(".")[0] for n in names} & {"annotator", "db", "streamlit_app"})
        if above:
            problems.append(f"tests/model/{path.name} imports {', '.join(above)}")
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


def test_the_house_has_one_name_per_module_a_short_top_level_and_model_tests_alone():
    assert house_problems(ROOT) == []


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


def test_a_name_used_twice_a_crowded_top_level_and_a_model_test_above_model_are_found(tmp_path):
    files = {
        "db/jobs.py": "", "annotator/jobs/__init__.py": "",  # a package counts as a name
        "annotator/learning/training.py": "", "model/training.py": "",
        "annotator/commands/videos.py": "", "db/videos.py": "",  # CLI groups may mirror
        "tests/model/test_network.py": "from annotator.processing import extraction\n",
        "tests/model/test_metrics.py": "from model.metrics import f1\n",
    }
    files.update({f"annotator/top{n}.py": "" for n in range(MAX_TOP_LEVEL + 1)})
    problems = house_problems(_house(tmp_path, files))
    assert "name used twice: jobs (annotator.jobs, db.jobs)" in problems
    assert "name used twice: training (annotator.learning.training, model.training)" in problems
    assert f"annotator/ has {MAX_TOP_LEVEL + 1} top-level modules (at most {MAX_TOP_LEVEL})" \
        in problems
    assert "tests/model/test_network.py imports annotator" in problems
    assert len(problems) == 4  # videos mirrored by a CLI group, test_metrics alone: both fine
