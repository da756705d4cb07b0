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
    # computed in float64 like nibabel, rounded once to float32: nibabel's values exactly
    slope, inter = np.float32(0.1), np.float32(0.37)
    struct.pack_into("<2f", raw, 112, slope, inter)
    v = read(bytes(raw))
    assert v.array.dtype == np.float32
    np.testing.assert_array_equal(
        v.array, (vol16.astype(np.float64) * float(slope) + float(inter)).astype(np.float32)
    )


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
        ("nan spacing", "<f", 84, (float("nan"),), "spacing"),
        ("bad datatype", "<h", 70, (1234,), "datatype"),
        ("zero dim", "<h", 42, (0,), "dimensions"),
    ],
)
def test_bad_headers_raise_decode_error(tmp_path, vol16, case, fmt, offset, values, match):
    p = _patched(tmp_path, vol16, fmt, offset, *values)
    with pytest.raises(DecodeError, match=match) as exc:
        read(p)
    assert "bad.nii" in str(exc.value)


def test_negative_pixdim_is_its_absolute_value(tmp_path, vol16):
    """As nibabel (get_zooms after its header fix) and SimpleITK read it."""
    import nibabel as nib

    p = _patched(tmp_path, vol16, "<f", 80, -0.7)
    v = read(p, layout="nifti")
    np.testing.assert_allclose(v.spacing, nib.load(str(p)).header.get_zooms()[:3], rtol=1e-7)
    np.testing.assert_allclose(v.spacing, (0.7, 0.8, 3.0), rtol=1e-6)
    np.testing.assert_allclose(v.spacing, sitk.ReadImage(str(p)).GetSpacing(), rtol=1e-7)
    np.testing.assert_array_equal(v.array, vol16.T)


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


# --------------------------------------------------------------------------- NIfTI-2, pairs
# An oblique affine (rotation about z + a flip of j), RAS, mm: exercises qform and sform.
_C, _S = np.cos(0.3), np.sin(0.3)
AFFINE = np.array(
    [
        [0.7 * _C, 0.8 * _S, 0.0, -12.5],
        [0.7 * _S, -0.8 * _C, 0.0, 20.0],
        [0.0, 0.0, 3.0, 7.25],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _nib_write(path, array_ijk, cls_name, qform=1, sform=1, slope=None):
    import nibabel as nib

    img = getattr(nib, cls_name)(array_ijk, AFFINE)
    img.set_qform(AFFINE, code=qform)
    img.set_sform(AFFINE, code=sform)
    if slope is not None:
        img.header.set_slope_inter(*slope)
    nib.save(img, str(path))
    return path


def _nifti2_header(
    shape_ijk,
    dtype_code,
    bitpix,
    *,
    endian="<",
    pixdim=(1.0, 0.7, 0.8, 3.0),
    vox_offset=544,
    slope=0.0,
    inter=0.0,
    qform=0,
    sform=2,
    srow=None,
    magic=b"n+2\x00\r\n\x1a\n",
):
    """A 540-byte NIfTI-2 header written field by field (the standard's offsets)."""
    h = bytearray(540)
    e = endian
    struct.pack_into(e + "i", h, 0, 540)
    h[4:12] = magic
    struct.pack_into(e + "2h", h, 12, dtype_code, bitpix)
    dim = [len(shape_ijk), *shape_ijk] + [1] * (7 - len(shape_ijk))
    struct.pack_into(e + "8q", h, 16, *dim)
    struct.pack_into(e + "8d", h, 104, *pixdim, 0.0, 0.0, 0.0, 0.0)
    struct.pack_into(e + "q", h, 168, vox_offset)
    struct.pack_into(e + "2d", h, 176, slope, inter)
    struct.pack_into(e + "2i", h, 344, qform, sform)
    if srow is None:
        srow = np.diag([pixdim[1], pixdim[2], pixdim[3], 1.0])[:3]
    struct.pack_into(e + "12d", h, 400, *np.asarray(srow, float).ravel())
    return bytes(h)


@pytest.mark.parametrize("ext", ["nii", "nii.gz"])
def test_nifti2_reads_like_nifti1(tmp_path, ext):
    """nibabel writes the same image as NIfTI-1 and NIfTI-2: fastload reads both the same,
    with nibabel's voxels and spacing."""
    import nibabel as nib

    a = np.random.default_rng(2).integers(-1000, 3000, (11, 9, 7)).astype(np.int16)
    v1 = read(_nib_write(tmp_path / f"one.{ext}", a, "Nifti1Image"), layout="nifti")
    p2 = _nib_write(tmp_path / f"two.{ext}", a, "Nifti2Image")
    assert p2.read_bytes()[:4] in (b"\x1c\x02\x00\x00",) or ext.endswith("gz")
    v2 = read(p2, layout="nifti")
    ref = nib.load(str(p2))
    np.testing.assert_array_equal(v2.array, np.asanyarray(ref.dataobj))
    np.testing.assert_allclose(v2.spacing, ref.header.get_zooms()[:3], rtol=1e-7)
    np.testing.assert_array_equal(v2.array, v1.array)
    np.testing.assert_allclose(v2.spacing, v1.spacing, rtol=1e-7)
    np.testing.assert_allclose(v2.origin, v1.origin, atol=1e-5)
    np.testing.assert_allclose(v2.direction, v1.direction, atol=1e-6)
    # the geometry is nibabel's affine in LPS
    lps_affine = np.diag([-1.0, -1.0, 1.0]) @ AFFINE[:3]
    np.testing.assert_allclose(v2.direction * v2.spacing, lps_affine[:, :3], atol=1e-5)
    np.testing.assert_allclose(v2.origin, lps_affine[:, 3], atol=1e-5)
    h = read_header(p2)
    assert h["shape"] == a.shape[::-1] and h["dtype"] == np.int16
    assert read(p2.read_bytes()).array.shape == a.shape[::-1]


@pytest.mark.parametrize("endian", ["<", ">"])
def test_nifti2_handwritten_header(endian):
    """A header written field by field: int64 dims, float64 pixdim/scaling, sform geometry,
    both byte orders."""
    a = np.arange(5 * 4 * 3, dtype=np.float32).reshape(3, 4, 5)  # (k, j, i)
    srow = [[0.0, 0.0, 3.0, 1.5], [0.0, 0.8, 0.0, -2.0], [0.7, 0.0, 0.0, 4.0]]
    head = _nifti2_header((5, 4, 3), 16, 32, endian=endian, slope=2.0, inter=-1.0, srow=srow)
    data = head + bytes(4) + a.astype(np.dtype(np.float32).newbyteorder(endian)).tobytes()
    v = read(data)
    np.testing.assert_array_equal(v.array, a * 2 - 1)
    assert v.array.dtype == np.float32
    np.testing.assert_allclose(v.spacing, (3.0, 0.8, 0.7))
    np.testing.assert_allclose(v.origin, (-1.5, 2.0, 4.0))
    # srow: i -> S, j -> A, k -> R (RAS); column a = LPS unit vector of array axis a
    # (z = k -> -L, y = j -> -P, x = i -> +S)
    np.testing.assert_allclose(v.direction, [[-1, 0, 0], [0, -1, 0], [0, 0, 1]], atol=1e-12)
    # vox_offset 0 in a single file means "right after the header and extension flag"
    head0 = _nifti2_header((5, 4, 3), 16, 32, endian=endian, vox_offset=0)
    v0 = read(head0 + bytes(4) + a.astype(np.dtype(np.float32).newbyteorder(endian)).tobytes())
    np.testing.assert_array_equal(v0.array, a)


@pytest.mark.parametrize(
    "shape, code, bitpix, match",
    [
        ((5, 4, 3, 2), 4, 16, "4-D"),
        ((5, 4, 3), 128, 24, "RGB24"),
        ((5, 4, 3), 32, 64, "complex64"),
        ((1, 1, 1, 1, 6, 7), 16, 32, "6-D"),  # a CIFTI-2 matrix
    ],
)
def test_nifti2_refusals_name_the_reason(shape, code, bitpix, match):
    with pytest.raises(DecodeError, match=match):
        read(_nifti2_header(shape, code, bitpix) + bytes(4) + bytes(4096))


def test_nifti2_truncated_and_bad_magic():
    head = _nifti2_header((5, 4, 3), 4, 16)
    with pytest.raises(DecodeError, match="truncated"):
        read(head + bytes(4) + bytes(50))
    with pytest.raises(DecodeError, match="truncated NIfTI-2 header"):
        read(head[:500])
    with pytest.raises(DecodeError, match="not a NIfTI-2 file"):
        read(_nifti2_header((5, 4, 3), 4, 16, magic=b"n+2\x00junk") + bytes(200))
    with pytest.raises(LimitError):
        read(_nifti2_header((2**40, 2**20, 3), 4, 16) + bytes(4))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("gz", [False, True])
def test_two_file_nifti(tmp_path, version, gz):
    import nibabel as nib

    a = np.random.default_rng(3).integers(0, 200, (6, 5, 4)).astype(np.uint8)
    ext = ".hdr.gz" if gz else ".hdr"
    hdr = _nib_write(tmp_path / f"pair{ext}", a, f"Nifti{version}Pair")
    img = tmp_path / ("pair.img.gz" if gz else "pair.img")
    assert img.exists()
    ref = nib.load(str(hdr))
    for path in (hdr, img):  # either half names the pair
        v = read(path, layout="nifti")
        np.testing.assert_array_equal(v.array, np.asanyarray(ref.dataobj))
        np.testing.assert_allclose(v.spacing, ref.header.get_zooms()[:3], rtol=1e-7)
        assert v.source == str(hdr)
    with pytest.raises(DecodeError, match="through its path"):
        read(hdr.read_bytes())
    img.unlink()
    with pytest.raises(DecodeError, match=r"data file .*missing"):
        read(hdr)


def test_formats_no_reader_supports_are_named(tmp_path):
    import nibabel as nib

    nib.save(nib.AnalyzeImage(np.zeros((4, 5, 6), np.int16), np.eye(4)), str(tmp_path / "old.hdr"))
    with pytest.raises(DecodeError, match="Analyze 7.5"):
        read(tmp_path / "old.hdr")
    (tmp_path / "brain.nc").write_bytes(b"CDF\x01" + bytes(600))
    with pytest.raises(DecodeError, match=r"brain\.nc.*NetCDF"):
        read(tmp_path / "brain.nc")
    (tmp_path / "brain.mgz").write_bytes(b"\x00\x00\x00\x01" + bytes(600))
    with pytest.raises(DecodeError, match="FreeSurfer MGZ"):
        read(tmp_path / "brain.mgz")
    with pytest.raises(DecodeError, match="not a NIfTI-1 or NIfTI-2 image"):
        read(b"CDF\x01" + bytes(600))


def test_no_qform_no_sform_follows_the_nifti_standard(tmp_path, vol16):
    """Neither qform nor sform (codes 0): NIfTI method 1, identity in RAS = diag(-1, -1, 1)
    in LPS, origin 0. SimpleITK reports an identity LPS direction there instead (the
    docstring says so); voxels and spacing agree."""
    p = write(tmp_path / "v.nii", vol16)
    raw = bytearray(p.read_bytes())
    struct.pack_into("<2h", raw, 252, 0, 0)
    p.write_bytes(bytes(raw))
    v = read(p)
    np.testing.assert_array_equal(v.direction, np.diag([-1.0, -1.0, 1.0])[:, ::-1])
    assert v.origin == (0.0, 0.0, 0.0)
    s = sitk.ReadImage(str(p))
    np.testing.assert_array_equal(v.array, sitk.GetArrayFromImage(s))
    np.testing.assert_allclose(v.spacing, s.GetSpacing()[::-1], rtol=1e-7)
    np.testing.assert_allclose(v.origin, s.GetOrigin())
    # the documented difference: SimpleITK says identity in LPS, i and j flipped vs fastload
    sitk_dir = np.reshape(s.GetDirection(), (3, 3))[:, ::-1]
    np.testing.assert_array_equal(sitk_dir, np.eye(3)[:, ::-1])
    np.testing.assert_array_equal(v.direction * [1, -1, -1], sitk_dir)
