"""Fault and load tests: processes killed, disks full, many coders at once, mangled files.

They reuse the helpers of the other test folders (the real app server, the fine-tuning set-up,
the correction writer), so those folders are importable from here too.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("ui", "annotator", "db"):
    if str(TESTS / folder) not in sys.path:
        sys.path.append(str(TESTS / folder))
