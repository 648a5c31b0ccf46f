"""Progress: a rich bar with ETA and key metrics on a terminal, else one plain line per 10%."""

from __future__ import annotations

import sys
import time


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Progress:
    """`update(done, metrics)` with done in budget units; `close()` at the end."""

    def __init__(self, total: float, unit: str, keys: tuple[str, ...], start: float = 0,
                 stream=None, rich: bool | None = None, enabled: bool = True):
        self.total = max(float(total), 1e-12)
        self.unit = unit
        self.keys = keys
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.rich = enabled and (self.stream.isatty() if rich is None else rich)
        self.t0 = time.monotonic()
        self.start = start
        self.next_tenth = int(10 * start / self.total) + 1
        self._bar = None
        if self.rich:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)

            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                     transient=False)
            self._task = self._bar.add_task(unit, total=int(total), completed=int(start), info="")
            self._bar.start()

    def _info(self, metrics: dict) -> str:
        return "  ".join(f"{k}={_fmt(metrics[k])}" for k in self.keys if k in metrics)

    def update(self, done: float, metrics: dict) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=int(done), info=self._info(metrics))
            return
        if not self.enabled:
            return
        if done / self.total * 10 + 1e-9 < self.next_tenth and done < self.total:
            return
        self.next_tenth = int(10 * done / self.total + 1e-9) + 1
        elapsed = time.monotonic() - self.t0
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        pct = 100.0 * done / self.total
        print(f"[{pct:5.1f}%] {self.unit} {int(done)}/{int(self.total)}  elapsed {elapsed:.1f}s  "
              f"eta {eta:.1f}s  {self._info(metrics)}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
