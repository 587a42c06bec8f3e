"""The README a newcomer reads first: short, its two commands the ones CI runs, its map of the
code true to the tree, and every link in it and in docs/ leading somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from annotator import DEMO_VIDEO

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 150
LAYERED = ("annotator", "db", "model")  # the import packages; each sub-package gets a map line
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# a path into the repository as the pages write it (not inside another path: ~/.local/share/...)
REPOSITORY_PATH = re.compile(
    r"(?<![\w\-/.~$])(?:annotator|db|model|tests|benchmarks|scripts|docs)/[\w/.\-]*")
DOTTED = re.compile(r"`((?:annotator|db|model)(?:\.\w+)+)")  # a module, or a name in one


def readme() -> str:
    return README.read_text(encoding="utf-8")


def first_block_commands(text: str) -> list[str]:
    """The commands of the first fenced block, comments and blank lines left out."""
    block = FENCED.search(text).group(0).splitlines()[1:-1]
    return [line.split("#", 1)[0].strip() for line in block if line.split("#", 1)[0].strip()]


def script_commands(path: Path) -> list[str]:
    """The command lines of a shell script, comments and blank lines left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def section(text: str, title: str) -> str:
    """The text under the `## title` heading, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def map_entries(text: str) -> dict[str, str]:
    """Each line of the map: the path it starts with → what it says that path holds."""
    entries = {}
    for item in re.findall(r"^- (.*?)(?=^- |^\S|\Z)", text, re.MULTILINE | re.DOTALL):
        match = re.match(r"`([^`]+)`:?\s*(.*)", item, re.DOTALL)
        if match:
            entries[match.group(1)] = " ".join(match.group(2).split())
    return entries


def packages() -> list[str]:
    """Every package (a folder with __init__.py) of the layered code, as `annotator/ui/`."""
    found = []
    for top in LAYERED:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            found.append(init.parent.relative_to(ROOT).as_posix() + "/")
    return found


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces → -."""
    headings = re.findall(r"^#+ (.+)$", FENCED.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def relative_links(path: Path) -> list[str]:
    """Links of a markdown page that point into the repository (code spans left out)."""
    text = INLINE_CODE.sub("", FENCED.sub("", path.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text)
            if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


def pages() -> list[Path]:
    return [README, ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_short():
    assert len(readme().splitlines()) <= MAX_LINES


def test_the_readme_starts_with_the_app_and_the_test_command():
    assert first_block_commands(readme()) == ["bash scripts/app", "bash scripts/test"]


def test_the_readme_test_command_is_what_ci_runs():
    assert script_commands(ROOT / ".ci" / "run")[-1] == first_block_commands(readme())[1]


def test_the_app_command_sets_up_and_serves_the_demo_with_the_default_database():
    commands = script_commands(ROOT / "scripts" / "app")
    assert "bash scripts/setup" in commands
    assert commands[-1] == 'exec au-annotator app "$@"'  # no --db: the default database
    assert DEMO_VIDEO.is_file()


def test_the_readme_names_the_fast_subset_and_the_test_command_passes_it_on():
    assert 'bash scripts/test -m "not slow"' in readme().splitlines()
    runs = [command for command in script_commands(ROOT / "scripts" / "test")
            if command.startswith("python -m pytest")]
    assert runs and runs[-1].endswith('"$@"')
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r"markers = \[.*\"slow:", pyproject)


def test_every_path_in_the_code_map_exists():
    named = [token for token in INLINE_CODE.findall(section(readme(), "Where the code lives"))
             if "/" in token or token.endswith(".py`")]
    assert named
    missing = [token for token in named if not (ROOT / token.strip("`")).exists()]
    assert missing == []


def test_every_package_has_a_line_in_the_code_map_saying_what_it_holds():
    entries = map_entries(section(readme(), "Where the code lives"))
    unmapped = [package for package in packages() if not entries.get(package)]
    assert unmapped == []


def test_every_top_level_folder_and_module_of_code_is_in_the_code_map():
    code_map = section(readme(), "Where the code lives")
    entries = map_entries(code_map)
    folders = [path.name + "/" for path in sorted(ROOT.iterdir())
               if path.is_dir() and not path.name.startswith(".") and any(path.rglob("*.py"))]
    modules = [path.name for path in sorted(ROOT.glob("*.py"))]
    assert [folder for folder in folders if not entries.get(folder)] == []
    assert [module for module in modules if f"`{module}`" not in code_map] == []


def test_every_relative_link_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in pages():
        for target in relative_links(page):
            file_part, _, anchor = target.partition("#")
            destination = (page.parent / file_part).resolve() if file_part else page
            if not destination.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in anchors(destination.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def names_a_module(dotted: str) -> bool:
    """Whether `dotted` (model.smoothing.prefill_labels, db.HEARTBEAT_S) starts with a module
    of ours, or is a name the top package defines."""
    parts = dotted.split(".")
    for end in range(len(parts), 1, -1):
        path = ROOT.joinpath(*parts[:end])
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return True
    package = (ROOT / parts[0] / "__init__.py").read_text(encoding="utf-8")
    return re.search(rf"\b{parts[1]}\b", package) is not None


def test_every_file_and_module_the_pages_name_exists():
    missing = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        missing += [f"{page.name}: {path}" for path in REPOSITORY_PATH.findall(text)
                    if not (ROOT / path.rstrip(".")).exists()]
        missing += [f"{page.name}: {dotted}" for dotted in DOTTED.findall(text)
                    if not names_a_module(dotted)]
    assert missing == []


def test_every_page_in_docs_is_linked_from_the_readme():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(README)}
    orphans = [page.name for page in sorted((ROOT / "docs").glob("*.md")) if page not in linked]
    assert orphans == []
