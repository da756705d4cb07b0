"""Write datasets to object storage: upload a finished local dataset, shards first,
``manifest.json`` last; builds to a URL stage locally and upload.

A dataset on object storage is complete exactly when its manifest exists, as on disk.
Uploads are resumable: a shard whose object already exists with the manifest's size and
checksum (the ``fastload-xxh3`` object metadata written with it, or, where a filesystem
keeps no metadata, the xxh3 of its bytes) is not sent again, so a killed upload or build
continues where it stopped, and the result is byte-identical to the local dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

from fastload.dataset import filesystem as fsmod
from fastload.dataset.manifest import MANIFEST_NAME, load_manifest
from fastload.errors import ShardError

__all__ = ["UploadResult", "staging_dir", "upload_dataset"]

log = logging.getLogger("fastload.storage")
META_KEY = "fastload-xxh3"
_CHUNK = 8 * 2**20


@dataclasses.dataclass
class UploadResult:
    url: str
    uploaded: list
    skipped: list
    bytes_uploaded: int


def staging_dir(url):
    """Local folder where a build to ``url`` is staged (``$FASTLOAD_CACHE_DIR/builds/...``):
    stable for a URL, so a rerun of a killed build resumes from its completed parts."""
    from fastload.dataset.cache import default_cache_dir

    key = hashlib.sha256(fsmod.display_url(str(url)).encode()).hexdigest()[:16]
    return default_cache_dir() / "builds" / key


def _remote_matches(loc, name, entry):
    """True when object ``name`` exists with the size and checksum of manifest ``entry``."""
    import pyarrow.fs as pafs
    import xxhash

    path = loc.join(name)
    info = loc.fs.get_file_info(path)
    if info.type != pafs.FileType.File or info.size != entry["num_bytes"]:
        return False
    with loc.fs.open_input_stream(path) as f:
        meta = f.metadata() or {}
        got = {
            (k.decode() if isinstance(k, bytes) else k).lower(): v for k, v in dict(meta).items()
        }
        tag = got.get(META_KEY) or got.get(f"x-amz-meta-{META_KEY}")
        if tag is not None:
            return (tag.decode() if isinstance(tag, bytes) else tag) == entry["checksum"]
        h = xxhash.xxh3_128()
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest() == entry["checksum"]


def _put(loc, name, src, checksum):
    def attempt():
        with (
            open(src, "rb") as fin,
            loc.fs.open_output_stream(
                loc.join(name), metadata={META_KEY: checksum} if checksum else None
            ) as out,
        ):
            while True:
                chunk = fin.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)

    fsmod.with_retries(loc, loc.url_of(name), attempt)


def upload_dataset(folder, url, *, filesystem=None, storage_options=None):
    """Upload the complete local dataset ``folder`` to ``url``.

    Shards go first (skipping those already there, see the module docstring), then
    ``manifest.json``. A destination that already holds a *different* manifest is refused.

    Returns
    -------
    UploadResult

    Raises
    ------
    ShardError
        ``folder`` is not a complete dataset, or ``url`` already holds another dataset.
    StorageError
        As for :func:`fastload.open_dataset` (no bucket, access denied, retries exhausted).
    """
    folder = Path(folder)
    manifest = load_manifest(folder)
    loc = fsmod.resolve(url, filesystem, storage_options)
    raw = (folder / MANIFEST_NAME).read_bytes()
    try:
        existing = fsmod.read_small(loc, MANIFEST_NAME, max_bytes=len(raw) + 1)
    except ShardError:
        existing = None  # no manifest yet
    if existing is not None:
        if existing == raw:
            return UploadResult(loc.url, [], [s["file"] for s in manifest["shards"]], 0)
        raise ShardError(
            f"{loc.url_of(MANIFEST_NAME)}: already holds another dataset; remove it first"
        )
    uploaded, skipped, nbytes = [], [], 0
    for entry in manifest["shards"]:
        name = entry["file"]
        try:
            same = _remote_matches(loc, name, entry)
        except Exception as exc:  # noqa: BLE001 - not there (or unreadable): upload it
            log.debug("fastload: %s: %s", loc.url_of(name), loc.clean(exc))
            same = False
        if same:
            skipped.append(name)
            continue
        _put(loc, name, folder / name, entry["checksum"])
        uploaded.append(name)
        nbytes += entry["num_bytes"]
    for extra in ("bad_samples.json",):
        if (folder / extra).exists():
            _put(loc, extra, folder / extra, None)
    _put(loc, MANIFEST_NAME, folder / MANIFEST_NAME, None)  # last: the dataset is complete
    return UploadResult(loc.url, uploaded, skipped, nbytes)


def is_url(out):
    """True when a build's ``out`` names object storage (not a path or ``file://``)."""
    return isinstance(out, str) and not fsmod.is_local(out)


def build_to_url(run_build, items, encode, url, **kwargs):
    """``run_build`` into :func:`staging_dir` (resumable), then :func:`upload_dataset`.

    Rerunning after a kill resumes the local parts, then skips shards already uploaded.
    The staging folder is removed once the manifest is uploaded.
    """
    import json
    import shutil
    import time

    from fastload.builders.engine import BuildResult
    from fastload.errors import SourceError

    loc = fsmod.resolve(url)
    try:
        fsmod.read_small(loc, MANIFEST_NAME, max_bytes=1)
        raise SourceError(f"{loc.url}: a complete dataset is already there; remove it to rebuild")
    except ShardError:
        pass  # nothing there yet
    stage = staging_dir(url)
    stage.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if (stage / MANIFEST_NAME).exists():  # built before, killed while uploading
        manifest = load_manifest(stage)
        bad_file = stage / "bad_samples.json"
        bad = json.loads(bad_file.read_text()) if bad_file.exists() else []
        result = BuildResult(
            path=stage,
            rows=manifest["num_rows"],
            bad_samples=bad,
            filtered=manifest.get("metadata", {}).get("build", {}).get("filtered", 0),
            parts_reused=manifest.get("params", {}).get("merged_parts", 0),
            parts_built=0,
            manifest=manifest,
        )
    else:
        result = run_build(items, encode, stage, **kwargs)
    upload_dataset(stage, url)
    shutil.rmtree(stage, ignore_errors=True)
    return dataclasses.replace(result, path=loc.url, seconds=time.perf_counter() - started)
