"""A dependency-free progress bar: redrawn in place on a terminal, one line per step elsewhere."""

import sys

__all__ = ["Progress"]


class Progress:
    """``with Progress(total, "label") as bar: bar.step("detail")``; ``total=None`` counts without a bar."""

    def __init__(self, total, label, stream=None, width=24):
        self.total, self.label, self.width, self.done = total, label, width, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def step(self, detail=""):
        self.done += 1
        if self.total:
            filled = int(self.width * self.done / self.total)
            head = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}"
        else:
            head = f"{self.label} {self.done}"
        line = f"{head} {detail}".rstrip()
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
