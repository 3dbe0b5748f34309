"""The ``ristretto`` console script: Ctrl-C while torch imports (before the CLI runs) exits 130 in one line."""

import sys

__all__ = ["main"]


def main():
    try:
        from .cli import main as cli_main  # imports torch: seconds in which a Ctrl-C must not print a traceback

        return cli_main()
    except KeyboardInterrupt:
        print("ristretto: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
