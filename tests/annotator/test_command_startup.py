"""Commands that train and predict nothing start without loading torch (about a second and a
half of a command's start on a laptop CPU): exporting, importing labels, projects and coders,
and the app's page until it processes a video. torch comes in when a command needs it."""

from __future__ import annotations

import subprocess
import sys

LIGHT = ("annotator.commands.as_coder", "annotator.commands.labels",
         "annotator.commands.projects", "annotator.commands.coders", "annotator.jobs",
         "annotator.services.actions", "annotator.ui.timeline", "annotator.ui.learning_panel",
         "annotator.ui.project_pages")


def packages_loaded(*steps: tuple[str, ...]) -> list[set[str]]:
    """Top-level packages in one fresh interpreter's sys.modules after each step's imports."""
    code = "import sys\n"
    for modules in steps:
        code += "".join(f"import {name}\n" for name in modules)
        code += "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    return [set(line.split()) for line in done.stdout.splitlines()]


def test_the_light_commands_and_the_page_start_without_torch_and_training_brings_it():
    light, training = packages_loaded(LIGHT, ("annotator.learning.finetuning",))
    assert "torch" not in light
    assert "torch" in training  # the check can fail: what trains loads it
