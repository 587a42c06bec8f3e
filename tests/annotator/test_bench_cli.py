"""`au-annotator bench` runs every stage and ends with the line scripts can parse."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # times the whole pipeline


def test_bench_prints_stage_times_each_stages_milliseconds_and_the_summary_line(single_face):
    """One run with --stages (the pipeline timed twice would double the test's time): what
    a plain run prints, each stage alone, and the summary line last."""
    result = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "bench", str(single_face), "--stages"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("network:") for line in lines)
    assert "frames=72 " in result.stdout
    summary = re.fullmatch(
        r"end_to_end_fps=([\d.]+) reference_fps=([\d.]+) ratio=([\d.]+)", lines[-1]
    )
    assert summary, lines[-1]
    ours, reference, ratio = map(float, summary.groups())
    assert ours > 0 and reference > 0
    # the printed figures are rounded, so their quotient is only close to the ratio
    assert ratio == pytest.approx(ours / reference, rel=0.03, abs=0.01)

    stages = dict(re.findall(r"^stage (.+): ([\d.]+) ms/frame$", result.stdout, re.MULTILINE))
    assert list(stages) == ["decode", "detection", "landmark fit", "alignment",
                            "gray and edge images", "motion", "expression network",
                            "descriptors", "prediction (cold start)"]
    assert all(float(value) >= 0 for value in stages.values())
    assert float(stages["detection"]) > 0 and float(stages["expression network"]) > 0
