"""Child side of :class:`fastload.bench.harness.RemoteContenders` (``python -m``).

Reads one JSON command per line on stdin, answers one JSON line on stdout:

- ``{"setup": "module:function", "args": {...}}``: ``function(**args)`` returns
  ``(contenders, info)`` with contenders ``{name: [chunk callables]}`` and info a
  JSON-able dict (``version`` ...); answers ``{"names": {name: number of chunks},
  "info": info}``.
- ``{"run": name, "chunk": j}``: runs that chunk; answers ``{"wall": s, "cpu": s}``.
- ``{"quit": true}``: exits.

Any exception is answered as ``{"error": "Type: message"}``. Imports nothing of fastload
but the setup's module, so it runs in a peer's own virtual environment.
"""

import importlib
import json
import sys
import time


def main():
    contenders = {}
    out = sys.stdout
    sys.stdout = sys.stderr  # a peer's prints must not corrupt the replies
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg.get("quit"):
                break
            if "setup" in msg:
                module, func = msg["setup"].split(":")
                contenders, info = getattr(importlib.import_module(module), func)(
                    **msg.get("args", {})
                )
                reply = {"names": {k: len(v) for k, v in contenders.items()}, "info": info}
            else:
                chunk = contenders[msg["run"]][msg["chunk"]]
                c0, t0 = time.process_time(), time.perf_counter()
                chunk()
                reply = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
            reply = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
