"""``fastload bench``'s driver: dependency check first, one child process per concern,
every row written (JSON lines) as soon as it is measured.

- Before the first timing, :func:`check` imports every optional dependency of the chosen
  concerns (in a child, with the thread variables set) and says which rows will be skipped
  and why; a concern whose required modules are missing is skipped whole.
- Each concern then runs in its own child (``python -m fastload.bench.runner --child``)
  started with :data:`~fastload.bench.harness.THREAD_VARS` in its environment, so they
  hold before numpy, numba or torch is imported. A concern module exposes
  ``rows(threads, quick, peer_python) -> iterator of row dicts`` and ``REQUIRES``
  (``{module: (required, "rows that need it")}``); the child prints each row as one JSON
  line as soon as it is yielded.
- A row group that raises inside a concern is a ``broken`` row of that concern (the
  concern module catches it with :func:`guarded`); a child that dies (a crash, a signal,
  an exception escaping ``rows``) is a ``broken`` row naming its exit status: the rows
  already written stay, and the next concern runs.

The JSON-lines file: a ``header`` line (time, command, CPU model, cores, Python, versions
of fastload and every peer, the skips), then one ``row`` line per row (with its
``concern``), then an ``end`` line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import traceback

from fastload.bench import broken, skipped
from fastload.bench.harness import thread_env

__all__ = ["CONCERNS", "PEER_PYTHON_ENV", "check", "guarded", "machine", "run_all"]

CONCERNS = {
    name: f"fastload.bench.{name}" for name in ("image", "audio", "volume", "loader", "dataset")
}
PEER_PYTHON_ENV = "FASTLOAD_BENCH_PEER_PYTHON"
# modules a peer venv is asked about (torchaudio and torchvision pin their own torch)
PEER_VENV_MODULES = ("torch", "torchvision", "torchaudio", "spdl")


def guarded(name, fn, *args, **kwargs):
    """Rows of ``fn(*args, **kwargs)`` (a list or iterator), or one ``broken`` row if it
    raises: one group's failure never loses the other groups' rows."""
    try:
        yield from fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as a row, the run goes on
        yield broken(name, f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """What the figures were measured on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count()
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    return {
        "cpu_model": cpu_model(),
        "cores_usable": cores,
        "cpu_count": os.cpu_count(),
        "load_avg_at_start": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _import_report(modules):
    """{module: (version or None, reason or None)} importing each here."""
    import importlib

    out = {}
    for name in modules:
        try:
            mod = importlib.import_module(name)
            version = getattr(mod, "__version__", None)
            out[name] = [str(version) if version is not None else "installed", None]
        except ImportError as exc:
            why = (
                "not installed"
                if getattr(exc, "name", None) == name.split(".")[0]
                else (f"fails to import: {type(exc).__name__}: {exc}")
            )
            out[name] = [None, why.splitlines()[0][:200]]
        except Exception as exc:  # noqa: BLE001 - a peer built for another torch ...
            why = f"fails to import: {type(exc).__name__}: {exc}"
            out[name] = [None, why.splitlines()[0][:200]]
    return out


def _child_json(cmd, env, timeout=600):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-500:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(concerns, *, threads=1, peer_python=None):
    """Import every optional dependency of ``concerns`` (a dict name -> module) before any
    timing. Returns ``(versions, skips)``: versions ``{module: version or None}`` (peer-venv
    modules as ``"peer-venv:torchaudio"``) and skips, one dict per concern and module that
    will not be measured: ``{"concern", "module", "rows", "reason", "whole_concern"}``."""
    env = thread_env(threads)
    cmd = [sys.executable, "-m", "fastload.bench.runner", "--check", *concerns.values()]
    report = _child_json(cmd, env)
    requires, imported = report["requires"], report["imported"]
    peer = {}
    if peer_python:
        pcmd = [peer_python, "-m", "fastload.bench.runner", "--imports", *PEER_VENV_MODULES]
        penv = dict(env, PYTHONPATH=_root())
        try:
            peer = _child_json(pcmd, penv)["imported"]
        except Exception as exc:  # noqa: BLE001
            peer = {
                m: [None, f"peer python {peer_python} failed: {exc}"[:200]]
                for m in PEER_VENV_MODULES
            }
    versions = {m: v for m, (v, _) in imported.items()}
    versions.update({f"peer-venv:{m}": v for m, (v, _) in peer.items()})
    skips = []
    for concern, module_name in concerns.items():
        reqs = requires[module_name]
        if reqs is None:
            skips.append(
                {
                    "concern": concern,
                    "module": concerns[concern],
                    "rows": "all",
                    "reason": imported.get(concerns[concern], [None, "?"])[1],
                    "whole_concern": True,
                }
            )
            continue
        for module, (required, rows) in reqs.items():
            version, why = imported[module]
            if version is not None:
                continue
            if module in PEER_VENV_MODULES and peer.get(module, [None])[0] is not None:
                continue  # measured in the peer venv instead
            if module in PEER_VENV_MODULES and not peer_python:
                why = f"{why}; or give a peer venv (--peer-python / ${PEER_PYTHON_ENV})"
            skips.append(
                {
                    "concern": concern,
                    "module": module,
                    "rows": rows,
                    "reason": why,
                    "whole_concern": bool(required),
                }
            )
    return versions, skips


def _command():
    """The ``fastload bench ...`` command line (the ``--note`` text is stored apart)."""
    argv = sys.argv[1:]
    if argv[:1] != ["bench"]:
        return None
    out, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        if not arg.startswith("--note="):
            out.append(arg)
    return " ".join(["fastload", "bench", *out])


def _root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _git_commit():
    try:
        out = subprocess.run(
            ["git", "-C", _root(), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def run_all(
    concerns=None,
    *,
    threads=1,
    quick=False,
    json_path=None,
    peer_python=None,
    note=None,
    on_row=None,
    on_skip=None,
):
    """Check the dependencies, then run each concern in its own child, writing each row to
    ``json_path`` (JSON lines) the moment it arrives. Returns ``{concern: [rows]}``.

    ``concerns``: a list of names from :data:`CONCERNS` or a dict name -> module (a module
    with ``rows`` and ``REQUIRES``). ``on_row(concern, row)`` / ``on_skip(skip)`` are called
    as rows arrive / once per skip, before any timing (the CLI prints them).
    """
    if concerns is None:
        concerns = dict(CONCERNS)
    elif not isinstance(concerns, dict):
        concerns = {name: CONCERNS[name] for name in concerns}
    peer_python = peer_python or os.environ.get(PEER_PYTHON_ENV) or None
    versions, skips = check(concerns, threads=threads, peer_python=peer_python)
    for s in skips:
        if on_skip is not None:
            on_skip(s)
    sink = open(json_path, "w") if json_path else None  # noqa: SIM115 - closed below

    def write(obj):
        if sink is not None:
            sink.write(json.dumps(obj) + "\n")
            sink.flush()

    try:
        import fastload

        write(
            {
                "type": "header",
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "command": _command(),
                "threads": threads,
                "quick": quick,
                "fastload": getattr(fastload, "__version__", None),
                "git_commit": _git_commit(),
                "machine": machine(),
                "note": note,
                "versions": versions,
                "skipped": skips,
            }
        )
        results = {}
        whole = {s["concern"] for s in skips if s["whole_concern"]}
        for concern, module in concerns.items():
            rows = results[concern] = []

            def emit(row, concern=concern, rows=rows):
                rows.append(row)
                write({"type": "row", "concern": concern, **row})
                if on_row is not None:
                    on_row(concern, row)

            if concern in whole:
                why = "; ".join(
                    f"{s['module']}: {s['reason']}"
                    for s in skips
                    if s["concern"] == concern and s["whole_concern"]
                )
                emit(skipped(concern, why))
                continue
            _run_child(concern, module, threads, quick, peer_python, emit)
        write(
            {
                "type": "end",
                "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "broken": [
                    f"{c}: {r['name']}"
                    for c, rs in results.items()
                    for r in rs
                    if r["kind"] == "broken"
                ],
            }
        )
        return results
    finally:
        if sink is not None:
            sink.close()


def _run_child(concern, module, threads, quick, peer_python, emit):
    cmd = [
        sys.executable,
        "-m",
        "fastload.bench.runner",
        "--child",
        module,
        "--threads",
        str(threads),
    ]
    if quick:
        cmd.append("--quick")
    if peer_python:
        cmd += ["--peer-python", peer_python]
    import threading

    err = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=thread_env(threads)
    ) as proc:
        reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
        reader.start()
        try:
            for line in proc.stdout:
                if line.startswith("{"):
                    try:
                        emit(json.loads(line))
                    except json.JSONDecodeError:
                        pass
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            reader.join(timeout=5)
    if code != 0:
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        last = "".join(err).strip().splitlines()[-1:] or [""]
        emit(
            broken(
                f"{concern} (rest of the concern)",
                f"child process ended with {how}: {last[0][:200]}",
            )
        )


def _child(module_name, threads, quick, peer_python):
    import importlib

    module = importlib.import_module(module_name)
    out = sys.stdout
    for row in module.rows(threads=threads, quick=quick, peer_python=peer_python):
        out.write(json.dumps(row) + "\n")
        out.flush()


def _main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastload.bench.runner")
    p.add_argument("--check", nargs="*")
    p.add_argument("--imports", nargs="*")
    p.add_argument("--child")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peer-python", default=None)
    args = p.parse_args(argv)
    if args.imports is not None:
        print(json.dumps({"imported": _import_report(args.imports)}))
        return 0
    if args.check is not None:
        import importlib

        requires, modules = {}, []
        imported = {}
        for name in args.check:
            try:
                reqs = dict(importlib.import_module(name).REQUIRES)
            except Exception as exc:  # noqa: BLE001
                requires[name] = None
                imported[name] = [None, f"{type(exc).__name__}: {exc}"[:200]]
                continue
            requires[name] = reqs
            modules += [m for m in reqs if m not in modules]
        imported.update(_import_report(modules))
        print(json.dumps({"requires": requires, "imported": imported}))
        return 0
    try:
        _child(args.child, args.threads, args.quick, args.peer_python)
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
