"""``fastload`` command line: one module per command in this folder.

Each command module defines ``register(subparsers)`` (adds its parser and sets
``func``) and is listed in ``COMMANDS``. Modules are imported only when the CLI runs.
"""

import argparse
import signal
import sys
from importlib import import_module

__all__ = ["main"]

COMMANDS = ["build", "make-sample", "bench", "demo", "doctor", "inspect", "verify"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastload",
        description="Build, inspect, verify and benchmark fastload datasets; run the demo.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        import_module(f"fastload.cli.{name.replace('-', '_')}").register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so a build stops its workers cleanly."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None):
    """Entry point; returns the process exit status.

    Ctrl-C (SIGINT) and SIGTERM stop the command cleanly with one line on stderr
    (status 130 and 143); a second Ctrl-C while it stops exits at once.
    """
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _terminate)
    try:
        args = build_parser().parse_args(argv)
        for module in getattr(args, "preload", ()):  # heavy imports, still under the
            import_module(module)  # start-up SIGINT handler of python -m fastload
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: clean stop
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C ends it now
        print("terminated" if isinstance(exc, Terminated) else "interrupted", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
