"""In-video adaptation, the fast learner (model.learners): per-AU logistic models fitted on one
video's frame descriptors (model.descriptors) and reviewed frames, that keep the video's
pre-fill (the prior) wherever the reviewed frames say nothing. `InVideoAdaptation.fit` is the
learner; `adapt` does the arithmetic on plain arrays.

For each AU the adapted logit of a frame is z = w · x + b, where x are the frame's descriptors
(appearance reduced to its main components, and geometry with the expression network's
probabilities; the appearance with the video's median taken off, all scaled), fitted by
penalised logistic regression on the reviewed frames (this video's fully, other videos'
reviewed frames as support with a smaller weight) and, with a small weight, on the prior's
own output on a sample of unreviewed frames as soft targets:

    ℓ = clip(logit(p_prior) − logit(threshold_prior)),  soft target σ(ℓ)

so where the coder has said nothing the prior still speaks. The prior's output is not an input
of the fit: a geometry baseline that misses a laugh would otherwise be trusted on exactly the
frames it gets wrong (on the demo clip that costs about 0.1 of agreement). The adapted
probability σ(z) is thresholded at 0.5.

Guarantees the application relies on:
- an AU without any reviewed frame keeps the prior's probabilities and threshold, bit for bit;
- an AU reviewed only present (or only absent; or the other value on a handful of frames) may
  move, but at most MAX_ONE_SIDED_SHIFT of the unreviewed face frames change to that value: the
  labels show one side only, so nothing says the whole video is that way;
- where blocked cross-validation (fit on some reviewed stretches, score the others) finds the
  adapted model less accurate than the prior, the AU keeps the prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from model.au_sets import NOT_CODED, au_names
from model.learners import LearnStep, Progress, announce, no_progress
from model.predictors import RecordedPrediction
from model.smoothing import prefill_labels

ADAPTED_KIND = "adapted"  # the kind (model.predictors) of what adaptation gives

COMPONENTS = 50  # main components of the appearance descriptors kept
PRIOR_LOGIT_LIMIT = 6.0  # |ℓ| at most: a saturated prior is a soft target, not a certainty
PENALTY = 10.0  # L2 strength on w, in units of one reviewed frame
ANCHOR_WEIGHT = 0.02  # weight of one unreviewed frame's soft target (the prior's output)
SUPPORT_WEIGHT = 0.3  # weight of one reviewed frame of another video
MAX_ONE_SIDED_SHIFT = 0.25
# An AU whose rarer reviewed value has fewer frames than this (or this share) counts as
# reviewed one way only: a handful of frames cannot show what the other value looks like.
MIN_CLASS_FRAMES, MIN_CLASS_SHARE = 10, 0.02
PRIOR_AGREES = 0.95  # ... and where the prior already gets this share of them right, it stays
MAX_ROWS = 4000  # reviewed frames per fit (consecutive frames say little more); anchors likewise
STRETCH_S = 2.0  # cross-validation blocks: reviewed stretches cut to at most this long
FOLDS = 8
CV_ROWS = 1500  # rows per cross-validation fit: an estimate need not be as sharp as the model
MIN_CV_FRAMES = 100  # fewer cross-validated frames say too little to overrule adapting
CV_MARGIN = 0.02  # adapting must score this much lower than the prior before it is dropped
NEWTON_STEPS = 25


@dataclass
class AdaptationInputs:
    """One video's descriptors, prior and reviewed labels (T frames, K AUs)."""

    appearance: np.ndarray  # (T, D) descriptors (model.descriptors), any float dtype
    geometry: np.ndarray  # (T, G) geometry and expression columns, NaN where no face
    face: np.ndarray  # (T,) bool
    prior: np.ndarray  # (T, K) float32 prior probabilities, NaN rows without a face
    thresholds: np.ndarray  # (K,) the prior's thresholds
    smoothing_window: int
    labels: np.ndarray  # (T, K) int8 reviewed values, -1 unreviewed (or reviewed as not codable)
    fps: float
    # other videos' reviewed frames as support: (appearance, geometry, labels), each video's
    # rows with its own median appearance (the neutral face of that person)
    support: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list)


@dataclass(frozen=True)
class AUReport:
    au: str
    reviewed_frames: int  # of this video
    support_frames: int  # of other videos
    adapted: bool  # False: the prior's output is kept
    reason: str  # why (one line a coder can read)
    cv_frames: int  # reviewed frames scored in cross-validation
    cv_agreement: float | None  # share of cross-validated frames the adapted pre-fill gets right
    cv_agreement_prior: float | None  # the same frames, the prior's pre-fill
    changed_frames: int  # unreviewed face frames whose pre-fill label changed


@dataclass
class Adaptation:
    probabilities: np.ndarray  # (T, K) float32, NaN rows without a face
    thresholds: np.ndarray  # (K,) 0.5 where adapted, the prior's elsewhere
    reports: list[AUReport]

    @property
    def adapted_aus(self) -> list[str]:
        return [report.au for report in self.reports if report.adapted]


@dataclass(frozen=True)
class VideoReview:
    """One video's reviewed frames as in-video adaptation learns from them (T frames, K AUs)."""

    appearance: np.ndarray  # (T, D) descriptors (model.descriptors), any float dtype
    geometry: np.ndarray  # (T, G) geometry and expression columns, NaN where no face
    face: np.ndarray  # (T,) bool
    labels: np.ndarray  # (T, K) int8 reviewed values, -1 unreviewed (or not codable)
    fps: float
    # other videos' reviewed frames as support (AdaptationInputs.support)
    support: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list)


@dataclass(frozen=True)
class AdaptedPrediction:
    """What in-video adaptation gives: the video's adapted pre-fill as a predictor of kind
    ADAPTED_KIND (thresholds 0.5 where adapted, the prior's elsewhere; the prior's smoothing
    and hold), and a report per AU."""

    predictor: RecordedPrediction
    reports: list[AUReport]

    @property
    def learnt_aus(self) -> list[str]:
        return [report.au for report in self.reports if report.adapted]


class InVideoAdaptation:
    """The learner (model.learners.Learner) of one video: `fit` adapts the prior's recorded
    output on the video (a RecordedPrediction) to the video's reviewed frames."""

    kind = ADAPTED_KIND

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, reviewed: VideoReview, prior: RecordedPrediction,
            progress: Progress = no_progress) -> AdaptedPrediction:
        inputs = AdaptationInputs(
            reviewed.appearance, reviewed.geometry, reviewed.face, prior.probabilities,
            prior.thresholds, prior.smoothing_window, reviewed.labels, reviewed.fps,
            reviewed.support,
        )
        adaptation = adapt(inputs, au_names(prior.au_set), self.seed, progress)
        adapted = replace(prior, kind=ADAPTED_KIND, probabilities=adaptation.probabilities,
                          thresholds=adaptation.thresholds)
        return AdaptedPrediction(adapted, adaptation.reports)


class Space:
    """The learner's feature space for one video: appearance minus the video's median, reduced
    to its main components, and geometry; both scaled to unit spread."""

    def __init__(self, appearance: np.ndarray, geometry: np.ndarray, face: np.ndarray,
                 rng: np.random.Generator):
        rows = np.flatnonzero(face)
        sample = rows if len(rows) <= 6000 else np.sort(rng.choice(rows, 6000, replace=False))
        self.median = np.median(appearance[sample].astype(np.float32), axis=0)
        centred = appearance[sample].astype(np.float32) - self.median
        self.mean = centred.mean(axis=0)
        self.basis = _main_components(centred - self.mean, COMPONENTS, rng)  # (D, C)
        projected = (centred - self.mean) @ self.basis
        self.scale = projected.std(axis=0) + 1e-6
        geometry_sample = np.nan_to_num(geometry[sample].astype(np.float64))
        self.geometry_scale = geometry_sample.std(axis=0) + 1e-6

    def transform(self, appearance: np.ndarray, geometry: np.ndarray,
                  median: np.ndarray | None = None) -> np.ndarray:
        """(N, C + G) learner inputs; another video's rows come with that video's `median`."""
        median = self.median if median is None else median
        out = np.empty((len(appearance), self.basis.shape[1] + geometry.shape[1]), np.float64)
        for start in range(0, len(appearance), 8192):
            part = appearance[start : start + 8192].astype(np.float32) - median - self.mean
            out[start : start + 8192, : self.basis.shape[1]] = (part @ self.basis) / self.scale
        out[:, self.basis.shape[1] :] = np.nan_to_num(geometry) / self.geometry_scale
        return out


def prior_logits(prior: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """ℓ: (T, K) logit of the prior's probability minus its threshold's, clipped; 0 for NaN."""
    p = np.clip(np.nan_to_num(prior.astype(np.float64), nan=0.5), 1e-6, 1 - 1e-6)
    t = np.clip(np.asarray(thresholds, np.float64), 1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p)) - np.log(t / (1 - t))
    return np.clip(logits, -PRIOR_LOGIT_LIMIT, PRIOR_LOGIT_LIMIT)


def adapt(inputs: AdaptationInputs, aus: tuple[str, ...], seed: int = 0,
          progress: Progress = no_progress) -> Adaptation:
    """Adapted probabilities and thresholds for one video, with a report per AU; `progress`
    hears of each AU before it is learnt, and may stop adapting there (LearningCancelled)."""
    rng = np.random.default_rng(seed)
    probabilities = inputs.prior.astype(np.float32).copy()
    thresholds = np.asarray(inputs.thresholds, np.float32).copy()
    reviewed = (inputs.labels != NOT_CODED) & inputs.face[:, None]
    if not reviewed.any():
        reports = [_kept(au, 0, _support_count(inputs, k), "no reviewed frames")
                   for k, au in enumerate(aus)]
        return Adaptation(probabilities, thresholds, reports)
    space = Space(inputs.appearance, inputs.geometry, inputs.face, rng)
    features = space.transform(inputs.appearance, inputs.geometry)  # (T, F)
    logits = prior_logits(inputs.prior, inputs.thresholds)
    support = [(space.transform(a, g, median), y) for a, g, median, y in inputs.support]
    reports = []
    for k, au in enumerate(aus):
        announce(progress, LearnStep(k / len(aus), f"learning {au}"))
        column, report = _adapt_one(inputs, features, logits[:, k], support, k, au, rng)
        reports.append(report)
        if report.adapted:
            probabilities[:, k] = column
            thresholds[k] = 0.5
    return Adaptation(probabilities, thresholds, reports)


def _support_count(inputs: AdaptationInputs, k: int) -> int:
    return int(sum((y[:, k] != NOT_CODED).sum() for *_, y in inputs.support))


def _kept(au: str, reviewed: int, support: int, reason: str, cv=(0, None, None)) -> AUReport:
    return AUReport(au, reviewed, support, False, reason, cv[0], cv[1], cv[2], 0)


def _adapt_one(inputs, features, logits, support, k, au, rng):
    labels = np.where(inputs.face, inputs.labels[:, k], NOT_CODED)
    rows = np.flatnonzero(labels != NOT_CODED)
    support_rows = [(x[y[:, k] != NOT_CODED], y[y[:, k] != NOT_CODED, k]) for x, y in support]
    support_frames = int(sum(len(y) for _, y in support_rows))
    if len(rows) == 0:
        return None, _kept(au, 0, support_frames, "no reviewed frames of this AU in this video")
    prior_labels = _prefill(inputs.prior[:, k], inputs.thresholds[k], inputs)
    present = int((labels[rows] == 1).sum())
    one_sided = min(present, len(rows) - present) < max(MIN_CLASS_FRAMES,
                                                       MIN_CLASS_SHARE * len(rows))
    if one_sided and (prior_labels[rows] == labels[rows]).mean() >= PRIOR_AGREES:
        return None, _kept(au, len(rows), support_frames, "kept the prior: it already agrees "
                           "with the reviewed frames, which show one value only")
    cv = _cross_validate(inputs, features, logits, labels, support_rows, prior_labels, rng)
    if cv[0] >= MIN_CV_FRAMES and cv[1] < cv[2] - CV_MARGIN:
        return None, _kept(au, len(rows), support_frames,
                           "kept the prior: adapting scored lower in cross-validation", cv)
    coefficients = _fit(features, labels, rows, support_rows, logits, inputs.face, rng)
    column = _probability(features, coefficients, inputs.face)
    reason = f"adapted on {len(rows)} reviewed frames"
    if one_sided:
        majority = int(present > len(rows) - present)
        column, shrunk = _limit_one_sided(column, logits, majority, labels, prior_labels, inputs)
        reason += " (reviewed one way only: " + ("change limited)" if shrunk else "moved)")
    adapted = _prefill(column, 0.5, inputs)
    unreviewed = inputs.face & (labels == NOT_CODED)
    changed = int((adapted[unreviewed] != prior_labels[unreviewed]).sum())
    report = AUReport(au, len(rows), support_frames, True, reason, cv[0], cv[1], cv[2], changed)
    return column, report


def _prefill(column: np.ndarray, threshold: float, inputs: AdaptationInputs) -> np.ndarray:
    return prefill_labels(column[:, None], np.float32(threshold), inputs.smoothing_window)[:, 0]


def _probability(features, coefficients, face) -> np.ndarray:
    z = features @ coefficients[1:] + coefficients[0]
    return np.where(face, 1.0 / (1.0 + np.exp(-z)), np.nan).astype(np.float32)


def _design(features: np.ndarray) -> np.ndarray:
    """[1, x]: an intercept and the descriptors."""
    return np.column_stack([np.ones(len(features)), features])


def _fit(features, labels, rows, support_rows, logits, face, rng, limit=MAX_ROWS) -> np.ndarray:
    """Penalised logistic regression by Newton's method; returns (b, w...)."""
    rows = _thin(rows, limit)
    unreviewed = _thin(np.flatnonzero(face & (labels == NOT_CODED)), limit, rng)
    parts = [(features[rows], labels[rows].astype(np.float64), np.ones(len(rows)))]
    for x, y in support_rows:
        chosen = _thin(np.arange(len(y)), limit // 2)
        parts.append((x[chosen], y[chosen].astype(np.float64),
                      np.full(len(chosen), SUPPORT_WEIGHT)))
    if len(unreviewed):
        soft = 1.0 / (1.0 + np.exp(-logits[unreviewed]))
        parts.append((features[unreviewed], soft, np.full(len(unreviewed), ANCHOR_WEIGHT)))
    design = _design(np.concatenate([p[0] for p in parts]))
    target = np.concatenate([p[1] for p in parts])
    weight = np.concatenate([p[2] for p in parts])
    penalty = np.full(design.shape[1], PENALTY)
    penalty[0] = 1e-3  # the intercept is free to find each AU's base rate
    return _newton(design, target, weight, np.zeros(design.shape[1]), penalty)


def _newton(design, target, weight, start, penalty) -> np.ndarray:
    """argmin Σ weight·BCE(target, σ(design·β)) + Σ penalty·(β − start)², by Newton steps with
    backtracking (the objective is convex, so this converges from any start)."""

    def objective(beta: np.ndarray) -> float:
        z = design @ beta
        # BCE with logits, stable for any z: log(1 + e^z) − target·z
        loss = np.logaddexp(0.0, z) - target * z
        return float(weight @ loss + penalty @ np.square(beta - start))

    beta = start.copy()
    value = objective(beta)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (weight * (p - target)) + 2 * penalty * (beta - start)
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + np.diag(2 * penalty)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-4:
            candidate = beta - size * step
            candidate_value = objective(candidate)
            if candidate_value <= value - 1e-4 * size * float(gradient @ step):
                break
            size /= 2
        else:
            break
        beta, improvement, value = candidate, value - candidate_value, candidate_value
        if improvement < 1e-7 * (1 + abs(value)):
            break
    return beta


def _thin(rows: np.ndarray, limit: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """At most `limit` of `rows`: evenly spaced (or a random sample with `rng`)."""
    if len(rows) <= limit:
        return rows
    if rng is not None:
        return np.sort(rng.choice(rows, limit, replace=False))
    return rows[np.linspace(0, len(rows) - 1, limit).round().astype(int)]


def _limit_one_sided(column, logits, value, labels, prior_labels, inputs):
    """Shrink the move away from the prior until at most MAX_ONE_SIDED_SHIFT of the unreviewed
    face frames changed to `value`; (column, whether it had to shrink)."""
    unreviewed = inputs.face & (labels == NOT_CODED)
    if not unreviewed.any():
        return column, False
    prior_z = logits
    adapted_z = np.log(np.clip(column, 1e-9, 1)) - np.log(np.clip(1 - column, 1e-9, 1))

    def shifted(share: float) -> tuple[np.ndarray, float]:
        z = prior_z + share * (np.nan_to_num(adapted_z) - prior_z)
        candidate = np.where(inputs.face, 1.0 / (1.0 + np.exp(-z)), np.nan).astype(np.float32)
        labels_now = _prefill(candidate, 0.5, inputs)
        moved = (labels_now[unreviewed] == value) & (prior_labels[unreviewed] != value)
        return candidate, moved.mean()

    candidate, moved = shifted(1.0)
    if moved <= MAX_ONE_SIDED_SHIFT:
        return column, False
    low, high = 0.0, 1.0
    for _ in range(20):
        middle = (low + high) / 2
        if shifted(middle)[1] <= MAX_ONE_SIDED_SHIFT:
            low = middle
        else:
            high = middle
    return shifted(low)[0], True


def stretches(rows: np.ndarray, longest: int) -> list[np.ndarray]:
    """Runs of consecutive frame numbers in sorted `rows`, cut to at most `longest` frames."""
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    pieces = []
    for run in np.split(rows, breaks):
        pieces += [run[i : i + longest] for i in range(0, len(run), longest)]
    return pieces


def _cross_validate(inputs, features, logits, labels, support_rows, prior_labels, rng):
    """(frames scored, adapted agreement, prior agreement) over held-out reviewed stretches;
    (0, None, None) when nothing could be scored.

    Stretches are dealt into folds in time order, so each fold's training stretches surround
    its held-out ones. A held-out frame counts only when its value occurs in its fold's training
    labels: a stretch that is the only present one cannot be learnt without itself, and scoring
    it would measure how few stretches there are, not how good adapting is."""
    rows = np.flatnonzero(labels != NOT_CODED)
    blocks = stretches(rows, max(1, round(STRETCH_S * (inputs.fps or 25))))
    if len(blocks) < 2:
        return 0, None, None
    folds = min(FOLDS, len(blocks))
    right = right_prior = scored = 0
    for fold in range(folds):
        held = np.concatenate(blocks[fold::folds])
        train_labels = labels.copy()
        train_labels[held] = NOT_CODED
        train_rows = np.flatnonzero(train_labels != NOT_CODED)
        held = held[np.isin(labels[held], train_labels[train_rows])]
        if len(held) == 0:
            continue
        coefficients = _fit(features, train_labels, train_rows, support_rows, logits,
                            inputs.face, rng, CV_ROWS)
        predicted = _prefill(_probability(features, coefficients, inputs.face), 0.5, inputs)
        right += int((predicted[held] == labels[held]).sum())
        right_prior += int((prior_labels[held] == labels[held]).sum())
        scored += len(held)
    if scored == 0:
        return 0, None, None
    return scored, right / scored, right_prior / scored


def _main_components(centred: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(D, count) orthonormal directions of largest spread (randomised range finder with two
    power iterations; exact enough for a learner's inputs and fast on thousands of rows)."""
    count = min(count, *centred.shape)
    probe = rng.standard_normal((centred.shape[1], count + 8)).astype(np.float32)
    basis, _ = np.linalg.qr(centred @ probe)
    for _ in range(2):
        basis, _ = np.linalg.qr(centred @ (centred.T @ basis))
    small = basis.T @ centred  # (count + 8, D)
    _, _, directions = np.linalg.svd(small, full_matrices=False)
    return directions[:count].T.astype(np.float32)
