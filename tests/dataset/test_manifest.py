"""manifest.py: validation, atomic writing, shard naming, the manifest dict."""

import json
import os

import pytest

from fastload.dataset import ShardWriter, open_dataset, verify
from fastload.dataset.manifest import (
    load_manifest,
    manifest_checksum,
    validate_manifest,
    write_manifest,
)
from fastload.errors import ShardError


def test_write_manifest_is_atomic_and_leaves_no_tmp(tmp_path):
    m = {"a": 1}
    write_manifest(tmp_path, m)
    assert json.loads((tmp_path / "manifest.json").read_text()) == m
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_validate_manifest_reports_each_problem():
    assert validate_manifest([]) == ["manifest.json: top level is not a JSON object"]
    problems = validate_manifest(
        {
            "format": "other",
            "format_version": 2,
            "columns": {"x": {"kind": "weird"}},
            "num_rows": 5,
            "shards": [
                {
                    "file": "a.arrow",
                    "num_rows": 2,
                    "num_bytes": 10,
                    "checksum": "0" * 32,
                    "batch_rows": [1],
                },
                {"file": "a.arrow", "num_rows": -1},
            ],
        }
    )
    text = "\n".join(problems)
    for needle in (
        "format is 'other'",
        "format_version 2",
        "bad 'columns'",
        "batch_rows do not add up",
        "listed twice",
        "bad num_rows -1",
        "shards hold 2 rows but num_rows says 5",
    ):
        assert needle in text, needle


def test_shard_naming_lives_once():
    from fastload.dataset.manifest import SHARD_PATTERN, TMP_PATTERN, shard_name, shard_number

    assert shard_name(0) == "shard-00000.arrow" and shard_name(123456) == "shard-123456.arrow"
    for k in (0, 7, 99999, 100000):
        assert SHARD_PATTERN.match(shard_name(k)) and shard_number(shard_name(k)) == k
    for name in ("shard-0.arrow", "shard-00001.arrow.tmp", "manifest.json", "xshard-00001.arrow"):
        assert shard_number(name) is None
    assert TMP_PATTERN.match(f".{shard_name(3)}.tmp") and TMP_PATTERN.match(".manifest.json.tmp")


def test_build_manifest_is_the_one_layout(tmp_path):
    from fastload.dataset.manifest import build_manifest
    from fastload.dataset.schema import columns_from_json

    with ShardWriter(tmp_path / "d") as w:
        w.write({"i": 1, "b": b"x"})
    written = load_manifest(tmp_path / "d")
    rebuilt = build_manifest(
        num_rows=written["num_rows"],
        columns=columns_from_json(written["columns"]),
        shards=written["shards"],
        metadata=written["metadata"],
        params=written["params"],
        interrupted=None,
        created_at=None,
    )
    assert list(rebuilt) == list(written)  # same keys in the same order
    assert rebuilt["created_at"] is None and rebuilt["manifest_checksum"] == manifest_checksum(
        rebuilt
    )
    assert validate_manifest(rebuilt) == []
    assert {k: v for k, v in rebuilt.items() if k not in ("created_at", "manifest_checksum")} == {
        k: v for k, v in written.items() if k not in ("created_at", "manifest_checksum")
    }


def test_reader_and_verify_share_the_shard_checks(tmp_path):
    """A truncated shard: open_dataset and verify report it with the same words."""
    with ShardWriter(tmp_path / "d") as w:
        w.write({"i": 1, "b": bytes(1000)})
    shard = tmp_path / "d" / "shard-00000.arrow"
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) - 10)
    with pytest.raises(ShardError) as info:
        open_dataset(tmp_path / "d")
    text = str(info.value)
    assert "truncated or replaced" in text
    (problem,) = [q for q in verify(tmp_path / "d").problems if "truncated" in q]
    assert problem.split(": ", 1)[1] == text.split(": ", 1)[1]
