"""Fail when a public name (a module's ``__all__``) has no entry in the built API page.

Run by .ci/docs after the HTML build: ``python docs/check_api.py build/docs/api.html``.
"""

import importlib
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MODULES = (
    "dataset loader pipelines transforms image audio volume builders torch jax errors "
    "backends testing.data"
).split()


def main(page):
    with open(page) as f:
        ids = set(re.findall(r'id="([^"]+)"', f.read()))
    missing = [
        f"fastload.{m}.{name}"
        for m in MODULES
        for name in importlib.import_module(f"fastload.{m}").__all__
        if f"fastload.{m}.{name}" not in ids
    ]
    if missing:
        sys.exit("public names missing from the API reference: " + ", ".join(missing))
    print(f"[docs] API reference: every public name of {len(MODULES)} modules documented")


if __name__ == "__main__":
    main(sys.argv[1])
