"""This process's own peak resident memory, for the benchmarks' child processes.

Imported by the scripts beside it (their folder is first on `sys.path` when run), not part
of `mtl_lib`.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB), its own only.

    `VmHWM` from `/proc/self/status`, not `getrusage`: on Linux a child started by fork and
    exec inherits its parent's `ru_maxrss`, so a child of a large parent reports the parent's
    peak (measured: a child whose own peak was 13.6 MiB reported 413 MiB under a 400 MiB
    parent). `ru_maxrss` only where `/proc` has no `VmHWM` (not Linux).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    # KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
