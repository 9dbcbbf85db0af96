"""Progress of long work (`eval`, `filter`, `rethreshold`): a tqdm bar on a terminal; elsewhere (CI
logs, files) a log line every so often. Counts per decision or partition ride along."""

from __future__ import annotations

import sys
import time
from collections import Counter

from detector.decision import DECISIONS, SUSPECTED

_SHORT = {SUSPECTED: "suspected"}


class Progress:
    def __init__(self, enabled: bool = True, stream=None, log_every: float = 30.0, tty: bool | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_every = log_every
        self._bar = None
        self._stage = ""
        self._done = 0
        self._total = 0
        self._partitions: Counter = Counter()
        self._started = time.monotonic()
        self._last_log = 0.0
        self._logged_done = -1

    def stage(self, name: str, total: int, done: int = 0) -> None:
        self.close()
        self._stage, self._total, self._done = name, total, done
        self._partitions = Counter()
        self._started = time.monotonic()
        self._last_log = self._started
        if not self.enabled:
            return
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total or None, initial=done, desc=name, unit="doc", file=self.stream,
                             dynamic_ncols=True, smoothing=0.1)
        else:
            self._line(force=True)

    def update(self, docs: int, partitions: dict | None = None) -> None:
        self._done += docs
        self._partitions.update(partitions or {})
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(docs)
            if partitions:
                self._bar.set_postfix_str(self._partition_text(), refresh=False)
        elif time.monotonic() - self._last_log >= self.log_every:
            self._line()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self._stage and not self.tty and self._done != self._logged_done:
            self._line(force=True)

    def _partition_text(self) -> str:
        # Decisions in their usual order, then any other partition (the filter's quarantine).
        names = [d for d in DECISIONS if d in self._partitions] + sorted(set(self._partitions) - set(DECISIONS))
        return " ".join(f"{_SHORT.get(p, p)}={self._partitions[p]}" for p in names if self._partitions[p])

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        rate = self._done / max(now - self._started, 1e-9)
        done = f"{self._done}/{self._total} documents ({100.0 * self._done / self._total:.0f}%)" \
            if self._total else f"{self._done} documents"
        parts = self._partition_text()
        left = f", about {(self._total - self._done) / rate / 60:.0f} min left" \
            if rate > 0 and 0 < self._done < self._total else ""
        print(f"synthsieve {self._stage}: {done}, {rate:.1f} docs/s{left}"
              f"{', ' + parts if parts else ''}", file=self.stream, flush=True)
        self._last_log = now
        self._logged_done = self._done
