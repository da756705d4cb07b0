"""Suite-wide pytest set-up: the Numba cache folder, the optional-peer test groups and a
tally of Numba compilation printed at the end (issue 17: JIT compile time is kept small).

Optional peers (torch, jax, ray, librosa, atheris, DALI) are not needed to run the suite.
Each is a test *group*: a marker of the same name (``@pytest.mark.torch``, or
``pytestmark = pytest.mark.torch`` for a whole module) whose tests run when the package is
installed and are skipped, with the reason, when it is not. A module using a peer imports
it guarded (``try: import torch`` / ``except ImportError: torch = None``) so it still
collects without it. In CI (``CI=true``) a missing group is an error: ``.ci/run`` installs
every group (tests/requirements.txt), so CI skips nothing. The groups that ran are printed
at the end of the run.
"""

import importlib.util
import os

import pytest

# Numba JIT caches go to a private folder so a fresh clone never loads a stale cache.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "numba-cache")
)

# group (= marker name) -> (module that must be importable, what to install)
GROUPS = {
    "torch": ("torch", "torch"),
    "jax": ("jax", "jax"),
    "ray": ("ray", "ray"),
    "librosa": ("librosa", "librosa"),
    "atheris": ("atheris", "atheris"),
    "dali": ("nvidia.dali", "nvidia-dali-cuda120"),
}


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module set to None
        return False


def _in_ci():
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


class _NumbaCompiles:
    """Wall time of each top-level Numba compilation in this process (cache misses only:
    a kernel loaded from NUMBA_CACHE_DIR is not compiled). Callees compiled inside a
    kernel's compilation count in its time."""

    def __init__(self):
        self.started = []
        self.done = {}  # kernel -> (compilations, seconds)

    def install(self):
        import time

        from numba.core import event

        tally = self

        class Listener(event.Listener):
            def on_start(self, ev):
                tally.started.append(time.perf_counter())

            def on_end(self, ev):
                t0 = tally.started.pop()
                if tally.started:  # a callee: counted in its caller's time
                    return
                fn = ev.data["dispatcher"].py_func
                key = f"{fn.__module__}.{fn.__qualname__}"
                n, s = tally.done.get(key, (0, 0.0))
                tally.done[key] = (n + 1, s + time.perf_counter() - t0)

        event.register("numba:compile", Listener())

    def summary(self):
        n = sum(c for c, _ in self.done.values())
        total = sum(s for _, s in self.done.values())
        top = sorted(self.done.items(), key=lambda kv: -kv[1][1])[:3]
        most = ", ".join(f"{k.rsplit('.', 1)[-1]} {c}x {s:.1f} s" for k, (c, s) in top)
        return f"numba JIT in this process: {n} compilations, {total:.1f} s" + (
            f" (most: {most})" if top else " (every kernel came from NUMBA_CACHE_DIR)"
        )


_NUMBA = _NumbaCompiles()


def pytest_configure(config):
    _NUMBA.install()
    for name, (module, _) in GROUPS.items():
        config.addinivalue_line(
            "markers", f"{name}: needs the optional peer {module!r} (skipped without it)"
        )
    config._fastload_groups = {
        name: {"installed": _installed(module), "passed": 0, "failed": 0, "skipped": 0}
        for name, (module, _) in GROUPS.items()
    }


def _groups_of(item):
    return [m.name for m in item.iter_markers() if m.name in GROUPS]


def pytest_runtest_setup(item):
    state = item.config._fastload_groups
    for name in _groups_of(item):
        if state[name]["installed"]:
            continue
        module, package = GROUPS[name]
        reason = f"optional test group {name!r}: {module!r} is not installed"
        reason += f" (pip install {package})"
        if _in_ci():
            pytest.fail(f"CI=true and {reason}; CI must run every group", pytrace=False)
        pytest.skip(reason)


def pytest_collection_modifyitems(session, config, items):
    config._fastload_item_groups = {item.nodeid: _groups_of(item) for item in items}


def pytest_runtest_logreport(report):
    # one count per test: its setup when that did not pass (skip or error), else its call
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    config = _STATE.get("config")
    groups = getattr(config, "_fastload_item_groups", {}).get(report.nodeid, ())
    outcome = "passed" if report.passed else "failed" if report.failed else "skipped"
    for name in groups:
        config._fastload_groups[name][outcome] += 1


_STATE = {}  # pytest_runtest_logreport gets no config argument


def pytest_sessionstart(session):
    _STATE["config"] = session.config


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config._fastload_groups
    lines = []
    for name, s in state.items():
        if not s["passed"] + s["failed"] + s["skipped"]:
            status = "installed, no test selected" if s["installed"] else "not installed"
        elif s["installed"]:
            status = f"ran: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped"
        else:
            status = f"NOT INSTALLED: {s['skipped'] + s['failed']} tests not run"
        lines.append(f"{name:8s} {status}")
    terminalreporter.write_sep("-", "optional test groups")
    for line in lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line(_NUMBA.summary())


@pytest.fixture(autouse=True)
def _signal_state_is_per_test():
    """Each test starts with the SIGINT/SIGTERM handlers and signal mask the one before it
    started with: a library that installs a handler (ray.init sets one for SIGTERM) or a
    test that stops half-way cannot change how a later interrupt test behaves."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM)
    handlers = {s: signal.getsignal(s) for s in sigs}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    for s, handler in handlers.items():
        if handler is not None and signal.getsignal(s) is not handler:
            signal.signal(s, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
