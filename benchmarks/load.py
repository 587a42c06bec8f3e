"""Eight coders correcting one video at once through the app's service layer: is every edit kept?

Builds a throwaway SQLite database (or, with --db, uses an empty database at that URL, e.g.
PostgreSQL) holding one 30-minute 30 fps video with a stored prediction run, then runs one
thread per coder, as the app server serves each coder's page from a thread of its own, for
--seconds. Each coder has an account (db.coders) and signs in first, as on a served app; then
marks ranges of one to three AUs present, absent or not codable
(annotator.services.actions.set_label, naming the run the page shows), accepts the pre-fill of a
range, undoes and redoes, and redraws the page (actions.review_state) after each action.

Every coder keeps a log of what the service layer acknowledged. At the end the store is checked
against the logs: each acknowledged edit must be stored, in order, with its intervals (`lost`
counts those that are not), and each coder's effective labels must equal the labels replayed
from its own log over the pre-fill (`mismatched` counts coders whose do not).

Prints `coders=8 edits=N p50_ms=… p95_ms=… lost=0 …`: edits are acknowledged actions that
stored something, the latencies those of one action (stored and committed), redraw_p95_ms that
of the page's redraw after it. Exits 1 when an edit was lost, labels differ, or an action failed.
Run: python benchmarks/load.py [--seconds 60] [--coders 8] [--frames N] [--db URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import db
from annotator.services import Services, actions
from model.au_sets import NOT_CODED, au_names

AU_SET = "abaw2020"
AUS = au_names(AU_SET)
LONGEST_RANGE = 300  # frames: a 10-second stretch at 30 fps
ACTIONS = (("set", 0.70), ("accept", 0.10), ("undo", 0.12), ("redo", 0.08))


def build(url: str, frames: int, coders: list[str], seed: int = 0) -> tuple[int, int]:
    """(video id, run id) of one pre-filled video, with an account for each coder."""
    rng = np.random.default_rng(seed)
    with db.open_database(url).begin() as session:
        video = db.register_video(session, content_hash=f"{seed:064x}", path="/bench/load.mp4",
                                  fps=30.0, frame_count=frames, width=1280, height=720)
        probabilities = rng.random((frames, len(AUS)), dtype=np.float32)
        probabilities[rng.random(frames) < 0.05] = np.nan  # some frames without a face
        parameters = db.PredictionParameters(AU_SET, dict.fromkeys(AUS, 0.5), 15)
        run = db.store_prediction_run(session, video, probabilities, parameters)
        for coder in coders:
            db.add_account(session, coder, password(coder))
        return video.id, run.id


def password(coder: str) -> str:
    return f"{coder}-load-test"


@dataclass
class Coder:
    """One coder's page: its own replay of what it did, and what the service layer said."""

    name: str
    prefill: np.ndarray  # (T, K) int8, the same for every coder
    seed: int
    active: list[list] = field(default_factory=list)  # edits that count, oldest first
    undone: list[list] = field(default_factory=list)  # what redo would restore
    log: list[tuple] = field(default_factory=list)  # acknowledged edits, in order
    contents: int = 0  # acknowledged edits that carry labels (set, accept)
    action_ms: list[float] = field(default_factory=list)
    redraw_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    def replay(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, reviewed) as the log says they must be: the active edits over the pre-fill."""
        labels, reviewed = self.prefill.copy(), np.zeros(self.prefill.shape, bool)
        for _, _, intervals in self.active:
            for au, first, last, value in intervals:
                k = AUS.index(au)
                labels[first:last + 1, k] = value
                reviewed[first:last + 1, k] = True
        return labels, reviewed

    def work(self, url: str, video_id: int, run_id: int, start: threading.Barrier,
             seconds: float) -> None:
        rng = random.Random(self.seed)
        frames = len(self.prefill)
        if actions.sign_in(Services.open(url), self.name, password(self.name)) is None:
            self.errors["could not sign in"] += 1
        start.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            kind = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
            first = rng.randrange(frames)
            last = min(frames - 1, first + rng.randrange(LONGEST_RANGE))
            chosen = tuple(sorted(rng.sample(AUS, rng.randint(1, 3)), key=AUS.index))
            value = rng.choice((1, 0, NOT_CODED))
            began = time.perf_counter()
            try:
                if kind == "set":
                    actions.set_label(Services.open(url), video_id, self.name, chosen, first,
                                      last, value,
                                      seen_run=run_id)
                    stored = True
                elif kind == "accept":
                    stored = actions.accept_prefill(Services.open(url), video_id, self.name,
                                                    chosen, first, last,
                                                    seen_run=run_id)
                elif kind == "undo":
                    stored = actions.undo(Services.open(url), video_id, self.name)
                else:
                    stored = actions.redo(Services.open(url), video_id, self.name)
            except Exception as error:  # counted: the benchmark fails on any
                self.errors[f"{kind}: {type(error).__name__}: {error}"[:200]] += 1
                continue
            self.action_ms.append((time.perf_counter() - began) * 1000)
            self._acknowledged(kind, stored, chosen, first, last, value)
            began = time.perf_counter()
            actions.review_state(Services.open(url), video_id, self.name)
            self.redraw_ms.append((time.perf_counter() - began) * 1000)

    def _acknowledged(self, kind: str, stored: bool, chosen, first: int, last: int,
                      value: int) -> None:
        """Apply an acknowledged action to this coder's replay, checking what it returned."""
        if kind in ("set", "accept"):
            if kind == "set":
                intervals = [(au, first, last, value) for au in chosen]
            else:
                intervals = self._accepted(chosen, first, last)
            if stored != bool(intervals):
                self.errors[f"{kind} returned {stored}, the replay expected {bool(intervals)}"] += 1
            if intervals:
                self.contents += 1
                edit = [self.contents, "edit" if kind == "set" else "accept",
                        tuple(sorted(intervals))]
                self.active.append(edit)
                self.undone.clear()
                self.log.append(tuple(edit))
            return
        source, target = (self.active, self.undone) if kind == "undo" else (self.undone,
                                                                             self.active)
        if stored != bool(source):
            self.errors[f"{kind} returned {stored}, the replay expected {bool(source)}"] += 1
        if stored and source:
            edit = source.pop()
            target.append(edit)
            self.log.append((edit[0], kind, ()))

    def _accepted(self, chosen, first: int, last: int) -> list[tuple]:
        """The pre-fill of the unreviewed frames of the range: runs of equal values per AU."""
        # what the active edits reviewed of the range alone (replaying whole tracks here would
        # take the interpreter lock from the coders being timed)
        reviewed = np.zeros((last - first + 1, len(AUS)), bool)
        for _, _, edit_intervals in self.active:
            for au, start, end, _ in edit_intervals:
                if start <= last and end >= first:
                    reviewed[max(start, first) - first:min(end, last) - first + 1,
                             AUS.index(au)] = True
        intervals = []
        for au in chosen:
            k = AUS.index(au)
            open_frames = ~reviewed[:, k]
            values = self.prefill[first:last + 1, k]
            run_start = None
            for offset in range(last - first + 2):
                inside = offset <= last - first and open_frames[offset]
                if run_start is not None and (not inside or values[offset] != values[run_start]):
                    intervals.append((au, first + run_start, first + offset - 1,
                                      int(values[run_start])))
                    run_start = None
                if inside and run_start is None:
                    run_start = offset
        return intervals


def stored_logs(url: str, video_id: int) -> dict[str, list[tuple]]:
    """Each coder's stored edits in order, in the form Coder.log keeps them."""
    with db.open_database(url, read_only=True).begin() as session:
        rows = db.history(session, video_id)
    edits: dict[int, dict] = {}
    for row in rows:
        edit = edits.setdefault(row.edit_id, {"coder": row.coder, "kind": row.kind,
                                              "target": row.target_edit_id, "intervals": []})
        if row.au is not None:
            edit["intervals"].append((row.au, row.first_frame, row.last_frame, row.value))
    logs: dict[str, list[tuple]] = {}
    ordinal: dict[int, int] = {}  # edit id → its place among the coder's labelling edits
    contents: Counter = Counter()
    for edit_id in sorted(edits):
        edit = edits[edit_id]
        coder = edit["coder"]
        if edit["target"] is None:
            contents[coder] += 1
            ordinal[edit_id] = contents[coder]
            entry = (contents[coder], edit["kind"], tuple(sorted(edit["intervals"])))
        else:
            entry = (ordinal[edit["target"]], edit["kind"], ())
        logs.setdefault(coder, []).append(entry)
    return logs


def check(url: str, video_id: int, coders: list[Coder]) -> tuple[int, int]:
    """(acknowledged edits not stored, coders whose stored edits or labels differ from
    their log: an edit stored that nobody acknowledged, out of order, or other labels)."""
    stored = stored_logs(url, video_id)
    lost = mismatched = 0
    with db.open_database(url, read_only=True).begin() as session:
        video = db.get_video(session, video_id)
        for coder in coders:
            theirs = stored.get(coder.name, [])
            lost += sum((Counter(coder.log) - Counter(theirs)).values())
            found = db.effective_labels(session, video, coder.name, au_set=AU_SET)
            labels, reviewed = coder.replay()
            if theirs != coder.log or not (np.array_equal(found.labels, labels)
                                           and np.array_equal(found.reviewed, reviewed)):
                mismatched += 1
    return lost, mismatched


def run(url: str, coders: int, seconds: float, frames: int, seed: int = 0) -> dict:
    names = [f"coder{i + 1}" for i in range(coders)]
    video_id, run_id = build(url, frames, names, seed)
    with db.open_database(url, read_only=True).begin() as session:
        prefill = db.effective_labels(session, db.get_video(session, video_id), None).prefill
    pages = [Coder(name, prefill, seed * 1000 + i) for i, name in enumerate(names)]
    start = threading.Barrier(coders)
    threads = [threading.Thread(target=page.work, args=(url, video_id, run_id, start, seconds),
                                name=page.name) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lost, mismatched = check(url, video_id, pages)
    timings = [ms for page in pages for ms in page.action_ms]
    redraws = [ms for page in pages for ms in page.redraw_ms]
    errors = sum((page.errors for page in pages), Counter())
    return {"edits": sum(len(page.log) for page in pages), "actions": len(timings),
            "action_ms": timings, "redraw_ms": redraws, "lost": lost,
            "mismatched": mismatched, "errors": errors}


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--coders", type=int, default=8)
    parser.add_argument("--frames", type=int, default=30 * 60 * 30)
    parser.add_argument("--db", metavar="URL",
                        help="an empty database to use (default: a throwaway SQLite file)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'load.sqlite3'}"
        result = run(url, args.coders, args.seconds, args.frames, args.seed)
    timings, redraws, errors = result["action_ms"], result["redraw_ms"], result["errors"]
    print(f"database={db.printable_url(url).split(':')[0]} frames={args.frames} "
          f"seconds={args.seconds:g} actions={result['actions']} "
          f"actions_per_s={result['actions'] / args.seconds:.1f}")
    print(f"coders={args.coders} edits={result['edits']} "
          f"p50_ms={statistics.median(timings) if timings else float('nan'):.1f} "
          f"p95_ms={percentile(timings, 95):.1f} max_ms={max(timings, default=float('nan')):.1f} "
          f"redraw_p95_ms={percentile(redraws, 95):.1f} lost={result['lost']} "
          f"mismatched={result['mismatched']} errors={sum(errors.values())}")
    for problem, count in errors.most_common(5):
        print(f"error ×{count}: {problem}")
    return 1 if result["lost"] or result["mismatched"] or errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
