"""Timing and memory sampling."""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Samples:
    """Wall-clock seconds of the repetitions of one workload."""

    seconds: list[float] = field(default_factory=list)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "median": self.median,
            "n": len(self.seconds),
            "samples": self.seconds,
        }


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``func`` once after a full garbage collection; its duration and result."""
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def _high_water_mark() -> int | None:
    """Peak resident set size of this process (``VmHWM``), in bytes; None where unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


class PeakRSS:
    """Highest resident set size growth while the block runs.

    On Linux the kernel keeps the peak (``VmHWM``), reset when the block starts (``clear_refs``):
    exact, and nothing runs beside the measured code. Elsewhere a thread samples every 5 ms
    (which costs a GIL-bound workload about 2%: the export ran 0.15 µs per event slower)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._kernel = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.baseline = self.peak = rss()
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # resets VmHWM to the current RSS
            self._kernel = _high_water_mark() is not None
        except OSError:
            self._kernel = False
        if not self._kernel:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._kernel:
            self.peak = max(self.peak, _high_water_mark() or 0)
        else:
            self._stop.set()
            self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        """Bytes above the RSS measured when the block started."""
        return self.peak - self.baseline
