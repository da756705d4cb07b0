"""Conformance run over a corpus of other projects' test files (issue 13).

Every file is read by fastload in a worker subprocess (``_worker.py``: timeout, address-
space limit, restarted after a crash) and compared with its reference reader; the outcome
is compared with the reviewed table ``expected.tsv`` next to this file.

Command line (from the repository root)::

    python tests/conformance/harness.py                 # run, compare with the table
    python tests/conformance/harness.py --update        # rewrite the rows that changed
    python tests/conformance/harness.py --only pillow/ --only libjpeg-turbo/ --update
    python tests/conformance/harness.py --modality audio --update

``--corpus DIR`` or ``FASTLOAD_CONFORMANCE_CORPUS`` names the corpus. ``--update`` keeps
the reason of a row whose outcome and detail did not change; a new or changed row that
needs a reason gets ``TODO``, which the test suite refuses until a person writes one.
"""

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TABLE = os.path.join(HERE, "expected.tsv")
ENV_VAR = "FASTLOAD_CONFORMANCE_CORPUS"

#: outcomes that are fine on their own; everything else needs a reason in the table
GOOD = ("identical",)
OUTCOMES = (
    "identical",
    "close",
    "refused",
    "decoded-unverified",
    "mismatch",
    "history",
    "crop-dependent",
    "exception",
    "memory",
    "bad-message",
    "crash",
    "timeout",
)
FAILURES = (
    "mismatch",
    "history",
    "crop-dependent",
    "exception",
    "memory",
    "bad-message",
    "crash",
    "timeout",
)

_IMAGE = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".ico",
    ".psd",
    ".qoi",
    ".sgi",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
    ".mpo",
)
_AUDIO = (".flac", ".wav", ".aif", ".aiff", ".aifc", ".ogg", ".flac.in", ".flac.ok")
_VOLUME = (".nii", ".nii.gz", ".hdr", ".img")

TIMEOUT_S = 60.0
READY_TIMEOUT_S = 300.0

HEADER = """\
# Conformance table: expected outcome of fastload on each file of the conformance corpus
# (issue 13; see tests/README.md, "Conformance suite"). Tab-separated:
#   path      relative to the corpus root
#   outcome   identical | close | refused | decoded-unverified   (acceptable, with a reason
#             except identical) or a failure: mismatch | history | crop-dependent |
#             exception | memory | bad-message | crash | timeout   (allowed only while a
#             named defect is open: the reason says "defect: ...")
#   detail    compared: close -> measured max/mean difference (the run may not exceed it);
#             refused / exception -> the exception class; others as the harness writes it
#   reason    why this outcome is acceptable (required for every outcome but identical)
#   message   fastload's error message or the reference's, for review only (not compared)
# Regenerate: python tests/conformance/harness.py --update [--only PREFIX] [--modality M]
"""


def modality(rel):
    low = rel.lower()
    for kind, exts in (("volume", _VOLUME), ("audio", _AUDIO), ("image", _IMAGE)):
        if low.endswith(exts):
            return kind
    return None


def corpus_files(root):
    out = []
    for d, _dirs, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
            if modality(rel):
                out.append(rel)
    return sorted(out)


# --------------------------------------------------------------------------- table
def read_table(path=TABLE):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                raise ValueError(f"{path}:{n}: expected 5 tab-separated fields, got {len(parts)}")
            rel, outcome, detail, reason, message = parts
            if rel in rows:
                raise ValueError(f"{path}:{n}: {rel} listed twice")
            rows[rel] = {"outcome": outcome, "detail": detail, "reason": reason, "message": message}
    return rows


def write_table(rows, path=TABLE):
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for rel in sorted(rows):
            r = rows[rel]
            f.write(
                "\t".join([rel, r["outcome"], r["detail"], r["reason"], _clean(r["message"])])
                + "\n"
            )


def _clean(text, limit=300):
    text = re.sub(r"0x[0-9a-fA-F]{6,}", "0x?", " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def table_problems(rows):
    """Rows that break the table's own rules (no corpus needed)."""
    bad = []
    for rel, r in rows.items():
        if r["outcome"] not in OUTCOMES:
            bad.append(f"{rel}: unknown outcome {r['outcome']!r}")
        elif r["outcome"] not in GOOD and (not r["reason"].strip() or "TODO" in r["reason"]):
            bad.append(f"{rel}: outcome {r['outcome']} needs a reason a user would accept")
        elif r["outcome"] in FAILURES and "defect" not in r["reason"]:
            bad.append(
                f"{rel}: failure {r['outcome']} allowed only while a named defect is "
                f"open (reason must say 'defect: ...')"
            )
    return bad


def _numbers(detail):
    out = {}
    for tok in detail.split():
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def differs(expected, got):
    """None when ``got`` matches the table row ``expected``, else a description."""
    if expected is None:
        return f"not in the table (got {got['outcome']} {got['detail']})"
    if got["outcome"] != expected["outcome"]:
        return (
            f"expected {expected['outcome']} {expected['detail']}, got {got['outcome']} "
            f"{got['detail']}: {got['message']}"
        )
    if got["outcome"] == "close":
        want, have = _numbers(expected["detail"]), _numbers(got["detail"])
        for k, v in have.items():
            if k not in want or v > want[k] * (1 + 1e-9) + 1e-12:
                return f"difference grew: expected {expected['detail']}, got {got['detail']}"
        return None
    if (
        got["outcome"] in ("refused", "exception", "crash", "bad-message", "crop-dependent")
        and got["detail"] != expected["detail"]
    ):
        return f"expected {expected['detail']}, got {got['detail']}: {got['message']}"
    return None


# --------------------------------------------------------------------------- workers
class _Worker:
    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        env.setdefault("NUMBA_CACHE_DIR", os.path.join(ROOT, "build", "numba-cache"))
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", os.path.join(HERE, "_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        self.lines = queue.Queue()
        self.err = []
        threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True
        ).start()
        first = self._get(READY_TIMEOUT_S)
        if not first or not first.get("ready"):
            self.kill()
            raise RuntimeError("conformance worker did not start:\n" + self.stderr_tail())

    @staticmethod
    def _pump(stream, put):
        with stream:
            for line in iter(stream.readline, b""):
                put(line.decode("utf-8", "replace"))
        put(None)

    def _get(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return "timeout"
        return None if line is None else json.loads(line)

    def stderr_tail(self, n=2000):
        return "".join(x for x in self.err if x)[-n:]

    def ask(self, path, rel, kind, timeout):
        self.err.clear()
        try:
            self.proc.stdin.write(
                (json.dumps({"path": path, "rel": rel, "kind": kind}) + "\n").encode()
            )
            self.proc.stdin.flush()
        except OSError:
            pass
        res = self._get(timeout)
        if res == "timeout":
            self.kill()
            return {
                "outcome": "timeout",
                "detail": "",
                "message": f"no answer within {timeout:g} s",
            }, False
        if res is None:
            self.kill()
            rc = self.proc.returncode
            detail = (
                signal.Signals(-rc).name
                if rc < 0 and -rc in signal.valid_signals()
                else f"exit {rc}"
            )
            tail = self.stderr_tail(400).strip().splitlines()
            return {
                "outcome": "crash",
                "detail": detail,
                "message": tail[-1] if tail else "",
            }, False
        return res, True

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


def run(root, rels, jobs=2, timeout=TIMEOUT_S, progress=None):
    """Outcome dict per relative path: {"outcome", "detail", "message"}."""
    root = os.path.abspath(root)
    todo = queue.Queue()
    for rel in sorted(rels, key=lambda r: -os.path.getsize(os.path.join(root, r))):
        todo.put(rel)
    results, errors = {}, []

    def slot():
        worker = None
        try:
            while True:
                try:
                    rel = todo.get_nowait()
                except queue.Empty:
                    return
                if worker is None:
                    worker = _Worker()
                path = os.path.join(root, rel)
                res, alive = worker.ask(path, rel, modality(rel), timeout)
                if not alive:
                    worker = None
                res["message"] = _clean(res.get("message", "").replace(root + os.sep, ""))
                results[rel] = res
                if progress:
                    progress(rel, res)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            if worker is not None:
                worker.close()

    threads = [threading.Thread(target=slot) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def select(rels, only=(), kinds=()):
    return [
        r
        for r in rels
        if (not only or any(r.startswith(p) for p in only)) and (not kinds or modality(r) in kinds)
    ]


def summary(rows):
    """{source: {outcome: count}} for the table or a run."""
    out = {}
    for rel, r in rows.items():
        src = rel.split("/", 1)[0]
        out.setdefault(src, {})
        out[src][r["outcome"]] = out[src].get(r["outcome"], 0) + 1
    return out


def format_summary(rows):
    counts = summary(rows)
    cols = [o for o in OUTCOMES if any(o in c for c in counts.values())]
    lines = ["| source | files | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for src in sorted(counts):
        c = counts[src]
        lines.append(
            f"| {src} | {sum(c.values())} | " + " | ".join(str(c.get(o, "")) for o in cols) + " |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.environ.get(ENV_VAR))
    ap.add_argument("--update", action="store_true", help="rewrite changed rows of the table")
    ap.add_argument("--only", action="append", default=[], help="path prefix (repeatable)")
    ap.add_argument("--modality", action="append", default=[], choices=["image", "audio", "volume"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S)
    ap.add_argument("--summary", action="store_true", help="print counts from the table")
    args = ap.parse_args(argv)
    table = read_table() if os.path.exists(TABLE) else {}
    if args.summary:
        print(format_summary(table))
        return 0
    if not args.corpus:
        ap.error(f"give --corpus or set {ENV_VAR}")
    rels = select(corpus_files(args.corpus), args.only, args.modality)
    t0 = time.monotonic()

    def progress(rel, res):
        flag = "" if differs(table.get(rel), res) is None else "  <-- changed"
        print(f"{res['outcome']:<18} {rel}  {res['detail']}{flag}", flush=True)

    results = run(args.corpus, rels, jobs=args.jobs, timeout=args.timeout, progress=progress)
    changed = {
        rel: d
        for rel in sorted(results)
        if (d := differs(table.get(rel), results[rel])) is not None
    }
    print(
        f"\n{len(results)} files in {time.monotonic() - t0:.1f} s; "
        f"{len(changed)} differ from the table"
    )
    for rel, d in changed.items():
        print(f"  {rel}: {d}")
    if args.update:
        if not args.only and not args.modality:
            table = {rel: r for rel, r in table.items() if rel in results}
        for rel, res in results.items():
            old = table.get(rel)
            if rel in changed or old is None:
                reason = "" if res["outcome"] in GOOD else "TODO"
                if old is not None and old["outcome"] == res["outcome"] and old["reason"]:
                    reason = old["reason"]  # same outcome, new numbers or class
                table[rel] = dict(res, reason=reason)
            else:
                table[rel]["message"] = res["message"]
        write_table(table)
        todo = [p for p in table_problems(table)]
        print(f"table rewritten: {TABLE}")
        for p in todo:
            print("  needs a reason:", p)
    return 1 if changed and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
