"""The first guess before any correction: per-AU agreement of the default pre-fill with the
labels judged by eye of the bundled clips (tests/data/eye_labels), geometry alone beside the
fused pre-fill (geometry + expression, model.fusion).

    python benchmarks/prefill_accuracy.py

Both pre-fills go through the product's own post-processing (smoothing window and thresholds of
the predictor); every frame × AU judged by eye counts, none was learnt from (the pre-fill learns
nothing from these labels).
"""

from __future__ import annotations

import numpy as np
from eye_labels import AUS, DEMO, SINGLE_FACE, agreement, eye_labels, format_agreement

from annotator.processing.extraction import features_for_video
from model.au_sets import NOT_CODED
from model.baseline import GeometryBaseline, load_baseline
from model.smoothing import prefill_labels


def judged_aus(truth: np.ndarray) -> tuple[str, ...]:
    return tuple(au for k, au in enumerate(AUS) if (truth[:, k] != NOT_CODED).any())


def main() -> int:
    worse = False
    for video in (DEMO, SINGLE_FACE):
        features = features_for_video(video)
        truth = eye_labels(video)
        every = np.ones(len(truth), bool)
        scores = {}
        for name, predictor in (("geometry alone", GeometryBaseline()),
                                ("fused (default)", load_baseline())):
            labels = prefill_labels(predictor.predict(features), predictor.thresholds,
                                    predictor.smoothing_window)
            scores[name] = agreement(labels, truth, every, judged_aus(truth))
        print(f"--- {video.name}: {len(truth)} frames, agreement with the eye labels ---")
        for name, score in scores.items():
            print(format_agreement(name, score))
        worse |= scores["fused (default)"]["pooled"][0] < scores["geometry alone"]["pooled"][0]
    print("no clip worse than geometry alone" if not worse else "a clip got worse")
    return int(worse)


if __name__ == "__main__":
    raise SystemExit(main())
