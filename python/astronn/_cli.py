"""The ``astronn`` command installed with the package: the same command line as the Rust
binary (``astronn --help``), run by the engine inside this package."""

import os
import signal
import sys

from . import _astronn


def main() -> int:
    """Runs ``astronn`` with this process's arguments; returns its exit status."""
    # Ctrl-C ends the command as it ends the binary: Python's own handler would only set a
    # flag that the engine never reads while it runs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    executable = os.path.abspath(sys.argv[0])
    return _astronn.run_cli(["astronn", *sys.argv[1:]], executable)


if __name__ == "__main__":
    sys.exit(main())
