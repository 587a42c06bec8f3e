"""What the analysis asks of the operating system: helper threads that give way to the thread
finding faces, and freed memory handed back.

Helper threads. One video's analysis is a chain: each frame's faces are searched for and fitted
around the previous frame's, on one thread, while decoding, face images, their writing and the
expression network run on helper threads. On two cores the helpers' work fits beside the chain,
but the scheduler treated them alike: a helper waking up took the core from the chain, which
then waited (the thread finding faces ran 74% of the time). `give_way()`, called by each helper
thread as it starts, puts it in SCHED_BATCH (Linux): same share of the CPU, but it no longer
preempts the chain when it wakes. Not SCHED_IDLE: that starved the helpers whenever another
program kept a core busy.

Helper pools. A forked child inherits a cached thread pool but not its threads: a task
submitted there would never run. `forget_after_fork(pool_function)` clears such a cache in the
child, which then starts its own threads.

Freed memory.

Frames are made on the decoding thread and dropped on others; glibc keeps what they freed in
that thread's arena, scattered between live blocks, and an analysis grew by tens of MB that
nothing used (the demo clip analysed three times in one process: 406-438 MB at its peak
against 369-378 with the trimming below). `return_free_memory()` (glibc's malloc_trim, about a
millisecond) hands those pages back; the decoding thread calls it every TRIM_EVERY frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

TRIM_EVERY = 64  # frames decoded between two return_free_memory calls


def available_cores() -> int:
    """Cores this process may run on (fewer than the machine's inside a container, or when
    held to some)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def forget_after_fork(cached) -> None:
    """Clear the functools.cache of `cached` (a function making a thread pool) in a forked
    child: the child's first call makes a pool with threads of its own."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=cached.cache_clear)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, None with another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def return_free_memory() -> bool:
    """Hand the pages of freed memory back to the system (glibc only); whether it could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def give_way() -> bool:
    """Put the calling thread in SCHED_BATCH, so it does not preempt the thread finding faces
    when it wakes (Linux only); whether it could."""
    batch = getattr(os, "SCHED_BATCH", None)  # Linux's; other systems may lack it
    if batch is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, batch, os.sched_param(0))
    except OSError:
        return False
    return True
