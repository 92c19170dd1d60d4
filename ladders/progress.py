"""Progress of long loops: a bar on a terminal, plain periodic lines in a log.

A tqdm bar redraws itself with cursor-control codes, which a log file keeps as junk (`[A` lines).
`Progress` draws a bar only when standard error is a terminal; otherwise it prints one plain line
at most every `every` seconds, and one when it ends:

    cpu-tiny-w32-d2-v256-stable-wsd-s0: step 400/1,229 (33%), loss 1.912, 143 steps/s, ~6 s left

Values given to `note` (the latest training loss, say) ride on the bar or the line.
"""

from __future__ import annotations

import sys
import time


def on_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """`update(n)` as work is done, `note(loss=...)` to show values, `close()` at the end."""

    def __init__(self, total: int, desc: str, unit: str = "step", initial: int = 0,
                 every: float = 30.0, stream=None, bar: bool | None = None):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.done, self.values = initial, {}
        self.stream = sys.stderr if stream is None else stream
        self._started, self._start_count = time.perf_counter(), initial
        self._last_line = self._started
        self._bar = None
        if on_terminal(self.stream) if bar is None else bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False,
                             mininterval=1.0, file=self.stream)

    def update(self, n: int = 1):
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif time.perf_counter() - self._last_line >= self.every:
            self._line()

    def note(self, **values):
        self.values.update(values)
        if self._bar is not None:
            self._bar.set_postfix({k: _format(v) for k, v in self.values.items()}, refresh=False)

    def close(self):
        if self._bar is not None:
            self._bar.close()
        else:
            self._line()

    def _line(self):
        now = time.perf_counter()
        self._last_line = now
        parts = [f"{self.desc}: {self.unit} {self.done:,}/{self.total:,}"
                 f" ({self.done / max(self.total, 1):.0%})"]
        parts += [f"{k} {_format(v)}" for k, v in self.values.items()]
        rate = (self.done - self._start_count) / max(now - self._started, 1e-9)
        if self.done > self._start_count:
            parts.append(f"{rate:,.3g} {self.unit}s/s")
            if self.done < self.total:
                parts.append(f"~{_duration((self.total - self.done) / rate)} left")
        print(", ".join(parts), file=self.stream, flush=True)


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
