"""Side-by-side comparisons against peers, one module per concern, each exposing
``run(threads=1, quick=False) -> list[dict]``.

Used by ``fastload bench`` and by the scripts in ``benchmarks/``. Every contender is measured
in the same run, on the same data, with the same thread count; figures are medians of repeats.

Every row is made by one of the helpers below and says what it is (``kind``):

``reference``  a fastload measurement; the rows after it (its group) compare to it. 1.00x.
``peer``       another library doing the same work; ``ratio`` = fastload (the group's
               reference) / peer rate: above 1 means fastload is faster.
``variant``    another fastload configuration; ``ratio`` = this / the reference's rate.
``baseline``   a floor or ceiling that is not a peer (a bare decode, a tight loop): never a
               speed-up; ``ratio``, when given, says in the notes what it divides.
``memory``     a memory figure in MiB (``value``), not a rate.
``time``       a duration in seconds (``value``) reported apart from the rates (a worker
               pool's start-up), not a rate.
``missing`` / ``broken``  a peer that is not installed / fails to import (any exception).

Rows with a target carry ``goal`` (e.g. ``">= 1.6"``, compared with ``ratio`` or, for
memory, ``value``) and ``met`` (bool).
"""

import importlib
import operator

__all__ = [
    "baseline",
    "broken",
    "memory",
    "missing",
    "optional_import",
    "peer",
    "reference",
    "seconds",
    "skipped",
    "variant",
]

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def _met(goal, value):
    if goal is None or value is None:
        return None
    op, target = goal.split()
    return bool(_OPS[op](value, float(target)))


def _row(kind, name, rate, ratio, notes, unit, goal, value=None, ratio_range=None):
    row = {
        "name": name,
        "kind": kind,
        "items_per_s": None if rate is None else float(rate),
        "ratio": None if ratio is None else float(ratio),
        "notes": notes,
    }
    if ratio_range is not None:
        row["ratio_range"] = [float(min(ratio_range)), float(max(ratio_range))]
    if unit is not None:
        row["unit"] = unit
    if value is not None:
        row["value"] = float(value)
    if goal is not None:
        row["goal"] = goal
        row["met"] = _met(goal, row["value"] if value is not None else row["ratio"])
    return row


def reference(name, rate, notes="", *, unit=None):
    """The fastload row the following rows compare to (ratio 1.0)."""
    return _row("reference", name, rate, 1.0, notes, unit, None)


def peer(name, rate, reference_rate, notes="", *, unit=None, goal=None, ratio_range=None):
    """A peer library; ratio = fastload / peer (``reference_rate / rate``).
    ``ratio_range``: the per-repeat ratios (their min and max are kept)."""
    ratio = reference_rate / rate if rate else None
    return _row("peer", name, rate, ratio, notes, unit, goal, ratio_range=ratio_range)


def variant(name, rate, reference_rate, notes="", *, unit=None, goal=None, ratio_range=None):
    """Another fastload configuration; ratio = this / the reference (``rate / reference_rate``)."""
    ratio = rate / reference_rate if reference_rate else None
    return _row("variant", name, rate, ratio, notes, unit, goal, ratio_range=ratio_range)


def baseline(name, rate, notes="", *, ratio=None, unit=None, goal=None, ratio_range=None):
    """A floor or ceiling that is not a peer; drawn nowhere as a speed-up."""
    return _row("baseline", name, rate, ratio, notes, unit, goal, ratio_range=ratio_range)


def memory(name, mib, notes="", *, goal=None):
    """A memory figure in MiB; ``goal`` like ``"<= 173.5"`` (MiB)."""
    return _row("memory", name, None, None, notes, "MiB", goal, value=mib)


def seconds(name, value, notes=""):
    """A duration in seconds (start-up ...) reported apart from the rates."""
    return _row("time", name, None, None, notes, "s", None, value=value)


def missing(name, notes="not installed"):
    return _row("missing", f"{name} (missing)", None, None, notes, None, None)


def broken(name, reason):
    return _row("broken", f"{name} (broken: {reason})", None, None, reason, None, None)


def skipped(name, reason):
    return _row("skipped", f"{name} (skipped)", None, None, reason, None, None)


def optional_import(name):
    """``(module, None)``, or ``(None, row)`` with a missing/broken row when the import
    fails for any reason (a peer built for another torch raises more than ImportError)."""
    try:
        return importlib.import_module(name), None
    except ImportError as exc:
        if getattr(exc, "name", None) == name.split(".")[0]:
            return None, missing(name)
        return None, broken(name, _reason(exc))
    except Exception as exc:  # noqa: BLE001 - any failure becomes a row, never a crash
        return None, broken(name, _reason(exc))


def _reason(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
