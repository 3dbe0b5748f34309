"""A dependency-free progress bar: redrawn in place on a terminal, one line per step elsewhere."""

import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["Progress", "heartbeat"]

HEARTBEAT_S = 15.0  # the longest silence a long step keeps


@contextmanager
def heartbeat(log, what, every=HEARTBEAT_S):
    """Run a block that may take long, saying every ``every`` seconds that ``what`` is still running.

    Yields a ``log`` to use inside the block: each line it takes is passed on, and the last one is repeated in
    the heartbeat, so a silent stretch still says which step it is in (co-simulation, synthesis, power ...).
    """
    start, last, stop = time.monotonic(), [""], threading.Event()

    def inner(message):
        last[0] = message.strip()
        log(message)

    def beat():
        while not stop.wait(every):
            step = f"; last: {last[0]}" if last[0] else ""
            log(f"    ... {what}: still running after {time.monotonic() - start:.0f} s{step}")

    thread = threading.Thread(target=beat, name="ristretto-heartbeat", daemon=True)
    thread.start()
    try:
        yield inner
    finally:
        stop.set()
        thread.join()


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
