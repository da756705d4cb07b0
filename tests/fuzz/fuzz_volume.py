"""Fuzz ``fastload.volume.read`` (and ``read_header``) on NIfTI-1/-2 bytes (.nii / .nii.gz).

Input layout: 1 parameter byte (layout, input type; bit 3: write the bytes to a file
named by bits 4-5 -- .nii, .nii.gz, .mha, .nrrd -- and read the path, which sends
MetaImage and NRRD to SimpleITK), then the file.

    python tests/fuzz/fuzz_volume.py -max_total_time=600      # or tests/fuzz/run.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import FUZZ_MAX_VOXELS, main, split_params  # noqa: E402


def setup():
    import os

    import numpy as np
    from _harness import scratch_dir

    from fastload.volume import read, read_header

    tmp = str(scratch_dir("fl-fuzz-vol"))
    suffixes = (".nii", ".nii.gz", ".mha", ".nrrd")

    def from_path(p, blob):
        """``read(path)``: NIfTI-1 through fastload's parser, the rest through SimpleITK."""
        path = os.path.join(tmp, "v" + suffixes[(p[0] >> 4) % len(suffixes)])
        with open(path, "wb") as f:
            f.write(blob)
        vol = read(path, max_voxels=FUZZ_MAX_VOXELS)
        assert vol.array.ndim == 3 and all(s > 0 for s in vol.spacing)
        return ("path", str(vol.array.dtype), path[-4:])

    def target(data):
        p, blob = split_params(data, 1)
        if p[0] & 8:
            return from_path(p, blob)
        if p[0] & 2:
            blob = np.frombuffer(blob, np.uint8)
        elif p[0] & 4:
            blob = bytes(blob)
        layout = ("zyx", "nifti")[p[0] & 1]
        head = read_header(blob, max_voxels=FUZZ_MAX_VOXELS)
        vol = read(blob, max_voxels=FUZZ_MAX_VOXELS, layout=layout)
        a = vol.array
        shape = head["shape"] if layout == "zyx" else head["shape"][::-1]
        assert a.shape == tuple(shape), (a.shape, shape)
        assert len(vol.spacing) == 3 and all(s > 0 for s in vol.spacing)
        assert vol.direction.shape == (3, 3) and np.isfinite(vol.direction).all()
        assert np.isfinite(vol.origin).all()
        if a.dtype.kind == "f":
            assert not np.isnan(a).all() or head["dtype"].kind == "f", "scaling made NaNs"
        return (str(a.dtype), layout, a.ndim)

    return target


def seeds():
    import _seeds as s

    out = [(f"{k}_{name}", bytes([k % 8]) + blob) for k, (name, blob) in enumerate(s.volumes())]
    codes = {".mha": 0x28, ".nrrd": 0x38}
    out += [
        (f"itk{k}{suffix}", bytes([codes[suffix]]) + blob)
        for k, (suffix, blob) in enumerate(s.itk_volumes())
    ]
    out += [
        (f"path_{name}", bytes([0x18 if name.endswith(".gz") else 0x08]) + blob)
        for name, blob in s.volumes()[:3]
    ]
    return out


if __name__ == "__main__":
    sys.exit(main(setup, seeds))
