"""Process-wide allocator settings for long runs of many same-sized steps (training, rendering).

glibc's malloc serves blocks above its mmap threshold (128 KiB, then adaptive) with fresh
mmap()s and gives freed heap memory back to the OS past its trim threshold. A training step
allocates and frees hundreds of MB of per-iteration buffers (rasterizer state, images, autograd
temporaries), so every iteration maps fresh pages and page-faults on touching them: on a
240x136 scene with 100k Gaussians that was a third of the CPU time (BENCHMARKS.md, "Training
memory"). Raising both thresholds keeps freed blocks in the process for the next step, at the
price of the resident size staying at its peak, which a training process reaches anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1   # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30    # blocks up to 1 GiB come from (and return to) the heap


@functools.cache
def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (see the module docstring); once per
    process. Returns whether it applied (False where the C library is not glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # not glibc (macOS, musl): nothing to tune
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
