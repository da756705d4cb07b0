"""``python -m fastload`` runs the command-line interface."""

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):
    # Ctrl-C while modules import: nothing to clean up, and a KeyboardInterrupt raised
    # inside an extension's import can come out as an ImportError; end here, one line.
    sys.stderr.write("interrupted\n")
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_starting)

from fastload.cli import main  # noqa: E402 - after the start-up handler

sys.exit(main())
