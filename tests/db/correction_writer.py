"""A separate process writing a burst of corrections (used by test_concurrency.py).

Usage: correction_writer.py URL VIDEO_ID CODER COUNT [START_FILE]
Each edit goes through the store's group commit (Store.write_together), as a coder's edit in
the app does. Prints "committed EDIT_ID" once the call storing it returned. With START_FILE it
waits until that file exists, so several writers start together.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import db


def main() -> None:
    url, video_id, coder, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    store = db.Store(url)
    print("ready", flush=True)
    if len(sys.argv) > 5:
        while not Path(sys.argv[5]).exists():
            time.sleep(0.01)
    for i in range(count):

        def store_edit(session, i=i):
            video = db.get_video(session, video_id)
            first = (i * 7) % (video.frame_count - 10)
            intervals = [db.Interval(au, first, first + 9, i % 2) for au in ("AU1", "AU2", "AU12")]
            return db.record_edit(session, video, coder, intervals).id

        print(f"committed {store.write_together(store_edit)}", flush=True)


if __name__ == "__main__":
    main()
