"""KiTS19 case folders -> preprocessed shards (MLPerf 3D U-Net offline step).

Layout under ``src``: ``case_XXXXX/imaging.nii.gz`` and ``case_XXXXX/segmentation.nii.gz``
(``.nii`` also accepted). Each case goes through
:func:`fastload.pipelines.unet3d_preprocess` (resample to 1.6 x 1.2 x 1.2 mm, clip and
normalise, edge-pad to >= 128 per axis).

Volumes are read in NIfTI index order (``fastload.volume.read(..., layout="nifti")``),
which is what the reference's nibabel ``get_fdata()`` sees: for KiTS19 the slice axis
comes first, so (D, H, W) and the spacing match the reference's preprocessed npy files.

Columns: ``image`` float32 (1, D, H, W), ``label`` uint8 (1, D, H, W), ``boxes`` int32
(n, 7) (the balanced crop's candidate foreground boxes, :func:`fastload.volume.transforms.
foreground_boxes`, computed once here instead of every time a patch is drawn), ``case``
(id string), ``case_index`` (int), ``split`` ("train" or "eval"), ``spacing`` and
``original_spacing`` float64 (3,) in mm, ``original_shape`` int64 (3,).

The manifest's metadata records the official 168/42 split as row-index lists
(``metadata["splits"]["train"]``, ``["eval"]``); select one with
``ds.subset(ds.metadata["splits"]["train"])``.
"""

from dataclasses import dataclass
from pathlib import Path

from fastload.builders.engine import check_source, run_build
from fastload.errors import DecodeError, SourceError

__all__ = ["EVAL_CASES", "build_kits19", "list_kits19"]

# SPEC-mlperf.md 4.1: the 42 evaluation cases of MLPerf 3D U-Net; the other 168 of 0..209 train.
EVAL_CASES = frozenset(
    [
        0,
        3,
        5,
        6,
        12,
        24,
        34,
        41,
        44,
        49,
        52,
        56,
        61,
        65,
        66,
        70,
        76,
        78,
        80,
        84,
        86,
        87,
        92,
        111,
        112,
        125,
        128,
        138,
        157,
        160,
        161,
        162,
        169,
        171,
        176,
        185,
        187,
        189,
        198,
        203,
        206,
        207,
    ]
)
MAX_CASE_ID = 210  # cases 0..209 have labels


@dataclass(frozen=True)
class Case:
    folder: str
    case_index: int

    def __str__(self):
        return self.folder


def _find(folder, stem):
    for suffix in (".nii.gz", ".nii"):
        p = Path(folder) / f"{stem}{suffix}"
        if p.exists():
            return p
    raise DecodeError(f"{folder}: {stem}.nii.gz not found")


def list_kits19(src):
    """Sorted labelled cases (ids < 210) under ``src``."""
    cases = []
    for d in sorted(Path(src).glob("case_*")):
        if not d.is_dir():
            continue
        try:
            idx = int(d.name.split("_")[1])
        except (IndexError, ValueError):
            continue
        if idx < MAX_CASE_ID:
            cases.append(Case(str(d), idx))
    return cases


@dataclass(frozen=True)
class CaseEncoder:
    target_spacing: tuple = (1.6, 1.2, 1.2)

    def __call__(self, case):
        import numpy as np

        from fastload import volume
        from fastload.pipelines import unet3d_preprocess
        from fastload.volume.transforms import foreground_boxes

        image = volume.read(_find(case.folder, "imaging"), layout="nifti")
        label = volume.read(_find(case.folder, "segmentation"), layout="nifti")
        if image.array.shape != label.array.shape:
            raise DecodeError(
                f"{case.folder}: image shape {image.array.shape} != label shape {label.array.shape}"
            )
        x, y = unet3d_preprocess(
            image.array, label.array, image.spacing, target_spacing=self.target_spacing
        )
        return {
            "image": x,
            "label": y,
            "boxes": foreground_boxes(y),
            "case": Path(case.folder).name,
            "case_index": case.case_index,
            "split": "eval" if case.case_index in EVAL_CASES else "train",
            "spacing": np.asarray(self.target_spacing, dtype=np.float64),
            "original_spacing": np.asarray(image.spacing, dtype=np.float64),
            "original_shape": np.asarray(image.array.shape, dtype=np.int64),
        }


def build_kits19(
    src,
    out,
    *,
    samples_per_shard=1,
    workers=None,
    engine="local",
    address=None,
    on_error="skip",
    progress=None,
):
    """Build preprocessed KiTS19 shards (one case per shard)."""
    check_source(src, out, samples_per_shard=samples_per_shard)
    cases = list_kits19(src)
    if not cases:
        raise SourceError(f"{src}: no case_XXXXX folders (with ids below {MAX_CASE_ID}) found")
    metadata = {
        "dataset": "kits19",
        "target_spacing": [1.6, 1.2, 1.2],
        "eval_cases": sorted(EVAL_CASES),
    }
    return run_build(
        cases,
        CaseEncoder(),
        out,
        samples_per_part=samples_per_shard,
        index_by="split",
        workers=workers,
        engine=engine,
        address=address,
        on_error=on_error,
        metadata=metadata,
        progress=progress,
    )
