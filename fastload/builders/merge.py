"""Joining per-worker dataset parts into one dataset (the last step of a build).

Each build worker writes a complete dataset (its own ``manifest.json``) into a part
folder; :func:`merge_parts` moves their shards into the output folder in part order and
writes the merged manifest last. It lived in ``fastload.dataset.manifest`` before: it is a
build step, so it belongs to the builders (the dataset package knows nothing of builds).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastload.dataset.manifest import (
    MANIFEST_NAME,
    build_manifest,
    file_checksum,
    fsync_dir,
    load_manifest,
    shard_name,
    shard_number,
    write_manifest,
)
from fastload.dataset.schema import Column, columns_from_json
from fastload.errors import SchemaError, ShardError

__all__ = ["merge_parts"]


def merge_parts(out, parts, *, metadata=None, created_at="now", fsync=True):
    """Join complete datasets ``parts`` (folders, in order) into one dataset at ``out``.

    Shard files are moved (renamed, no copy) from the parts into ``out`` as
    ``shard-00000.arrow`` ... in part order, then ``out/manifest.json`` is written last,
    atomically. Parts with zero rows are skipped. Re-running after a crash mid-merge is
    safe: a shard already moved (missing in its part, present in ``out`` with the size and
    checksum the part's manifest lists) is accepted.

    Parameters
    ----------
    out : str or os.PathLike
        Destination folder (must hold no ``manifest.json``).
    parts : sequence of str or os.PathLike
        Part folders, each with its own valid ``manifest.json`` (from ShardWriter).
    metadata : dict, optional
        User metadata of the merged dataset (default: the first part's).
    created_at : "now" or None
        None writes ``"created_at": null`` so that the same parts always give a
        byte-identical manifest (what deterministic builds need).

    Returns
    -------
    dict
        The merged manifest.

    Raises
    ------
    ShardError
        A part is incomplete or a shard is missing; ``out`` already holds a dataset.
    SchemaError
        The parts' columns differ (names the part and the column).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST_NAME).exists():
        raise ShardError(f"{out}: already holds a dataset (manifest.json); remove it first")
    manifests = [(Path(p), load_manifest(p)) for p in parts]
    columns = None
    first_cols_part = None
    for part, m in manifests:
        if m["num_rows"] == 0:
            continue
        cols = columns_from_json(m["columns"])
        if columns is None:
            columns, first_cols_part = cols, part
            continue
        if [c.name for c in cols] != [c.name for c in columns]:
            raise SchemaError(
                f"{part}: columns {[c.name for c in cols]} differ from "
                f"{[c.name for c in columns]} of {first_cols_part}"
            )
        merged = []
        for a, b in zip(columns, cols, strict=True):
            if (a.kind, a.dtype, a.ndim) != (b.kind, b.dtype, b.ndim):
                raise SchemaError(
                    f"{part}: column {b.name!r} is {b.kind} {b.dtype} ndim={b.ndim}, but "
                    f"{a.kind} {a.dtype} ndim={a.ndim} in {first_cols_part}"
                )
            shape = a.shape if a.shape == b.shape else None
            merged.append(Column(a.name, a.kind, a.dtype, a.ndim, shape))
        columns = merged
    shards = []
    interrupted = [f"{p.name}: {m['interrupted']}" for p, m in manifests if m.get("interrupted")]
    for part, m in manifests:
        for entry in m["shards"]:
            name = shard_name(len(shards))
            src, dst = part / entry["file"], out / name
            if src.exists():
                os.replace(src, dst)
            elif not (
                dst.exists()
                and dst.stat().st_size == entry["num_bytes"]
                and file_checksum(dst) == entry["checksum"]
            ):
                raise ShardError(f"{src}: shard listed in the part's manifest is missing")
            shards.append(dict(entry, file=name))
    # shard files left in ``out`` by an earlier, bigger attempt would confuse verify
    for p in out.iterdir():
        k = shard_number(p.name)
        if k is not None and k >= len(shards):
            p.unlink()
    first = manifests[0][1] if manifests else {}
    manifest = build_manifest(
        num_rows=sum(m["num_rows"] for _, m in manifests),
        columns=columns or [],
        shards=shards,
        metadata=dict(first.get("metadata", {})) if metadata is None else dict(metadata),
        params=dict(first.get("params", {}), merged_parts=len(manifests)),
        interrupted="; ".join(interrupted) or None,
        created_at=created_at,
    )
    if fsync:
        fsync_dir(out)
    write_manifest(out, manifest, fsync=fsync)
    return manifest
