"""CPU time and resident memory of a server's process tree, read from /proc.

Why /proc and not psutil: two numbers per process are all we need, wrk already ties the harness to
Linux, and it keeps the benchmark's dependencies to matplotlib. CPU is summed over the whole tree
(uvicorn's supervisor and its workers; Node's one process) because that is what the server costs.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    """CPU seconds of the tree at one instant, and each process's RSS in bytes."""

    cpu_seconds: float
    rss: dict[int, int]


def parse_stat(text: str) -> tuple[int, float, int]:
    """(ppid, user+system CPU seconds, RSS bytes) from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may hold spaces, so split after the last ')'.
    """
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24 (in pages).
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = int(fields[21]) * PAGE
    return ppid, cpu, rss


def _read_stat(pid: int) -> tuple[int, float, int] | None:
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None  # the process ended between listing and reading


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = stat[0]
    found = [root]
    for pid in found:  # breadth-first; `found` grows while we walk it
        found.extend(child for child, parent in parents.items() if parent == pid)
    return found


def sample(root: int) -> Sample:
    """CPU seconds so far and RSS of every process in the tree under `root`."""
    cpu = 0.0
    rss: dict[int, int] = {}
    for pid in tree(root):
        stat = _read_stat(pid)
        if stat is not None:
            cpu += stat[1]
            rss[pid] = stat[2]
    return Sample(cpu, rss)


def children(root: int) -> list[int]:
    """Direct children of `root` (uvicorn's workers), for the per-worker RSS."""
    return [pid for pid in tree(root) if pid != root and (_read_stat(pid) or (0,))[0] == root]


def workers(root: int) -> list[int]:
    """The processes that serve requests: uvicorn's spawned workers, or `root` itself (Node)."""
    spawned = []
    for pid in children(root):
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.spawn" in cmdline:
            spawned.append(pid)
    return spawned or [root]


class Monitor:
    """CPU used by a process tree over a block, and the peak RSS of each worker during it.

    RSS is sampled every `interval_s` by a thread, so the peak under load is what gets reported.
    """

    def __init__(self, root: int, interval_s: float = 0.25) -> None:
        self.root = root
        self.interval_s = interval_s
        self.workers = workers(root)
        self.peak_rss: dict[int, int] = dict.fromkeys(self.workers, 0)
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_rss, daemon=True)

    def _sample_rss(self) -> None:
        while True:
            for pid in self.workers:
                stat = _read_stat(pid)
                if stat is not None:
                    self.peak_rss[pid] = max(self.peak_rss[pid], stat[2])
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> Monitor:
        self._start = sample(self.root).cpu_seconds
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.wall_seconds = time.monotonic() - self._t0
        self.cpu_seconds = sample(self.root).cpu_seconds - self._start

    @property
    def cpu_percent(self) -> float:
        """100 = one core busy for the whole block."""
        return 100 * self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def rss_mib(self) -> list[float]:
        return [self.peak_rss[pid] / 2**20 for pid in self.workers]
