"""A node-local cache of whole shard files, shared safely by the processes of one node.

Layout::

    cache_dir/
      .fastload-cache.lock           held exclusively while making room (eviction)
      <manifest_checksum>/           one folder per dataset version: never shared
        shard-00000.arrow            complete, verified entries only
        .shard-00000.arrow.<pid>.<n>.tmp   a download in progress (never looks complete)
        .locks/shard-00000.arrow.lock      held exclusively by the one downloader

Protocol (POSIX ``flock``; every lock dies with its process, so SIGKILL never wedges it):

* **Pin.** A reader opens a complete entry and takes a *shared* lock on the entry file
  itself, keeps that descriptor while the shard is memory-mapped, then checks the path
  still names the inode it locked (an evictor may have unlinked it in between: retry).
* **Miss.** The reader takes the entry's *exclusive* download lock; concurrent readers of
  the same shard block there and find the entry complete once it is released (a shard
  is downloaded once per node). The downloader removes stale temporaries of that entry
  (their writers are dead: they no longer hold the lock), makes room, downloads into a
  temporary name, verifies size and xxh3_128, ``fsync``s and renames it into place.
  A process killed mid-download leaves only a ``.tmp`` file.
* **Reserve.** Under the cache-wide lock a download makes room and creates its temporary
  file at the final size, so concurrent downloads never overshoot the limit together;
  temporaries of dead writers (no download lock held) are removed when room is needed.
* **Evict.** Under the cache-wide lock, entries are taken least recently used first
  (a pin refreshes the entry's mtime) and removed only when an exclusive non-blocking
  lock on the entry file succeeds, i.e. no reader anywhere holds it pinned.

``cache_limit`` bounds the bytes of complete entries of *all* datasets under
``cache_dir`` plus downloads in progress. When pinned entries alone exceed it, the download
goes ahead (correctness over the bound) and a warning is logged once: size the limit for the
working set (see ``order="shard_blocks"`` in :class:`fastload.Loader`).
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import re
import threading
import time
from pathlib import Path

__all__ = ["ShardCache", "default_cache_dir", "parse_size"]

log = logging.getLogger("fastload.cache")

_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "M": 10**6,
    "MB": 10**6,
    "G": 10**9,
    "GB": 10**9,
    "T": 10**12,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*$")
_counter = itertools.count()
_TMP = re.compile(r"^\.(.+)\.\d+\.\d+\.tmp$")


def parse_size(value):
    """Bytes from an int or a string such as ``"50GB"``, ``"1.5 GiB"``, ``"800MB"``.

    ``None`` stays ``None`` (no limit). Decimal units (KB, MB, GB, TB) are powers of 1000,
    binary ones (KiB, MiB, GiB, TiB) powers of 1024.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"cache_limit must be bytes or a size string, got {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"cache_limit must be positive, got {value!r}")
        return int(value)
    m = _SIZE.match(str(value))
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(
            f"cache_limit {value!r} is not a size (examples: 50000000000, '50GB', '1.5GiB')"
        )
    n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if n <= 0:
        raise ValueError(f"cache_limit must be positive, got {value!r}")
    return n


def default_cache_dir():
    """``$FASTLOAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastload``, else ``~/.cache/fastload``."""
    env = os.environ.get("FASTLOAD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastload"


class Pin:
    """A pinned, complete cache entry: ``path`` stays valid until :meth:`close`."""

    __slots__ = ("path", "fd", "size")

    def __init__(self, path, fd, size):
        self.path = path
        self.fd = fd
        self.size = size

    def close(self):
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # drops the shared lock

    def __del__(self):
        self.close()


class ShardCache:
    """Entries of one dataset version (``key``) under ``cache_dir``.

    Parameters
    ----------
    cache_dir : path
    key : str
        The manifest checksum: different datasets (or versions) never share entries.
    limit : int or None
        Bytes; see the module docstring.
    """

    def __init__(self, cache_dir, key, limit=None):
        self.base = Path(cache_dir)
        self.root = self.base / key
        self.limit = limit
        self._locks = self.root / ".locks"
        self._locks.mkdir(parents=True, exist_ok=True)
        self._global_lock = self.base / ".fastload-cache.lock"
        self._warned = False
        self._mutex = threading.Lock()

    # -- entries -------------------------------------------------------------------------
    def path(self, name):
        return self.root / name

    def try_pin(self, name, size):
        """Pin ``name`` if it is complete in the cache, else return None."""
        p = self.root / name
        for _ in range(100):
            try:
                fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
                st = os.fstat(fd)
                try:
                    now = os.stat(p)
                except FileNotFoundError:
                    now = None
                if now is None or (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
                    os.close(fd)  # evicted (or replaced) between open and lock: look again
                    continue
                if st.st_size != size:
                    # cannot happen through this module; a damaged entry is dropped
                    log.warning(
                        "fastload: cache entry %s has %d bytes, expected %d; dropping it",
                        p,
                        st.st_size,
                        size,
                    )
                    os.close(fd)
                    self._drop_if_unpinned(p)
                    return None
                try:
                    os.utime(fd)  # LRU: most recently used
                except OSError:
                    pass
                return Pin(p, fd, size)
            except BaseException:
                os.close(fd)
                raise
        raise OSError(f"{p}: cache entry keeps changing under this reader")

    def _drop_if_unpinned(self, p):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
            return True
        finally:
            os.close(fd)

    def download_lock(self, name):
        """Context manager: the exclusive download lock of entry ``name`` (blocks)."""
        return _FileLock(self._locks / f"{name}.lock")

    def write_entry(self, name, size, fill, *, release_own=None):
        """Create entry ``name`` (caller holds its download lock).

        ``fill(fileobj)`` writes and verifies the bytes; on any exception the temporary
        file is removed and nothing is left behind.
        """
        final = self.root / name
        for stale in self.root.glob(f".{name}.*.tmp"):
            try:
                stale.unlink()  # its writer died: it no longer holds the download lock
            except FileNotFoundError:
                pass
        tmp = self.root / f".{name}.{os.getpid()}.{next(_counter)}.tmp"
        f = None
        try:
            # room is reserved under the cache-wide lock by creating the temporary file at
            # its final size, so concurrent downloads (any process) never overshoot the limit
            with self._mutex, _FileLock(self._global_lock):
                self._make_room_locked(size, release_own)
                f = open(tmp, "wb")
                f.truncate(size)
            with f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            if f is not None:
                f.close()
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            raise

    # -- eviction ------------------------------------------------------------------------
    def entries(self, *, with_temporaries=False):
        """``[(mtime, size, path)]`` of complete entries of every dataset in the cache
        (and downloads in progress, which hold their final size from the start)."""
        out = []
        try:
            dirs = [d for d in self.base.iterdir() if d.is_dir() and not d.name.startswith(".")]
        except FileNotFoundError:
            return out
        for d in dirs:
            try:
                it = list(os.scandir(d))
            except FileNotFoundError:
                continue
            for e in it:
                if not e.is_file(follow_symlinks=False):
                    continue
                if e.name.startswith("."):
                    if not (with_temporaries and e.name.endswith(".tmp")):
                        continue
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                out.append((st.st_mtime_ns, st.st_size, Path(e.path)))
        return out

    def used_bytes(self):
        return sum(size for _, size, _ in self.entries())

    def make_room(self, need, *, release_own=None):
        """Evict least-recently-used unpinned entries until ``need`` more bytes fit."""
        if self.limit is None:
            return
        with self._mutex, _FileLock(self._global_lock):
            self._make_room_locked(need, release_own)

    def _make_room_locked(self, need, release_own):
        if self.limit is None:
            return
        for _ in range(10_000):
            entries = sorted(self.entries(with_temporaries=True))
            used = sum(size for _, size, _ in entries)
            if used + need <= self.limit:
                return
            freed = False
            for _, size, p in entries:
                gone = (
                    self._drop_stale_tmp(p)
                    if p.name.endswith(".tmp")
                    else (self._drop_if_unpinned(p))
                )
                if gone:
                    used -= size
                    freed = True
                    if used + need <= self.limit:
                        return
            if release_own is not None and release_own():
                continue  # this process let go of a shard it held: try again
            if not freed:
                break
        if not self._warned:
            self._warned = True
            log.warning(
                "fastload: cache %s is over its limit of %d bytes: the shards readers "
                "hold open need more; raise cache_limit or use order='shard_blocks'",
                self.base,
                self.limit,
            )

    @staticmethod
    def _drop_stale_tmp(p):
        """Remove a temporary whose writer is dead (nobody holds its download lock)."""
        m = _TMP.match(p.name)
        if m is None:
            return False
        lock = p.parent / ".locks" / f"{m.group(1)}.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # a live download
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            return True
        finally:
            if fd is not None:
                os.close(fd)


class _FileLock:
    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        t0 = time.perf_counter()
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.waited = time.perf_counter() - t0
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock
        self.fd = None
