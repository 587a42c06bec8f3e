"""Atomic writes: readers see the old file or the new one; leftovers of killed writers go."""

from __future__ import annotations

import os
import time

import pytest

from model.files import atomic_path, remove_stale_partials, write_text_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_text_atomically(tmp_path / "labels.txt", "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half of the new")
        raise RuntimeError("the writer fails part-way")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.txt"]


def test_temporaries_left_by_killed_writers_are_removed_once_old(tmp_path):
    old = tmp_path / ".features.4242-ab12cd34.partial.npz"
    fresh = tmp_path / ".features.4243-ef56ab78.partial.npz"
    kept = tmp_path / "features.npz"
    for file in (old, fresh, kept):
        file.write_bytes(b"x")
    an_hour_ago = time.time() - 2 * 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(kept, (an_hour_ago, an_hour_ago))
    assert remove_stale_partials(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, kept.name])
