"""Suite-wide pytest set-up."""

import os

# Numba JIT caches go to a private folder so a fresh clone never loads a stale cache.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "numba-cache")
)
