"""What the benchmarks print about the machine they ran on (imported by the bench_*.py scripts,
which Python runs with this folder first on sys.path)."""

from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux), else what platform knows."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu
