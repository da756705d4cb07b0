"""``fastload`` command line: one module per command in this folder.

Each command module defines ``register(subparsers)`` (adds its parser and sets
``func``) and is listed in ``COMMANDS``. Modules are imported only when the CLI runs.
"""

import argparse
import sys
from importlib import import_module

__all__ = ["main"]

COMMANDS = ["build", "bench", "demo", "doctor", "inspect", "verify"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastload",
        description="Build, inspect, verify and benchmark fastload datasets; run the demo.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        import_module(f"fastload.cli.{name}").register(sub)
    return parser


def main(argv=None):
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
