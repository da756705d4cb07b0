"""The one timing harness of the benchmarks: interleaved contenders, wall and CPU clocks.

Used by ``fastload bench`` (every row of :mod:`fastload.bench`), the pytest-benchmark
suites' side-by-side checks and ``benchmarks/scaling.py``.

- :data:`THREAD_VARS` / :func:`thread_env`: the thread-count variables of the numeric
  libraries. They only take effect if set before numpy, numba or torch is first
  imported, so ``fastload bench`` runs each concern in a child process started with them
  in its environment (:mod:`fastload.bench.runner`); :func:`late_thread_vars` names the
  libraries that were already loaded when a caller set them too late.
- :func:`race`: median wall and CPU seconds of each contender, contenders interleaved
  chunk by chunk (A1 B1 C1 A2 B2 C2 ...), after a warm-up round, so a burst of load from
  other processes on a shared machine hits every contender alike.
- :class:`RemoteContenders`: contenders living in another Python (a peer's own virtual
  environment, e.g. torchaudio pinned to its torch): the child times each chunk with the
  same clocks and the parent interleaves it with the local contenders.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

__all__ = [
    "THREAD_VARS",
    "RemoteContenders",
    "Timing",
    "late_thread_vars",
    "peer_contenders",
    "per_repeat",
    "race",
    "thread_env",
]

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_NUMERIC = ("numpy", "numba", "torch", "scipy")


def thread_env(threads, env=None):
    """A copy of ``env`` (default ``os.environ``) with every :data:`THREAD_VARS` = threads."""
    env = dict(os.environ if env is None else env)
    for var in THREAD_VARS:
        env[var] = str(max(1, int(threads)))
    return env


def late_thread_vars():
    """Numeric libraries already imported in this process (too late for the variables)."""
    return [name for name in _NUMERIC if name in sys.modules]


class Timing(NamedTuple):
    """Median wall and CPU seconds per repeat, and every repeat's figures."""

    wall: float
    cpu: float
    walls: list
    cpus: list


def _as_chunks(fn):
    return list(fn) if isinstance(fn, (list, tuple)) else [fn]


def _timed(chunk):
    """(wall, cpu) seconds of one chunk; a remote chunk reports its own clocks."""
    if getattr(chunk, "remote", False):
        return chunk()
    c0, t0 = time.process_time(), time.perf_counter()
    chunk()
    return time.perf_counter() - t0, time.process_time() - c0


def race(contenders, repeats, *, warmup=1):
    """Median seconds per repeat of each contender, contenders interleaved.

    Parameters
    ----------
    contenders : dict
        name -> a callable or a list of callables (chunks of the work: chunk j of every
        contender runs before chunk j + 1 of any). A repeat's time is the sum over its
        chunks.
    repeats : int
        Timed rounds after ``warmup`` untimed ones.

    Returns
    -------
    dict
        name -> :class:`Timing` (wall: ``time.perf_counter``; CPU: ``time.process_time``
        of the process that ran it, all its threads).
    """
    chunks = {name: _as_chunks(fn) for name, fn in contenders.items()}
    nchunks = max((len(c) for c in chunks.values()), default=0)
    for _ in range(warmup):
        for cs in chunks.values():
            for chunk in cs:
                _timed(chunk)
    walls = {name: [] for name in chunks}
    cpus = {name: [] for name in chunks}
    for _ in range(repeats):
        gc.collect()
        total = {name: [0.0, 0.0] for name in chunks}
        for j in range(nchunks):
            for name, cs in chunks.items():
                if j < len(cs):
                    wall, cpu = _timed(cs[j])
                    total[name][0] += wall
                    total[name][1] += cpu
        for name, (wall, cpu) in total.items():
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: Timing(
            statistics.median(walls[name]), statistics.median(cpus[name]), walls[name], cpus[name]
        )
        for name in chunks
    }


def per_repeat(numerator, denominator):
    """Per-repeat ratios ``numerator.walls[k] / denominator.walls[k]`` of two contenders of
    one :func:`race` (same repeat k ran interleaved): for a peer row pass (peer, fastload),
    i.e. fastload rate / peer rate; for a variant row (reference, variant)."""
    return [a / b for a, b in zip(numerator.walls, denominator.walls, strict=True) if b > 0]


class RemoteContenders:
    """Contenders built and timed in another Python (``python -m fastload.bench.worker``).

    ``RemoteContenders(python, "fastload.bench.peers:torchvision_image", args)`` starts the
    child (its thread variables from ``threads``) and calls the setup function there; it
    returns ``({name: [chunks]}, info)``. :meth:`contender` gives the chunk list
    for :func:`race`. The child imports only ``fastload.bench.peers`` (no compiled
    fastload code), so any Python with the peer and numpy installed can run it.
    """

    def __init__(self, python, setup, args, *, threads=1, cwd=None):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = thread_env(threads)
        env["PYTHONPATH"] = os.pathsep.join(x for x in (root, env.get("PYTHONPATH", "")) if x)
        self.proc = subprocess.Popen(
            [python, "-m", "fastload.bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        try:
            reply = self._ask({"setup": setup, "args": args})
        except BaseException:
            self.close()
            raise
        self.names = reply["names"]
        self.info = reply.get("info", {})

    def _ask(self, msg):
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"peer worker exited: {err.strip()[-300:]}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def contender(self, name):
        """The chunks of contender ``name``, each returning its (wall, cpu) seconds."""
        n = self.names[name]

        def chunk(j):
            def go():
                r = self._ask({"run": name, "chunk": j})
                return r["wall"], r["cpu"]

            go.remote = True
            return go

        return [chunk(j) for j in range(n)]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def peer_contenders(setup, args, *, modules, peer_python=None, threads=1):
    """Contenders of a peer setup (``"module:function"``, see :mod:`fastload.bench.peers`).

    In this process when every one of ``modules`` imports here, else in ``peer_python``
    (a peer venv) through :class:`RemoteContenders`. Returns ``(contenders, info, close,
    failed)``: ``{name: chunks}``, the setup's info dict (``version`` ...), a callable to
    release the child, and None; or ``(None, None, None, row)`` with a missing/broken row
    saying why (peer missing here and no peer venv given).
    """
    import importlib

    from fastload.bench import broken, missing, optional_import

    failed = None
    for name in modules:
        _, failed = optional_import(name)
        if failed is not None:
            break
    if failed is None:
        module, func = setup.split(":")
        contenders, info = getattr(importlib.import_module(module), func)(**args)
        return contenders, info, (lambda: None), None
    if not peer_python:
        why = (
            f"{failed['notes']} here; give a peer venv with --peer-python or "
            "$FASTLOAD_BENCH_PEER_PYTHON"
        )
        return (
            None,
            None,
            None,
            (
                missing(modules[-1], why)
                if failed["kind"] == "missing"
                else broken(modules[-1], why)
            ),
        )
    try:
        remote = RemoteContenders(peer_python, setup, args, threads=threads)
    except Exception as exc:  # noqa: BLE001 - the peer venv is broken: a row says so
        return None, None, None, broken(modules[-1], f"in {peer_python}: {exc}"[:200])
    info = dict(remote.info)
    info["version"] = f"{info.get('version', '')} (peer venv {peer_python})"
    return {name: remote.contender(name) for name in remote.names}, info, remote.close, None
