"""The store behind a remote ``Dataset``: manifest first, shards through the node cache.

:class:`RemoteStore` is the reader's ``ShardStore`` with two differences: the manifest comes
from object storage (verified against its own ``manifest_checksum`` before anything else
is read), and a shard is mapped from its complete, verified cache entry
(:mod:`fastload.dataset.cache`) instead of from the dataset folder. Once mapped, rows are
read exactly as for a local dataset: zero-copy views into the memory map.

A shard this process maps stays *pinned* (a shared lock on the cache entry) until the
store lets it go: when the cache needs room it releases its oldest mapped shards first
(rows already handed out stay valid: the memory map lives as long as any view of it).
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from fastload.dataset import filesystem as fsmod
from fastload.dataset.cache import ShardCache, default_cache_dir, parse_size
from fastload.dataset.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    manifest_checksum,
    parse_manifest,
)
from fastload.dataset.reader import ShardStore
from fastload.errors import ShardError

__all__ = ["RemoteStore"]

log = logging.getLogger("fastload.storage")

#: Background download threads per store (shards are fetched whole, one per thread).
PREFETCH_THREADS = 2


class RemoteStore(ShardStore):
    remote = True

    def __init__(
        self, url, *, cache_dir=None, cache_limit=None, filesystem=None, storage_options=None
    ):
        self._spec = {
            "url": str(url),
            "cache_dir": None if cache_dir is None else str(cache_dir),
            "cache_limit": cache_limit,
            "filesystem": filesystem,
            "storage_options": storage_options,
        }
        limit = parse_size(cache_limit)
        self.loc = fsmod.resolve(url, filesystem, storage_options)
        label = self.loc.url_of(MANIFEST_NAME)
        try:
            raw = fsmod.read_small(self.loc, MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES)
        except ShardError as exc:
            self._raise_missing(exc)
        manifest = parse_manifest(raw, label)
        stored = manifest.get("manifest_checksum")
        if stored is None:
            import xxhash

            key = xxhash.xxh3_128_hexdigest(raw)
        else:
            key = manifest_checksum(manifest)
            if key != stored:
                raise ShardError(
                    f"{label}: manifest checksum is {key} but the manifest says {stored} "
                    "(damaged or edited manifest)"
                )
        self.key = key
        self.cache = ShardCache(default_cache_dir() if cache_dir is None else cache_dir, key, limit)
        super().__init__(self.loc.url, manifest=manifest)
        n = len(self.shard_files)
        self._shard_locks = [threading.Lock() for _ in range(n)]
        self._pins = {}
        self._fifo = collections.deque()
        self._stats_lock = threading.Lock()
        self._stats = dict.fromkeys(
            ("bytes_downloaded", "cache_hits", "cache_misses", "downloads", "retries"), 0
        )
        self._stats["download_wait_s"] = 0.0
        self._pending = set()
        self._executor = None

    def _raise_missing(self, exc):
        """No manifest: say whether the bucket itself is missing."""
        import pyarrow.fs as pafs

        from fastload.errors import StorageError

        bucket = self.loc.root.split("/", 1)[0]
        try:
            info = self.loc.fs.get_file_info(bucket)
        except Exception:  # noqa: BLE001 - the original error is the better one then
            info = None
        if info is not None and info.type == pafs.FileType.NotFound:
            raise StorageError(f"{self.loc.url}: no such bucket or container {bucket!r}") from None
        raise ShardError(
            f"{self.loc.url_of(MANIFEST_NAME)}: no manifest: not a fastload dataset, or its "
            f"build has not finished ({exc})"
        ) from None

    def check_shard_file(self, entry):
        pass  # sizes are checked when the shard is downloaded

    def reopen_spec(self):
        return dict(self._spec)

    # -- stats ---------------------------------------------------------------------------
    def _add(self, key, value):
        with self._stats_lock:
            self._stats[key] += value

    def stats(self):
        with self._stats_lock:
            return dict(self._stats)

    # -- shards --------------------------------------------------------------------------
    def open_shard(self, k):
        opened = self._opened[k]
        if opened is not None:
            return opened
        with self._shard_locks[k]:
            opened = self._opened[k]
            if opened is not None:
                return opened
            pin = self._acquire(k, reader=True)
            name = self.shard_files[k]
            try:
                opened, mm = self.map_shard(k, pin.path, self.loc.url_of(name))
            except BaseException:
                pin.close()
                raise
            with self._lock:
                first = self.shard_first_batch[k]
                self.batches[first : first + len(opened)] = opened
                self._mmaps[k] = mm
                self._opened[k] = opened
                self._pins[k] = pin
                self._fifo.append(k)
        return opened

    def open_shards(self):
        """Shard numbers this store has mapped (and pinned) now."""
        with self._lock:
            return list(self._fifo)

    def release_shard(self, k):
        """Unmap shard ``k`` here (rows handed out stay valid) and unpin its cache entry."""
        with self._lock:
            return self._release_locked(k)

    def _release_locked(self, k):
        pin = self._pins.pop(k, None)
        if pin is None:
            return False
        try:
            self._fifo.remove(k)
        except ValueError:
            pass
        first = self.shard_first_batch[k]
        n = len(self._opened[k])
        self.batches[first : first + n] = [None] * n
        self._opened[k] = None
        self._mmaps[k] = None
        pin.close()
        return True

    def _release_oldest(self):
        with self._lock:
            if not self._fifo:
                return False
            return self._release_locked(self._fifo[0])

    def _acquire(self, k, *, reader):
        """Pin shard ``k``'s cache entry, downloading it first when it is missing."""
        entry = self.manifest["shards"][k]
        name, size = entry["file"], entry["num_bytes"]
        pin = self.cache.try_pin(name, size)
        if pin is not None:
            if reader:
                self._add("cache_hits", 1)
            return pin
        t0 = time.perf_counter()
        try:
            for _ in range(5):
                with self.cache.download_lock(name):
                    pin = self.cache.try_pin(name, size)
                    if pin is None:
                        self._download(k, name, entry)
                        pin = self.cache.try_pin(name, size)
                if pin is not None:
                    return pin
                # evicted by another process between rename and pin: fetch again
            raise ShardError(
                f"{self.loc.url_of(name)}: shard {k} was evicted from the cache "
                f"{self.cache.base} right after each download; cache_limit is too small"
            )
        finally:
            if reader:
                self._add("cache_misses", 1)
                self._add("download_wait_s", time.perf_counter() - t0)

    def _download(self, k, name, entry):
        url = self.loc.url_of(name)

        def fill(f):
            for attempt in (1, 2):
                try:
                    got = fsmod.fetch_object(
                        self.loc,
                        name,
                        f,
                        size=entry["num_bytes"],
                        checksum=entry["checksum"],
                        on_retry=lambda: self._add("retries", 1),
                        progress=lambda n: self._add("bytes_downloaded", n),
                    )
                except fsmod.ChecksumMismatch as exc:
                    if attempt == 2:
                        raise ShardError(
                            f"{url}: shard {k} ({name}) failed its checksum twice, giving up: "
                            f"{self.loc.clean(exc)}"
                        ) from None
                    log.warning("fastload: %s; fetching it once more", self.loc.clean(exc))
                    continue
                self._add("downloads", 1)
                return got

        self.cache.write_entry(name, entry["num_bytes"], fill, release_own=self._release_oldest)

    # -- prefetch ------------------------------------------------------------------------
    def prefetch(self, shards):
        with self._lock:
            todo = [
                int(k)
                for k in shards
                if self._opened[int(k)] is None and int(k) not in self._pending
            ]
            self._pending.update(todo)
            if todo and self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(
                    PREFETCH_THREADS, thread_name_prefix="fastload-prefetch"
                )
        for k in todo:
            self._executor.submit(self._prefetch_one, k)

    def _prefetch_one(self, k):
        try:
            if self._opened[k] is None:
                self._acquire(k, reader=False).close()
        except Exception as exc:  # noqa: BLE001 - the reader meets (and raises) it itself
            log.debug("fastload: prefetch of shard %d failed: %s", k, exc)
        finally:
            with self._lock:
                self._pending.discard(k)

    def __del__(self):
        ex = getattr(self, "_executor", None)
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)
