"""The progress bar: a redrawn bar on a terminal, plain lines elsewhere."""

import io

from ristretto.progress import Progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_without_a_terminal():
    out = io.StringIO()
    with Progress(4, "work", stream=out) as bar:
        bar.step("a")
        bar.step()
    assert out.getvalue().splitlines() == ["work [######..................] 1/4 a",
                                           "work [############............] 2/4"]


def test_redrawn_in_place_on_a_terminal_and_counting_without_total():
    out = _Tty()
    with Progress(None, "pass", stream=out) as bar:
        bar.step("x")
        bar.step("y")
    assert out.getvalue() == "\r\x1b[Kpass 1 x\r\x1b[Kpass 2 y\n"


def test_a_long_step_says_it_is_alive_and_which_step_it_is_in():
    import threading

    from ristretto.progress import heartbeat

    lines, lock = [], threading.Lock()

    def log(line):
        with lock:
            lines.append(line)

    with heartbeat(log, "point 3", every=0.02) as inner:
        inner("  synthesis ...")
        threading.Event().wait(0.2)
    n = len(lines)
    threading.Event().wait(0.1)
    assert lines[0] == "  synthesis ..."
    beats = lines[1:]
    assert len(beats) >= 3 and all(b.startswith("    ... point 3: still running after ") for b in beats)
    assert beats[-1].endswith("; last: synthesis ...")
    assert len(lines) == n  # nothing after the block ended


def test_a_quick_step_stays_quiet():
    from ristretto.progress import heartbeat

    lines = []
    with heartbeat(lines.append, "x", every=5) as inner:
        inner("done")
    assert lines == ["done"]
