"""glibc malloc settings for the server process: keep freed memory for the next transfer.

An artifact transfer allocates and frees a buffer for every 1 MiB message (gRPC's, the
message's, the file's). With glibc's defaults, memory freed at the top of a thread's heap
goes back to the kernel at once and the next buffer faults its pages in again, which is
where much of an upload's time went (page faults and zeroing). `trackwire server` (not
the embedded server, which lives in the user's process) therefore serves buffers up to
MMAP_THRESHOLD from the heaps rather than fresh mappings, keeps up to TRIM_THRESHOLD of
freed memory at the top of a heap, and holds at most ARENA_MAX heaps (one per thread
otherwise, each keeping its own freed memory).

Measured on 2026-11-27 (2 cores): with these, `bench/models.py` moves a 100 MB model as
fast as with 256 MB kept per heap and a 64 MB top pad, while the server's peak RSS over
bench-compare's W1-W6 stays at ~123 MiB (glibc's defaults: ~118 MiB; 256 MB per heap:
~143 MiB, over the 150 MB target). Setting any of glibc's own variables
(MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX, ...) leaves
everything to them instead.
"""

from __future__ import annotations

import ctypes
import os
import platform

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest
TRIM_THRESHOLD = 8 * 1024 * 1024
ARENA_MAX = 2

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ENV = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_ARENA_MAX",
    "GLIBC_TUNABLES",
)


def tune_malloc() -> bool:
    """Applies the settings above; False where that is not glibc or the user chose."""
    if any(name in os.environ for name in _ENV) or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_ARENA_MAX, ARENA_MAX),
        )
    )
