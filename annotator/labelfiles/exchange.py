"""What the label exports for other tools need from the video, and two of those formats: the
frames' real times, the OpenFace CSV and the BORIS project (ELAN files are in
annotator.labelfiles.elan).

Frame times. Every decoded frame has its presentation time, kept with the video's landmarks
(annotator.processing.extraction caches them when the video is processed), so a variable-frame-rate
video gets its true times. A frame lasts until the next one starts; the last frame lasts as long as
the median frame. When the video file is no longer where it was processed, times fall back to
frame / fps with a logged warning; the OpenFace CSV, which carries the landmarks, then refuses
with an InputError instead. A file at the path whose content differs from the processed video
is refused too, so labels are never timed by another video.

OpenFace CSV: the columns OpenFace 2 writes first, then the labels, one row per frame and
subject in frame order, as OpenFace's multi-face tools write several faces:
`frame` (1-based), `face_id` (subject number − 1), `timestamp` (s, the decoded frame's time),
`confidence` (the
landmark backend's detector score: 0-1 for `fan`, the HOG detector's margin for `dlib`),
`success` (1 when a face was found), `x_0…x_67`, `y_0…y_67` (68 iBUG landmarks in pixels), then
the AU columns in OpenFace 2's order: first every intensity column `AU01_r` … `AU45_r`, then every
occurrence column `AU01_c` … `AU45_c`, each in AU number order, for every AU OpenFace 2 reports
(intensity: 17 AUs; occurrence: those and AU28) and the exported AUs. So readers that select
OpenFace's AU columns (py-feat's `Fex.aus`, OpenFaceR) find them all.
- `AUxx_c` holds the exported label: 1, 0, or -1 where not coded; -1 throughout for an AU the
  export does not label.
- `AUxx_r` holds the model's probability for the AU put on OpenFace's 0–5 intensity scale
  (probability × 5): the subject's latest prediction run, whatever the coder's labels say, so
  it is the model's confidence, not a FACS intensity grade. -1 where the model gave none (no
  run, no face on the frame, an AU the run does not predict) and throughout for an AU the
  export does not label.
Each row carries its own subject's landmarks; frames without that subject's face have success
0, confidence 0 and zero landmarks, as OpenFace writes them.

BORIS: a project file (`.boris`, BORIS's own JSON) holding one media observation named after
the file, the video as player 1's media with its frame rate (boris_fps: the rate BORIS steps
frames by), an ethogram with one state event per AU, one subject
("subject", or the person of a video with several: left, right, subject<N>), and the events:
each present stretch of an AU is a START event at the first frame's start and a STOP event at
the last frame's end (times in s, 3 decimals). Each event is `[time, subject, AU, modifier "",
comment ""]`, BORIS's event layout without a frame index; BORIS pairs a behaviour's events in
time order, odd ones starting a state and even ones stopping it. Open it in BORIS (File > Open
project) or bring the observation into a lab's project with Observations > Import observations.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pandas as pd

import db
from annotator.processing.extraction import subjects_for_video
from annotator.processing.landmarks import LandmarkTable, SubjectLandmarks
from annotator.processing.video import stream_frame_rate
from model.au_sets import NOT_CODED, NUM_LANDMARKS, PRESENT
from model.errors import InputError
from model.files import content_hash

logger = logging.getLogger(__name__)

BORIS_PROJECT_VERSION = "7.0"  # BORIS's project_format_version, unchanged since BORIS 7
BORIS_PLAYERS = 8
# the AUs of OpenFace 2's intensity columns (AU01_r … AU45_r); its occurrence columns add AU28
OPENFACE_INTENSITY_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
OPENFACE_OCCURRENCE_AUS = tuple(sorted((*OPENFACE_INTENSITY_AUS, 28)))
OPENFACE_INTENSITY_MAX = 5.0  # OpenFace's intensity scale runs from 0 to 5


@dataclass(frozen=True)
class FrameTimes:
    """When each decoded frame starts and ends, in seconds (a frame ends where the next
    starts)."""

    starts: np.ndarray  # (T,) float64
    ends: np.ndarray  # (T,) float64
    measured: bool  # False: frame / fps, the video file was not found

    @classmethod
    def from_starts(cls, starts: np.ndarray, fps: float, measured: bool) -> FrameTimes:
        starts = np.asarray(starts, dtype=np.float64)
        steps = np.diff(starts)
        last = float(np.median(steps)) if len(steps) else 1.0 / fps
        return cls(starts, np.r_[starts[1:], starts[-1:] + last], measured)

    def span_ms(self, first: int, last: int) -> tuple[int, int]:
        """Frames first..last as [start, end) in whole milliseconds."""
        return round(self.starts[first] * 1000), round(self.ends[last] * 1000)

    def frames_within(self, start_ms: float, end_ms: float) -> np.ndarray:
        """(T,) bool: the frames whose middle lies in [start_ms, end_ms)."""
        middles = (self.starts + self.ends) * 500.0
        return (middles >= start_ms) & (middles < end_ms)


def decoded_frames(session: db.Session, video: db.Video) -> SubjectLandmarks | None:
    """The video's landmarks (time per decoded frame; face, score, landmarks per subject and
    frame), None when the video file is gone; computed and cached if the cache was cleared."""
    path = Path(video.path)
    if not path.is_file():
        return None
    if content_hash(path) != video.content_hash:
        raise InputError(path, f"is not the video processed as {video.name} (id {video.id}): "
                               "its content changed; process it again")
    run = db.latest_prediction_run(session, video.id)
    backend = (db.run_parameters(run).run_details if run else db.RunDetails()).landmark_backend
    table = subjects_for_video(path, backend)
    if len(table) != video.frame_count:
        raise InputError(path, f"decodes {len(table)} frames, but {video.name} (id {video.id}) "
                               f"was stored with {video.frame_count}; process it again")
    return table


def frame_times(session: db.Session, video: db.Video) -> FrameTimes:
    """The decoded frames' times, or frame / fps (with a warning) when the file is gone."""
    table = decoded_frames(session, video)
    if table is None:
        logger.warning("%s: video file not found; timing its frames as frame / fps (%.3f)",
                       video.path, video.fps)
        return FrameTimes.from_starts(np.arange(video.frame_count) / video.fps, video.fps, False)
    return FrameTimes.from_starts(table.timestamps, video.fps, True)


@dataclass(frozen=True)
class OpenFacePerson:
    """One subject's rows of an OpenFace CSV."""

    face_id: int  # subject number − 1
    labels: np.ndarray  # (T, K) exported labels
    probabilities: np.ndarray  # (T, K) the model's AU probabilities, NaN where it gave none
    table: LandmarkTable


def openface_csv(aus: tuple[str, ...], people: list[OpenFacePerson]) -> str:
    """OpenFace-format CSV of several subjects: a row per frame and subject, in frame then
    face_id order."""
    tables = [_openface_rows(aus, person) for person in people]
    rows = pd.concat(tables, ignore_index=True).sort_values(["frame", "face_id"], kind="stable")
    return rows.to_csv(index=False, float_format="%.3f", lineterminator="\n")


def _openface_rows(aus: tuple[str, ...], person: OpenFacePerson) -> pd.DataFrame:
    table = person.table
    frames = len(table)
    face = table.face
    landmarks = np.where(face[:, None, None], table.landmarks, 0.0)  # (T, 68, 2)
    columns = {
        "frame": np.arange(1, frames + 1),
        "face_id": np.full(frames, person.face_id),
        "timestamp": table.timestamps,
        "confidence": np.where(face, table.score, 0.0),
        "success": face.astype(int),
    }
    for axis, name in enumerate("xy"):
        columns.update({f"{name}_{i}": landmarks[:, i, axis] for i in range(NUM_LANDMARKS)})
    columns.update(_openface_au_columns(aus, person))
    return pd.DataFrame(columns)


def _openface_au_columns(aus: tuple[str, ...], person: OpenFacePerson) -> dict[str, np.ndarray]:
    """`AUxx_r` columns, then `AUxx_c` columns, as OpenFace 2 orders them."""
    exported = {int(au[2:]): k for k, au in enumerate(aus)}
    labels = np.asarray(person.labels)
    intensity = np.nan_to_num(np.asarray(person.probabilities, dtype=np.float64)
                              * OPENFACE_INTENSITY_MAX, nan=NOT_CODED)
    frames = len(labels)
    columns = {}
    for number in sorted({*OPENFACE_INTENSITY_AUS, *exported}):
        columns[f"AU{number:02d}_r"] = (intensity[:, exported[number]] if number in exported
                                        else np.full(frames, float(NOT_CODED)))
    for number in sorted({*OPENFACE_OCCURRENCE_AUS, *exported}):
        columns[f"AU{number:02d}_c"] = (labels[:, exported[number]] if number in exported
                                        else np.full(frames, NOT_CODED, dtype=labels.dtype))
    return columns


def boris_project(video: db.Video, observation: str, subject: str, intervals: list[db.Interval],
                  aus: tuple[str, ...], times: FrameTimes) -> str:
    """A BORIS project (JSON text) with one observation of the video holding the present
    stretches of `intervals` (values other than present are left out) as state events."""
    media = str(video.path)
    events = []
    for interval in intervals:
        if interval.value == PRESENT:
            start, stop = times.starts[interval.first_frame], times.ends[interval.last_frame]
            events += [[round(float(t), 3), subject, interval.au, "", ""] for t in (start, stop)]
    events.sort(key=lambda event: (event[0], event[2]))
    files = {str(player): [] for player in range(1, BORIS_PLAYERS + 1)}
    files["1"] = [media]
    now = datetime.now().isoformat(timespec="milliseconds")
    media_info = {"length": {media: round(float(times.ends[-1]), 3)},
                  "fps": {media: boris_fps(video, times)},
                  "hasVideo": {media: True}, "hasAudio": {media: _has_audio(Path(media))},
                  "offset": {"1": 0.0}}
    record = {
        "date": now, "description": f"AU labels exported by au-annotator from {video.name}",
        "type": "MEDIA", "file": files, "media_info": media_info, "events": events,
        "time offset": 0.0, "observation time interval": [0, 0], "independent_variables": {},
        "visualize_spectrogram": False, "visualize_waveform": False,
        "media_creation_date_as_offset": False, "media_scan_sampling_duration": 0,
        "image_display_duration": 1, "close_behaviors_between_videos": False,
    }
    ethogram = {str(k): {"type": "State event", "key": "", "code": au, "description": "",
                         "category": "", "modifiers": {}, "excluded": "", "coding map": ""}
                for k, au in enumerate(aus)}
    project = {
        "time_format": "s", "project_date": now, "project_name": observation,
        "project_description": "AU labels from au-annotator",
        "project_format_version": BORIS_PROJECT_VERSION,
        "subjects_conf": {"0": {"key": "", "name": subject, "description": ""}},
        "behaviors_conf": ethogram, "observations": {observation: record},
        "behavioral_categories": [], "behavioral_categories_config": {},
        "independent_variables": {}, "coding_map": {}, "behaviors_coding_map": [],
        "converters": {},
    }
    return json.dumps(project, indent=1) + "\n"


def boris_fps(video: db.Video, times: FrameTimes) -> float:
    """The frame rate BORIS steps the video's frames by: the stream's own rate (not the
    average, which BORIS would step off the frames with), where it matches how far apart the
    frames decode; else the median decoded frame interval. A variable-frame-rate file states
    its time base (often 1000) as its rate, an interlaced one may state its field rate."""
    steps = np.diff(times.starts)
    step = float(np.median(steps)) if len(steps) else 0.0
    if step <= 0:
        return float(video.fps)
    rate = stream_frame_rate(video.path) if times.measured else None
    if rate is not None and abs(rate * step - 1.0) < 0.25:  # a quarter of a frame apart at most
        return rate
    return round(1.0 / step, 3)


def _has_audio(path: Path) -> bool:
    if not path.is_file():
        return False
    with av.open(str(path), metadata_errors="replace") as container:
        return bool(container.streams.audio)
