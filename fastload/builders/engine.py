"""The build engine shared by every dataset builder.

A build is a sorted list of *items* (one per raw sample: a file path, a case folder ...)
and a picklable *encode* function turning one item into one record (a dict of column
values) or raising. The engine:

1. cuts the item list into fixed-size *parts* (a function of the item list only, never of
   the worker count, so output is byte-identical whatever ``workers`` is);
2. builds each part as a complete mini-dataset in ``OUT/.parts/part-NNNNN/`` with a
   :class:`fastload.ShardWriter` (its manifest, written last and atomically, marks the part
   complete, so an interrupted build resumes by skipping complete parts and redoing the
   others);
3. runs parts on a local process pool (``engine="local"``) or as Ray tasks
   (``engine="ray"``);
4. moves the parts' shard files into ``OUT`` in part order, writes ``bad_samples.json``
   and finally the merged ``manifest.json``.

Bad samples (``encode`` raised a :class:`~fastload.errors.DecodeError` or
:class:`~fastload.errors.SchemaError`: the sample itself is bad) are listed with the item
and error; with ``on_error="skip"`` they are left out, with ``on_error="fail"`` the build
stops with a :class:`fastload.errors.DecodeError` naming the item. Any other exception (a
bug, a missing module, a full disk) stops the build with its traceback. ``encode`` may
return None to drop an item on purpose (a filter, e.g. LibriSpeech's duration limit);
those are counted.

Interrupts never lose data: a part becomes complete only by an atomic rename of its
finished folder, so Ctrl-C, SIGTERM or SIGKILL at any moment leaves complete parts and
leftovers a rerun removes. Local workers ignore SIGINT/SIGTERM (the parent stops them) and
die with the parent (``PR_SET_PDEATHSIG`` on Linux). On Ctrl-C the parent kills its
workers at once and raises :class:`KeyboardInterrupt`; a second Ctrl-C while it cleans up
exits the process immediately (status 130).

``index_by="split"`` records, for each value of that column, the global row indices that
hold it (``metadata["splits"]``), so a loader can select e.g. KiTS19's train or eval cases
with ``ds.subset(ds.metadata["splits"]["train"])``.
"""

import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastload._workers import MAIN_GUARD_EXIT, exit_if_bootstrapping, main_guard_error
from fastload.builders.merge import merge_parts
from fastload.dataset import ShardWriter
from fastload.errors import DecodeError, FastloadError, SchemaError, SourceError

__all__ = ["BuildResult", "check_source", "run_build"]

PARTS_DIR = ".parts"
BAD_SAMPLES = "bad_samples.json"
PART_SUMMARY = "part-summary.json"
TMP_MARK = ".tmp-"
POLL_S = 0.2


@dataclass
class BuildResult:
    """What a build produced."""

    path: Path
    rows: int
    bad_samples: list = field(default_factory=list)
    filtered: int = 0
    parts_reused: int = 0
    parts_built: int = 0
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)

    @property
    def samples_per_second(self):
        return (self.rows + len(self.bad_samples)) / self.seconds if self.seconds else 0.0


def _part_dir(out, k):
    return Path(out) / PARTS_DIR / f"part-{k:05d}"


def is_sample_error(exc):
    """True when ``exc`` says the sample itself is bad (the decoder or schema check said so).

    Only these become bad samples; anything else (a bug, a missing module, an interrupt,
    a full disk) stops the build with its traceback.
    """
    return isinstance(exc, (DecodeError, SchemaError))


def _build_part(out, k, items, encode, on_error, shard_size_bytes, index_by, tick=None):
    """Build part ``k`` from ``items``; returns its summary dict (rows, bad, filtered, keys).

    The part is written into a private temporary folder that is renamed to
    ``part-NNNNN`` only once complete (its summary inside), so an interrupt, a crash or
    even a second writer of the same part (an orphan of a killed build) never leaves a
    part that looks complete and is not.
    """
    final = _part_dir(out, k)
    tmp = final.with_name(f"{final.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    bad, keys = [], []
    rows = filtered = 0
    try:
        with ShardWriter(tmp, shard_size_bytes=shard_size_bytes, overwrite=True) as writer:
            for item in items:
                try:
                    record = encode(item)
                except Exception as exc:
                    if not is_sample_error(exc):
                        raise  # not about this sample: stop the build, part incomplete
                    message = f"{type(exc).__name__}: {exc}"
                    if on_error == "fail":
                        raise DecodeError(f"{item}: {message}") from exc
                    bad.append({"item": str(item), "error": message})
                else:
                    if record is None:  # the encoder filtered it out on purpose
                        filtered += 1
                    else:
                        writer.write(record)
                        rows += 1
                        if index_by is not None:
                            keys.append(record[index_by])
                if tick is not None:
                    tick(1)
        summary = {"rows": rows, "bad": bad, "filtered": filtered, "keys": keys}
        (tmp / PART_SUMMARY).write_text(json.dumps(summary))
        try:
            os.rename(tmp, final)  # atomic: the part is complete from here on
        except OSError:
            if not _part_done(out, k):  # another writer's complete copy is fine
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _read_summary(out, k):
    return json.loads((_part_dir(out, k) / PART_SUMMARY).read_text())


def _part_done(out, k):
    part = _part_dir(out, k)
    return (part / "manifest.json").exists() and (part / PART_SUMMARY).exists()


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="sample", dynamic_ncols=True, file=sys.stderr)


def run_build(
    items,
    encode,
    out,
    *,
    samples_per_part,
    workers=None,
    engine="local",
    address=None,
    on_error="skip",
    metadata=None,
    index_by=None,
    shard_size_bytes=2**40,
    progress=None,
):
    """Build a sharded dataset at ``out`` from ``items`` with ``encode``.

    Parameters
    ----------
    items : sequence
        Picklable descriptors, already in their final (sorted) order.
    encode : callable
        Picklable ``encode(item) -> dict | None``; None drops the item on purpose.
    samples_per_part : int
        Items per part (and per shard, unless a part exceeds ``shard_size_bytes``).
    workers : int, optional
        Local worker processes; defaults to ``os.cpu_count()``. Output does not depend on
        it. ``0`` builds in the calling process (debugging; a Ctrl-C then waits for the
        kernel that is running). Worker processes are started with ``spawn``: the calling
        script needs an ``if __name__ == "__main__":`` guard.
    engine : {"local", "ray"}
    on_error : {"skip", "fail"}
    progress : bool, optional
        Progress bar; defaults to on when stderr is a terminal and CI is unset.
    """
    exit_if_bootstrapping()  # a worker re-running an unguarded script: see fastload._workers
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', not {on_error!r}")
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")
    _check_count("samples_per_part", samples_per_part)
    if workers is not None and workers != 0:
        _check_count("workers", workers)
    items = list(items)
    from fastload.dataset.upload import build_to_url, is_url

    if is_url(out):  # object storage: build in a local staging folder, then upload
        return build_to_url(
            run_build,
            items,
            encode,
            out,
            samples_per_part=samples_per_part,
            workers=workers,
            engine=engine,
            address=address,
            on_error=on_error,
            metadata=metadata,
            index_by=index_by,
            shard_size_bytes=shard_size_bytes,
            progress=progress,
        )
    out = Path(out)
    _refuse_complete(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    parts = [items[i : i + samples_per_part] for i in range(0, len(items), samples_per_part)]
    _remove_leftovers(out, len(parts))
    todo = [k for k in range(len(parts)) if not _part_done(out, k)]
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    bar = _progress(sum(len(parts[k]) for k in todo), progress)
    args = [(str(out), k, parts[k], encode, on_error, shard_size_bytes, index_by) for k in todo]
    try:
        if engine == "ray":
            _run_ray(args, address, bar)
        else:
            _run_local(args, workers, bar)
    finally:
        if bar is not None:
            bar.close()

    summaries = [_read_summary(out, k) for k in range(len(parts))]
    bad = [b for s in summaries for b in s["bad"]]
    filtered = sum(s["filtered"] for s in summaries)
    (out / BAD_SAMPLES).write_text(json.dumps(bad, indent=1))
    user_metadata = dict(metadata or {})
    user_metadata["build"] = {
        "items": len(items),
        "bad_samples": len(bad),
        "filtered": filtered,
        "bad_samples_file": BAD_SAMPLES,
        "samples_per_part": samples_per_part,
        "on_error": on_error,
    }
    if index_by is not None:
        keys = [key for s in summaries for key in s["keys"]]
        splits = {}
        for row, key in enumerate(keys):
            splits.setdefault(str(key), []).append(row)
        user_metadata["splits"] = dict(sorted(splits.items()))
    with _signals_deferred():  # a Ctrl-C here would leave a complete dataset plus .parts/
        manifest = merge_parts(
            out,
            [_part_dir(out, k) for k in range(len(parts))],
            metadata=user_metadata,
            created_at=None,
        )
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    return BuildResult(
        path=out,
        rows=manifest["num_rows"],
        bad_samples=bad,
        filtered=filtered,
        parts_reused=len(parts) - len(todo),
        parts_built=len(todo),
        seconds=time.perf_counter() - started,
        manifest=manifest,
    )


def _refuse_complete(out):
    """Raise SourceError when ``out`` already holds a complete dataset. The manifest is
    written last, after every shard is in place: a ``.parts`` folder beside it is only what
    a build killed in its last step left, and is removed first."""
    out = Path(out)
    if (out / "manifest.json").exists():
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
        raise SourceError(f"{out}: a complete dataset is already there; remove it to rebuild")


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SourceError(f"{name} must be an integer >= 1, not {value!r}")
    if value < 1:
        raise SourceError(f"{name} must be >= 1, not {value}")


def check_source(src, out, *, samples_per_shard=None):
    """What every builder checks before listing: ``src`` is a folder, ``out`` holds no
    complete dataset, ``samples_per_shard`` is a positive integer (raises SourceError)."""
    exit_if_bootstrapping()
    src, out = Path(src), Path(out)
    if not src.is_dir():
        what = "is not a folder" if src.exists() else "does not exist"
        raise SourceError(f"{src}: source folder {what}")
    _refuse_complete(out)
    if samples_per_shard is not None:
        _check_count("samples_per_shard", samples_per_shard)


def _remove_leftovers(out, num_parts):
    """Remove what interrupted attempts left: temporary part folders, incomplete parts."""
    parts_dir = Path(out) / PARTS_DIR
    if not parts_dir.is_dir():
        return
    for p in parts_dir.iterdir():
        if TMP_MARK in p.name:
            shutil.rmtree(p, ignore_errors=True)
    for k in range(num_parts):
        if _part_dir(out, k).exists() and not _part_done(out, k):
            shutil.rmtree(_part_dir(out, k), ignore_errors=True)


def _tick(bar, n):
    if bar is not None:
        bar.update(n)


def _in_main_thread():
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _exit_on_second_interrupt():
    """While cleaning up after an interrupt, another Ctrl-C exits the process at once."""
    if not _in_main_thread():
        yield
        return

    def _now(signum, frame):
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGINT, _now)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


@contextmanager
def _signals_deferred():
    """SIGINT/SIGTERM arriving in here are recorded, then delivered again to the usual
    handler on the way out: for short steps that must not stop half-way."""
    if not _in_main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM)
    caught = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s in sigs:
            signal.signal(s, previous[s] if previous[s] is not None else signal.SIG_DFL)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)


@contextmanager
def _children_ignore_interrupts():
    """Workers started in here begin life with SIGINT/SIGTERM blocked (the signal mask is
    inherited through fork and exec) and ignore them as their first act, so a Ctrl-C that
    reaches the whole process group never interrupts a worker, not even while it starts
    up; the parent stops them.

    This thread blocks them meanwhile, but the kernel may hand the signal to another
    thread of the process, and Python then runs the handler here anyway, possibly in the
    middle of ``Process.start()`` (a child spawned, its start-up data not yet written: it
    would die with a traceback, unknown to the cleanup). So the signals are also deferred
    (:func:`_signals_deferred`) until every started worker is known."""
    if not _in_main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM)
    with _signals_deferred():
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)


def _die_with_parent(parent_pid):
    """Linux: the kernel kills this worker when the build process dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(conn, parent_pid, report_progress):
    """A local build worker: builds the parts it is sent until it gets None."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    _die_with_parent(parent_pid)
    try:
        _serve_parts(conn, report_progress)
    except OSError:  # EPIPE / ECONNRESET: the parent stopped the build and closed the pipe;
        os._exit(1)  # nobody is left to report to, and a traceback here would be noise


def _serve_parts(conn, report_progress):
    conn.send(("ready",))  # start-up (which re-ran the main script) is over
    tick = (lambda n: conn.send(("tick", n))) if report_progress else None
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        if args is None:
            return
        try:
            conn.send(("done", args[1], _build_part(*args, tick=tick)))
        except BaseException as exc:  # noqa: BLE001 - sent to the parent, which stops
            conn.send(("error", args[1], _portable(exc), traceback.format_exc()))
            return


class RemoteTraceback(Exception):
    """The formatted traceback of an exception raised in a build worker."""

    def __str__(self):
        return "\n\n" + self.args[0]


def _portable(exc):
    """``exc`` if it survives pickling, else a RuntimeError with its text."""
    import pickle

    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _run_local(args, workers, bar):
    if workers is None:
        workers = os.cpu_count() or 1
    if workers == 0 or not args:  # in this process
        for a in args:
            _build_part(*a, tick=None if bar is None else bar.update)
        return
    import multiprocessing
    from multiprocessing import resource_tracker
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    # started now: starting it later (in p.start()) would unblock SIGINT in this thread
    resource_tracker.ensure_running()
    procs = []  # (process, connection)
    try:
        with _children_ignore_interrupts():
            for i in range(min(workers, len(args))):
                here, there = ctx.Pipe()
                p = ctx.Process(
                    target=_worker_main,
                    args=(there, os.getpid(), bar is not None),
                    name=f"fastload-build-{i}",
                    daemon=True,
                )
                p.start()
                there.close()
                procs.append((p, here))
        todo = deque(args)
        busy = {}  # connection -> part index
        started = set()  # connections that sent something (their worker got past start-up)

        def assign(conn):
            if todo:
                conn.send(todo.popleft())
                busy[conn] = True
            else:
                busy.pop(conn, None)

        for _, conn in procs:
            assign(conn)
        by_sentinel = {p.sentinel: (p, conn) for p, conn in procs}
        by_conn = {conn: p for p, conn in procs}

        def died(p, conn):
            p.join(5)
            if p.exitcode == MAIN_GUARD_EXIT and conn not in started:
                return main_guard_error("fastload build")
            if conn not in started:
                return _startup_error(p)
            return FastloadError(
                f"build worker {p.name} died (exit code {p.exitcode}) while "
                "building a part; nothing was marked complete, rerun to resume"
            )

        while busy:
            ready = wait([*busy, *(p.sentinel for p, c in procs if c in busy)], timeout=POLL_S)
            for obj in ready:
                if obj in by_sentinel:
                    p, conn = by_sentinel[obj]
                    if conn in busy and not conn.poll():
                        raise died(p, conn)
                    continue
                conn = obj
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    # EOF or ECONNRESET: the worker is gone (its last words were read)
                    raise died(by_conn[conn], conn) from None
                started.add(conn)
                if msg[0] == "ready":
                    continue
                if msg[0] == "tick":
                    _tick(bar, msg[1])
                elif msg[0] == "done":
                    assign(conn)
                else:
                    _, k, exc, tb = msg
                    raise exc from RemoteTraceback(tb)
        for _, conn in procs:
            try:
                conn.send(None)
            except OSError:
                pass
        for p, _ in procs:
            p.join(5)
    except BaseException:
        with _exit_on_second_interrupt():
            for p, _ in procs:
                p.kill()  # a part in progress is simply not complete: nothing to save
            for p, conn in procs:
                p.join(2)
                conn.close()
        raise
    for p, conn in procs:
        if p.is_alive():
            p.kill()
            p.join(1)
        conn.close()


def _startup_error(proc):
    """A worker died before it could run anything: usually the user's main script, which
    a spawned worker re-runs first, failed in it (its traceback is on stderr above)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    hint = (
        f"; workers re-run {script} when they start: if its top-level code is not under "
        '`if __name__ == "__main__":`, put it there (or pass workers=0)'
        if script and not script.endswith(("pytest", "__main__.py"))
        else ""
    )
    return FastloadError(
        f"build worker {proc.name} died while starting (exit code {proc.exitcode}){hint}"
    )


def _run_ray(args, address, bar):
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise FastloadError("engine='ray' needs Ray: pip install -e '.[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except BaseException:
            with _exit_on_second_interrupt():
                ray.shutdown()  # now, not in an atexit hook that first sleeps
            raise
    pending = []
    try:
        task = ray.remote(max_retries=0)(_build_part)
        pending = [task.remote(*a) for a in args]
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            if not done:
                continue
            try:
                summary = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, FastloadError):
                    raise cause from exc
                raise
            _tick(bar, summary["rows"] + len(summary["bad"]) + summary["filtered"])
    except BaseException:
        with _exit_on_second_interrupt():
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
            if started_here:
                ray.shutdown()
                started_here = False
        raise
    finally:
        if started_here:
            ray.shutdown()
