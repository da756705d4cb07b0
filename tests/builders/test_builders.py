"""End-to-end builds from miniature raw datasets in the real layouts."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastload
from fastload import builders
from fastload.testing.data import make_imagenet, make_kits19, make_librispeech


def _files(path):
    """{name: bytes} of every file a build leaves, manifest included."""
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir())}


@pytest.fixture(scope="module")
def imagenet_raw(tmp_path_factory):
    root = make_imagenet(
        tmp_path_factory.mktemp("raw") / "imagenet", classes=3, per_class=5, seed=1
    )
    # a corrupt JPEG among the good ones: header intact, entropy data truncated
    victim = sorted((root / "train").glob("*/*.JPEG"))[3]
    bad = root / "train" / victim.parent.name / "zz_corrupt.JPEG"
    bad.write_bytes(victim.read_bytes()[:600])
    return root


def test_imagenet_labels_conversion_and_bad_samples(imagenet_raw, tmp_path):
    result = builders.build_imagenet(imagenet_raw, tmp_path / "ds", workers=0, samples_per_shard=4)
    ds = fastload.open_dataset(tmp_path / "ds")
    wnids = sorted(p.name for p in (imagenet_raw / "train").iterdir())
    assert ds.metadata["wnids"] == wnids
    n_files = len(list((imagenet_raw / "train").glob("*/*.JPEG")))
    assert len(ds) == n_files - 1 == result.rows
    bad = json.loads((tmp_path / "ds" / "bad_samples.json").read_text())
    assert [Path(b["item"]).name for b in bad] == ["zz_corrupt.JPEG"]
    assert ds.metadata["build"]["bad_samples"] == 1
    for i in range(len(ds)):
        row = ds[i]
        assert row["label"] == wnids.index(row["wnid"])
        assert row["file"].startswith(f"train/{row['wnid']}/")
        info = fastload.image.read_header(row["image"])
        # PNG and CMYK sources are stored as RGB JPEG, like the MLPerf reference
        assert info.format == "JPEG" and info.channels in (1, 3)
        assert (info.height, info.width) == (row["height"], row["width"])


def test_imagenet_png_and_cmyk_are_reencoded(imagenet_raw, tmp_path):
    from PIL import Image

    sources = {}
    for p in (imagenet_raw / "train").glob("*/*.JPEG"):
        try:
            with Image.open(p) as im:
                sources[p.name] = (im.format, im.mode)
        except OSError:
            continue
    assert ("PNG", "RGB") in sources.values() and any(m == "CMYK" for _, m in sources.values())
    builders.build_imagenet(imagenet_raw, tmp_path / "ds", workers=0)
    ds = fastload.open_dataset(tmp_path / "ds")
    for i in range(len(ds)):
        row = ds[i]
        fmt, mode = sources[Path(row["file"]).name]
        if fmt == "PNG" or mode == "CMYK":
            import io

            with Image.open(io.BytesIO(bytes(row["image"]))) as im:
                assert (im.format, im.mode) == ("JPEG", "RGB")


def test_imagenet_flat_val_with_label_file(imagenet_raw, tmp_path):
    val = tmp_path / "raw" / "val"
    val.mkdir(parents=True)
    train = sorted((imagenet_raw / "train").glob("*/*.JPEG"))[:4]
    lines = []
    for k, src in enumerate(train):
        name = f"ILSVRC2012_val_{k:08d}.JPEG"
        (val / name).write_bytes(src.read_bytes())
        lines.append(f"{name} {src.parent.name}")
    (tmp_path / "labels.txt").write_text("\n".join(lines))
    (tmp_path / "raw" / "train").symlink_to(imagenet_raw / "train")
    builders.build_imagenet(
        tmp_path / "raw", tmp_path / "ds", split="val", labels=tmp_path / "labels.txt", workers=0
    )
    ds = fastload.open_dataset(tmp_path / "ds")
    wnids = ds.metadata["wnids"]
    assert [wnids[ds[i]["label"]] for i in range(len(ds))] == [p.parent.name for p in train]


def test_build_is_independent_of_worker_count(imagenet_raw, tmp_path):
    builders.build_imagenet(imagenet_raw, tmp_path / "w1", workers=1, samples_per_shard=4)
    builders.build_imagenet(imagenet_raw, tmp_path / "w2", workers=2, samples_per_shard=4)
    assert _files(tmp_path / "w1") == _files(tmp_path / "w2")
    assert fastload.verify(tmp_path / "w2")["ok"]


@pytest.mark.slow
def test_killed_build_resumes_to_identical_result(imagenet_raw, tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "fastload",
        "build",
        "imagenet",
        str(imagenet_raw),
        str(out),
        "--workers",
        "1",
        "--samples-per-shard",
        "2",
        "--quiet",
        "--on-error",
        "skip",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    marker = out / ".parts" / "part-00001" / "part-summary.json"
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not (out / "manifest.json").exists()
    with pytest.raises(fastload.errors.ShardError):
        fastload.open_dataset(out)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["parts_reused"] >= 2
    builders.build_imagenet(imagenet_raw, tmp_path / "clean", workers=0, samples_per_shard=2)
    assert _files(out) == _files(tmp_path / "clean")


def test_existing_dataset_is_not_overwritten(imagenet_raw, tmp_path):
    builders.build_imagenet(imagenet_raw, tmp_path / "ds", workers=0)
    with pytest.raises(fastload.errors.FastloadError, match="already"):
        builders.build_imagenet(imagenet_raw, tmp_path / "ds", workers=0)


def test_on_error_fail_names_the_file(imagenet_raw, tmp_path):
    with pytest.raises(fastload.errors.DecodeError, match="zz_corrupt.JPEG"):
        builders.build_imagenet(imagenet_raw, tmp_path / "ds", workers=0, on_error="fail")
    assert not (tmp_path / "ds" / "manifest.json").exists()


def test_librispeech_transcripts_filter_and_truncated_flac(tmp_path):
    raw = make_librispeech(
        tmp_path / "raw",
        subsets=("train-clean-100", "dev-clean"),
        speakers=1,
        chapters=1,
        utterances=4,
        seed=2,
        min_s=2.0,
        max_s=17.0,
    )
    flacs = sorted((raw / "train-clean-100").glob("*/*/*.flac"))
    flacs[0].write_bytes(flacs[0].read_bytes()[:300])  # truncated download
    durations = {}
    import soundfile

    for f in sorted(raw.glob("*/*/*/*.flac"))[1:]:
        if f != flacs[0]:
            durations[f.stem] = soundfile.info(str(f)).duration
    result = builders.build_librispeech(raw, tmp_path / "ds", workers=0, max_duration=10.0)
    ds = fastload.open_dataset(tmp_path / "ds")
    bad = json.loads((tmp_path / "ds" / "bad_samples.json").read_text())
    assert [Path(b["item"]).name for b in bad] == [flacs[0].name]
    rows = [ds[i] for i in range(len(ds))]
    for row in rows:
        assert row["transcript"] == row["transcript"].lower().strip()
        assert row["utterance"].startswith(f"{row['speaker']}-{row['chapter']}-")
        if row["subset"].startswith("train"):
            assert row["duration"] <= 10.0
    expected_filtered = sum(
        1 for k, d in durations.items() if d > 10.0 and any(k == f.stem for f in flacs)
    )
    assert result.filtered == ds.metadata["build"]["filtered"] == expected_filtered
    dev = ds.metadata["splits"]["dev-clean"]
    assert len(dev) == 4  # dev subsets are never filtered
    # transcripts match the source file exactly (lower-cased)
    trans = {}
    for t in raw.glob("*/*/*/*.trans.txt"):
        for line in t.read_text().splitlines():
            k, _, v = line.partition(" ")
            trans[k] = v.lower()
    assert all(trans[r["utterance"]] == r["transcript"] for r in rows)
    audio, rate = fastload.audio.decode(rows[0]["audio"])
    assert rate == 16000 and audio.ndim == 1


def test_kits19_preprocess_split_and_corrupt_case(tmp_path):
    raw = make_kits19(tmp_path / "raw", cases=3, seed=3)
    cases = sorted(raw.glob("case_*"))
    (cases[1] / "imaging.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    result = builders.build_kits19(raw, tmp_path / "ds", workers=0)
    assert result.rows == 2 and len(result.bad_samples) == 1
    assert "case_00001" in result.bad_samples[0]["item"]
    ds = fastload.open_dataset(tmp_path / "ds")
    splits = ds.metadata["splits"]
    assert splits == {"eval": [0], "train": [1]}
    row = ds[0]
    assert row["case"] == "case_00000" and row["split"] == "eval"  # case 0 is an MLPerf eval case
    assert row["image"].dtype == np.float32 and row["label"].dtype == np.uint8
    assert row["image"].shape == row["label"].shape and row["image"].shape[0] == 1
    assert min(row["image"].shape[1:]) >= 128
    np.testing.assert_allclose(row["spacing"], [1.6, 1.2, 1.2])
    train = ds.subset(splits["train"])
    assert len(train) == 1 and train[0]["case"] == "case_00002"


def test_cli_build_prints_summary(imagenet_raw, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastload",
            "build",
            "imagenet",
            str(imagenet_raw),
            str(tmp_path / "ds"),
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 3, out.stderr  # bad samples found, --on-error skip not given
    summary = json.loads(out.stdout)
    assert summary["bad_samples"] == 1 and summary["rows"] > 0
    assert "zz_corrupt.JPEG" in out.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_ray_engine_matches_local(imagenet_raw, tmp_path):
    builders.build_imagenet(imagenet_raw, tmp_path / "local", workers=0, samples_per_shard=4)
    builders.build_imagenet(imagenet_raw, tmp_path / "ray", engine="ray", samples_per_shard=4)
    assert _files(tmp_path / "local") == _files(tmp_path / "ray")
