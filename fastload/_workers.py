"""What every place that starts worker processes shares (builders, ``Loader(workers="process")``).

With the ``spawn`` and ``forkserver`` start methods a new worker re-runs the user's main
script (as ``__mp_main__``) before it runs its task. A script without an
``if __name__ == "__main__":`` guard would then start workers (or a whole build) again
from inside the worker. :func:`exit_if_bootstrapping` stops such a worker at once with
:data:`MAIN_GUARD_EXIT`; the parent sees that exit status and raises
:func:`main_guard_error`, one line that says what to add.
"""

import sys

__all__ = [
    "MAIN_GUARD_EXIT",
    "exit_if_bootstrapping",
    "main_guard_error",
]

MAIN_GUARD_EXIT = 86  # exit status of a worker that found itself re-running an unguarded script


def bootstrapping():
    """True inside a spawn/forkserver child that is still importing the parent's main script."""
    from multiprocessing import process

    return bool(getattr(process.current_process(), "_inheriting", False))


def exit_if_bootstrapping():
    """Called before starting workers: a worker re-running an unguarded script stops here."""
    if bootstrapping():
        import os

        sys.stderr.flush()
        os._exit(MAIN_GUARD_EXIT)


def main_guard_error(what="fastload"):
    """The one-line error the parent raises when a worker exited with MAIN_GUARD_EXIT."""
    from fastload.errors import FastloadError

    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None) or "your script"
    return FastloadError(
        f"{what} worker processes re-run {script} when they start (spawn/forkserver), and it "
        f'starts workers again: put its top-level code under `if __name__ == "__main__":`'
    )
