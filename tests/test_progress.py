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
