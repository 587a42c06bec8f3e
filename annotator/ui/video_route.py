"""The player's files, served by the app's own server beside the page (streamlit_server.py).

For each open video the browser fetches three things from `/api/videos/<token>/…`:

- `video`: the file it plays (the video itself, or its proxy), answering HTTP range requests,
  so the browser reads what it plays or seeks to and never loads a long video whole;
- `times`: the presentation time (seconds, float64) of every decoded frame, which is how the
  player knows which of our frames the browser shows;
- `faces?first=F&count=C`: for frames F…F+C−1, for each subject in number order, FACE_VALUES
  float32 numbers: face found (1/0), box x1 y1 x2 y2, then the 68 landmarks x y (pixels of the
  decoded frame; NaN without a face), for the overlay.

A page registers an open video (`serve`) and gets an unguessable token; a URL carries the
token, never a path, so nothing but videos that a page opened can be fetched. A token is made
for one coder (`Access`), and every request asks again whether that coder may open the video
(annotator.services.lab_projects), so a token passed on, or kept after the coder left a project, is
refused.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from annotator.processing.landmarks import SubjectLandmarks
from annotator.services.context import Services
from annotator.services.lab_projects import may_open
from model.au_sets import NUM_LANDMARKS

ROUTE = "/api/videos/{token}/{part}"
FACE_VALUES = 5 + 2 * NUM_LANDMARKS
MOST_FACES_PER_REQUEST = 4096
MOST_SERVED = 32  # videos open at once across all pages; the oldest is forgotten first


@dataclass(frozen=True)
class Access:
    """The coder a token was made for, and the video it opens."""

    services: Services
    video_id: int
    coder: str
    admin: bool  # an administrator of the app

    def allowed(self) -> bool:
        with self.services.store.read() as session:
            return may_open(session, self.video_id, self.coder, self.admin)


@dataclass(frozen=True)
class ServedVideo:
    file: Path  # what the browser plays
    mime_type: str
    landmarks: SubjectLandmarks
    access: Access | None = None  # None: anybody holding the token


_served: OrderedDict[str, ServedVideo] = OrderedDict()
_tokens: dict[tuple[Path, str | None], str] = {}
_lock = threading.Lock()


def serve(file: Path, mime_type: str, landmarks: SubjectLandmarks,
          access: Access | None = None) -> str:
    """Register a video for the player (for the coder of `access`); returns the URL folder of
    its files."""
    key = (file, None if access is None else access.coder)
    with _lock:
        token = _tokens.get(key) or secrets.token_urlsafe(16)
        _tokens[key] = token
        _served[token] = ServedVideo(file, mime_type, landmarks, access)
        _served.move_to_end(token)
        while len(_served) > MOST_SERVED:
            _, forgotten = _served.popitem(last=False)
            coder = None if forgotten.access is None else forgotten.access.coder
            _tokens.pop((forgotten.file, coder), None)
    return f"/api/videos/{token}"


def routes() -> list[Route]:
    return [Route(ROUTE, send_part, methods=["GET", "HEAD"])]


async def send_part(request: Request) -> Response:
    with _lock:
        video = _served.get(request.path_params["token"])
    if video is None:
        return PlainTextResponse("This video is no longer open: reload the page.", 404)
    if video.access is not None and not video.access.allowed():
        return PlainTextResponse(f"Video #{video.access.video_id} is in none of "
                                 f"{video.access.coder}'s projects.", 403)
    part = request.path_params["part"]
    if part == "video":
        if not video.file.is_file():
            return PlainTextResponse(f"{video.file.name} is gone from the server.", 404)
        return FileResponse(video.file, media_type=video.mime_type)
    if part == "times":
        return _binary(video.landmarks.timestamps.astype("<f8").tobytes())
    if part == "faces":
        try:
            first = int(request.query_params.get("first", 0))
            count = int(request.query_params.get("count", MOST_FACES_PER_REQUEST))
        except ValueError:
            return PlainTextResponse("first and count must be whole numbers", 400)
        first, count = max(0, first), min(max(0, count), MOST_FACES_PER_REQUEST)
        return _binary(face_rows(video.landmarks, first, first + count).tobytes())
    return PlainTextResponse(f"no part {part!r}: video, times or faces", 404)


def face_rows(landmarks: SubjectLandmarks, first: int, stop: int) -> np.ndarray:
    """(N, S, FACE_VALUES) little-endian float32 rows of frames first…stop−1 (as many as
    exist), one per subject."""
    face = landmarks.face[:, first:stop, None].astype("<f4")  # (S, N, 1)
    subjects, frames = face.shape[:2]
    points = landmarks.landmarks[:, first:stop].reshape(subjects, frames, 2 * NUM_LANDMARKS)
    rows = np.concatenate([face, landmarks.box[:, first:stop], points], axis=2)
    return np.ascontiguousarray(rows.transpose(1, 0, 2)).astype("<f4")


def _binary(data: bytes) -> Response:
    return Response(data, media_type="application/octet-stream")
