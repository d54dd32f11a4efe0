"""Progress display of a zoo run: a live bar on a terminal, one plain line per job otherwise."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "SHORT"]

SHORT = {"EQUIVALENT": "eq", "NOT_EQUIVALENT": "neq", "UNKNOWN": "unk", "TIMEOUT": "timeout", "ERROR": "err"}


def _clock(s: float) -> str:
    s = int(s)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class Progress:
    """``done/total`` and counts by verdict.

    On a TTY the bar is redrawn in place (at most 10 times a second); otherwise every finished
    job prints ``[done/total] name VERDICT time`` so logs stay readable.  ``quiet`` prints
    nothing.
    """

    def __init__(self, total: int, *, stream=None, tty: bool | None = None, quiet: bool = False,
                 skipped: int = 0, width: int = 24):
        self.stream = sys.stderr if stream is None else stream
        self.tty = (hasattr(self.stream, "isatty") and self.stream.isatty()) if tty is None else tty
        self.quiet = quiet
        self.total = total
        self.done = 0
        self.skipped = skipped
        self.counts = {v: 0 for v in SHORT}
        self.width = width
        self.t0 = time.monotonic()
        self._last_draw = 0.0

    def line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        fill = int(round(frac * self.width))
        bar = "#" * fill + "-" * (self.width - fill)
        counts = " ".join(f"{SHORT[v]} {n}" for v, n in self.counts.items() if n or v in ("EQUIVALENT", "NOT_EQUIVALENT", "UNKNOWN"))
        return f"[{bar}] {self.done}/{self.total} | {counts} | {_clock(time.monotonic() - self.t0)}"

    def start(self) -> None:
        if self.quiet:
            return
        if self.skipped:
            self._print(f"{self.skipped} job(s) already done in the store, skipped")
        if self.tty:
            self._draw(force=True)

    def update(self, name: str, verdict: str, wall_s: float | None = None) -> None:
        self.done += 1
        self.counts[verdict if verdict in self.counts else "ERROR"] += 1
        if self.quiet:
            return
        if self.tty:
            if verdict in ("NOT_EQUIVALENT", "TIMEOUT", "ERROR"):  # worth a line above the bar
                t = f" {wall_s:.2f}s" if wall_s is not None else ""
                self._print(f"{name} {verdict}{t}")
            self._draw(force=True if verdict != "EQUIVALENT" else self.done == self.total)
        else:
            t = f" {wall_s:.2f}s" if wall_s is not None else ""
            self._print(f"[{self.done}/{self.total}] {name} {verdict}{t}")

    def tick(self) -> None:
        """Redraw the bar (its clock) on a TTY; nothing otherwise."""
        if self.tty and not self.quiet:
            self._draw()

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def _print(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.quiet:
            return
        if self.tty:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
