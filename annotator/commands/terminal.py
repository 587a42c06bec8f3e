"""Whether a command's progress goes to a person watching a terminal or into a log.

Progress bars redraw one line with carriage returns: on a terminal that reads as one moving
line, in a log file or a pipe it leaves a line of bar per redraw. Commands show bars only when
stderr (where tqdm draws) is a terminal; elsewhere they print their plain per-video lines alone.
"""

from __future__ import annotations

import sys


def show_bars() -> bool:
    """True when stderr is a terminal, so redrawn progress bars read as one line."""
    return sys.stderr.isatty()
