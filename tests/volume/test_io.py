import struct
import threading

import numpy as np
import pytest
import SimpleITK as sitk

from fastload.errors import DecodeError, LimitError
from fastload.volume import Volume, read, read_header

# A rotation + axis permutation (LPS), det +1: exercises the orientation rule.
ROT = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def write(path, array, spacing_xyz=(0.7, 0.8, 3.0), origin=(10.0, -20.0, 30.0), direction=ROT):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing_xyz)
    img.SetOrigin(origin)
    img.SetDirection(np.asarray(direction, float).ravel().tolist())
    sitk.WriteImage(img, str(path), useCompression=str(path).endswith(".gz"))
    return path


@pytest.fixture
def vol16():
    return np.random.default_rng(0).integers(-1000, 1000, (7, 9, 11)).astype(np.int16)


@pytest.mark.parametrize("ext", ["nii", "nii.gz"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_matches_simpleitk(tmp_path, ext, dtype):
    a = (np.random.default_rng(1).random((6, 8, 10)) * 200).astype(dtype)
    p = write(tmp_path / f"v.{ext}", a)
    v = read(p)
    s = sitk.ReadImage(str(p))
    assert isinstance(v, Volume)
    assert v.array.dtype == dtype and v.array.shape == (6, 8, 10)
    np.testing.assert_array_equal(v.array, sitk.GetArrayFromImage(s))
    np.testing.assert_allclose(v.spacing, s.GetSpacing()[::-1], rtol=1e-7)
    np.testing.assert_allclose(v.origin, s.GetOrigin(), atol=1e-6)
    # direction columns are SimpleITK's, reversed to array axis order (z, y, x)
    np.testing.assert_allclose(
        v.direction, np.reshape(s.GetDirection(), (3, 3))[:, ::-1], atol=1e-6
    )
    for k in [(0, 0, 0), (5, 7, 9), (2, 3, 4)]:
        np.testing.assert_allclose(
            v.index_to_lps(k), s.TransformIndexToPhysicalPoint(k[::-1]), atol=1e-5
        )


def test_orientation_not_reoriented(tmp_path, vol16):
    # Voxels come back in storage order whatever the direction; geometry carries orientation.
    flip = np.diag([-1.0, -1.0, 1.0])  # RAS-like axes expressed in LPS
    v1 = read(write(tmp_path / "a.nii.gz", vol16, direction=np.eye(3)))
    v2 = read(write(tmp_path / "b.nii.gz", vol16, direction=flip))
    np.testing.assert_array_equal(v1.array, v2.array)
    np.testing.assert_allclose(v1.direction, np.eye(3)[:, ::-1], atol=1e-6)  # array z is LPS S
    np.testing.assert_allclose(v2.direction, flip[:, ::-1], atol=1e-6)
    # world position of the last voxel differs accordingly
    last = np.array(vol16.shape) - 1
    np.testing.assert_allclose(
        v2.index_to_lps(last) - v2.index_to_lps((0, 0, 0)),
        [-(10 * 0.7), -(8 * 0.8), 6 * 3.0],
        atol=1e-4,
    )


@pytest.mark.parametrize("kind", ["bytes", "memoryview", "numpy", "bytearray"])
def test_bytes_inputs(tmp_path, vol16, kind):
    p = write(tmp_path / "v.nii.gz", vol16)
    raw = p.read_bytes()
    data = {
        "bytes": raw,
        "memoryview": memoryview(raw),
        "numpy": np.frombuffer(raw, np.uint8),
        "bytearray": bytearray(raw),
    }[kind]
    v = read(data)
    np.testing.assert_array_equal(v.array, vol16)
    assert v.source == "<bytes>"
    assert v.spacing == read(p).spacing


def test_uncompressed_bytes_zero_copy(tmp_path, vol16):
    raw = bytearray(write(tmp_path / "v.nii", vol16).read_bytes())
    v = read(raw)
    assert np.shares_memory(v.array, np.frombuffer(raw, np.uint8))


def test_layout_nifti(tmp_path, vol16):
    p = write(tmp_path / "v.nii.gz", vol16)
    z = read(p)
    n = read(p, layout="nifti")
    np.testing.assert_array_equal(n.array, z.array.T)
    assert n.spacing == z.spacing[::-1]
    np.testing.assert_allclose(n.direction, z.direction[:, ::-1])
    for k in [(1, 2, 3), (10, 8, 6)]:
        np.testing.assert_allclose(n.index_to_lps(k), z.index_to_lps(k[::-1]))


def test_read_header(tmp_path, vol16):
    h = read_header(write(tmp_path / "v.nii.gz", vol16))
    assert h["shape"] == vol16.shape and h["dtype"] == np.int16
    np.testing.assert_allclose(h["spacing"], (3.0, 0.8, 0.7), rtol=1e-6)


def test_scl_slope_applied(tmp_path, vol16):
    p = write(tmp_path / "v.nii", vol16)
    raw = bytearray(p.read_bytes())
    struct.pack_into("<2f", raw, 112, 2.0, -5.0)
    v = read(bytes(raw))
    np.testing.assert_allclose(v.array, vol16.astype(np.float32) * 2 - 5)


def test_other_format_through_simpleitk(tmp_path, vol16):
    p = write(tmp_path / "v.mha", vol16)
    v = read(p)
    np.testing.assert_array_equal(v.array, vol16)
    np.testing.assert_allclose(v.spacing, (3.0, 0.8, 0.7))
    np.testing.assert_allclose(v.direction, ROT[:, ::-1])


def test_four_d_with_one_timepoint_is_3d(tmp_path, vol16):
    p = write(tmp_path / "v.nii", vol16)
    raw = bytearray(p.read_bytes())
    struct.pack_into("<2h", raw, 40, 4, 11)
    struct.pack_into("<h", raw, 48, 1)
    np.testing.assert_array_equal(read(bytes(raw)).array, vol16)


# --------------------------------------------------------------------------- bad input
def _patched(tmp_path, vol16, fmt, offset, *values):
    raw = bytearray(write(tmp_path / "v.nii", vol16).read_bytes())
    struct.pack_into(fmt, raw, offset, *values)
    p = tmp_path / "bad.nii"
    p.write_bytes(raw)
    return p


@pytest.mark.parametrize(
    "case, fmt, offset, values, match",
    [
        ("2d", "<4h", 40, (2, 11, 9, 1), "2-D"),
        ("4d", "<5h", 40, (4, 11, 9, 7, 2), "4-D"),
        ("zero spacing", "<f", 80, (0.0,), "spacing"),
        ("negative spacing", "<f", 84, (-1.0,), "spacing"),
        ("bad datatype", "<h", 70, (1234,), "datatype"),
        ("zero dim", "<h", 42, (0,), "dimensions"),
    ],
)
def test_bad_headers_raise_decode_error(tmp_path, vol16, case, fmt, offset, values, match):
    p = _patched(tmp_path, vol16, fmt, offset, *values)
    with pytest.raises(DecodeError, match=match) as exc:
        read(p)
    assert "bad.nii" in str(exc.value)


def test_absurd_dimensions_limit_before_allocation(tmp_path, vol16):
    p = _patched(tmp_path, vol16, "<4h", 40, 3, 30000, 30000, 30000)
    with pytest.raises(LimitError, match="bad.nii"):
        read(p)
    # the limit is configurable
    with pytest.raises(LimitError):
        read(write(tmp_path / "ok.nii.gz", vol16), max_voxels=100)


def test_truncated_and_corrupt(tmp_path, vol16):
    raw = write(tmp_path / "v.nii.gz", vol16).read_bytes()
    (tmp_path / "trunc.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DecodeError, match="trunc.nii.gz"):
        read(tmp_path / "trunc.nii.gz")
    bad = bytearray(raw)
    bad[40:60] = b"\x00" * 20
    (tmp_path / "corrupt.nii.gz").write_bytes(bytes(bad))
    with pytest.raises(DecodeError, match="corrupt.nii.gz"):
        read(tmp_path / "corrupt.nii.gz")
    raw_nii = write(tmp_path / "u.nii", vol16).read_bytes()
    with pytest.raises(DecodeError, match="truncated"):
        read(raw_nii[:-10])


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x1f\x8b", bytes(400)])
def test_garbage_bytes(data):
    with pytest.raises(DecodeError):
        read(data)


def test_empty_and_missing_file(tmp_path):
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(DecodeError, match="empty.nii.gz"):
        read(tmp_path / "empty.nii.gz")
    with pytest.raises(DecodeError, match="missing.nii"):
        read(tmp_path / "missing.nii")
    (tmp_path / "junk.mha").write_bytes(b"not an image at all")
    with pytest.raises(DecodeError, match="junk.mha"):
        read(tmp_path / "junk.mha")


def test_two_d_through_simpleitk(tmp_path):
    p = tmp_path / "flat.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), np.int16)), str(p))
    with pytest.raises(DecodeError, match="flat.mha"):
        read(p)


def test_threads(tmp_path, vol16):
    raw = write(tmp_path / "v.nii.gz", vol16).read_bytes()
    results = [None] * 4

    def work(i):
        results[i] = read(raw).array

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, vol16)


def test_inflates_no_more_than_the_header_needs(tmp_path, vol16):
    import gzip

    raw = write(tmp_path / "v.nii", vol16).read_bytes()
    bomb = gzip.compress(raw + bytes(64 << 20), compresslevel=1)  # 64 MiB of trailing zeros
    v = read(bomb)
    np.testing.assert_array_equal(v.array, vol16)
    base = v.array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert len(memoryview(base).cast("B")) <= len(raw)  # the inflated buffer stops at the data


def test_multi_member_gzip(tmp_path, vol16):
    import gzip

    raw = write(tmp_path / "v.nii", vol16).read_bytes()
    two = gzip.compress(raw[:1000]) + gzip.compress(raw[1000:])
    np.testing.assert_array_equal(read(two).array, vol16)
