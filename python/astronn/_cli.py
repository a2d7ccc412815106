"""The ``astronn`` command installed with the package: the same command line as the Rust
binary (``astronn --help``), run by the engine inside this package."""

import os
import sys

from . import _astronn


def main() -> int:
    """Runs ``astronn`` with this process's arguments; returns its exit status (130 after
    Ctrl-C, as the binary: the engine handles SIGINT and SIGTERM while it runs, stops and
    removes its unfinished outputs)."""
    executable = os.path.abspath(sys.argv[0])
    return _astronn.run_cli(["astronn", *sys.argv[1:]], executable)


if __name__ == "__main__":
    sys.exit(main())
