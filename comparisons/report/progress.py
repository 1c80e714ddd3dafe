"""A one-line progress bar on stderr, for sweep and bench."""

import sys


class Progress:
    """A one-line progress bar on stderr (only on a terminal; a log gets a line per 10%)."""

    def __init__(self, total: int, label: str = "sweep", unit: str = "cases", stream=None):
        stream = stream or sys.stderr
        self.total, self.stream, self.tty = total, stream, stream.isatty()
        self.label, self.unit = label, unit
        self.shown = -1

    def update(self, done: int, note: str = "") -> None:
        pct = 100 * done // self.total
        if self.tty:
            bar = "#" * (pct // 4)
            self.stream.write(f"\r[{bar:<25}] {done}/{self.total} {note[:40]:<40}")
            if done == self.total:
                self.stream.write("\n")
        elif pct // 10 != self.shown // 10 or done == self.total:
            self.stream.write(f"{self.label}: {done}/{self.total} {self.unit}\n")
        self.shown = pct
        self.stream.flush()
