"""Read CT volumes (NIfTI-1 ``.nii`` / ``.nii.gz``, and anything SimpleITK reads).

NIfTI-1 is parsed here: the 348-byte header is checked (dimensions, spacing, datatype,
voxel-count limit) before anything large is allocated, then the data is inflated in one
call (python-isal when installed, else zlib) and viewed without a copy. Other formats,
NIfTI-2 and two-file NIfTI (``.hdr``/``.img``) go through SimpleITK.

Orientation rule
----------------
Voxels are never reoriented. ``Volume.array`` has axes (z, y, x) = NIfTI (k, j, i) -- the
order SimpleITK's ``GetArrayFromImage`` uses, C-contiguous with no transpose. Geometry is
returned explicitly, in LPS physical coordinates (the DICOM/ITK convention; NIfTI's RAS
x and y are negated):

* ``spacing``: (z, y, x) voxel size in mm, matching the array axes;
* ``origin``: the LPS position (L, P, S) in mm of the centre of voxel ``array[0, 0, 0]``;
* ``direction``: 3x3 float64, column ``a`` is the LPS unit vector of array axis ``a``
  (column 0 for z, 2 for x), so the LPS position of index ``k = (kz, ky, kx)`` is
  ``origin + direction @ (spacing * k)``. Equals SimpleITK's direction with its columns
  reversed.

The geometry comes from the qform when ``qform_code > 0``, else from the sform when
``sform_code > 0``, else identity (NIfTI "method 1").

``layout="nifti"`` returns the array in NIfTI index order (i, j, k) instead (a transposed,
F-contiguous view; spacing ``pixdim[1:4]``; direction columns for i, j, k). That is what
nibabel's ``get_fdata()`` and hence the MLPerf reference see: original KiTS19 files store
the slice axis as NIfTI ``i``, so the reference's "(D, H, W)" is ``layout="nifti"``.
"""

import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from fastload.errors import DecodeError, LimitError

try:  # python-isal: ~2-3x faster inflate than zlib
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - isal is a dependency, keep a fallback
    _zlib = zlib

_ZERRORS = (zlib.error, ValueError, OSError, EOFError)
if _zlib is not zlib:
    _ZERRORS += (_zlib.error,)

__all__ = ["DEFAULT_MAX_VOXELS", "Volume", "read", "read_header"]

#: Default voxel-count limit (1.5e9 voxels: 2.5x the largest KiTS19 case at float32).
DEFAULT_MAX_VOXELS = 1_500_000_000

_DTYPES = {
    2: np.uint8,
    4: np.int16,
    8: np.int32,
    16: np.float32,
    64: np.float64,
    256: np.int8,
    512: np.uint16,
    768: np.uint32,
    1024: np.int64,
    1280: np.uint64,
}
_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Volume:
    """A decoded volume with its geometry (see the module docstring for the rule).

    Attributes
    ----------
    array : ndarray, shape (D, H, W) = (z, y, x)
        Stored dtype (int16, uint8, float32 ...), or float32/float64 when the file has a
        scale/intercept. Read-only when it is a view of the inflated buffer.
    spacing : tuple of 3 float, (z, y, x) in mm
    origin : tuple of 3 float, LPS (L, P, S) in mm of voxel [0, 0, 0]
    direction : ndarray, shape (3, 3), float64; column a = LPS unit vector of array axis a
    source : str, the file name (or ``"<bytes>"``) for messages
    """

    array: np.ndarray
    spacing: tuple
    origin: tuple
    direction: np.ndarray
    source: str = "<bytes>"

    def index_to_lps(self, index):
        """LPS position in mm of array index ``(kz, ky, kx)`` (may be fractional)."""
        k = np.asarray(index, dtype=np.float64)
        return np.asarray(self.origin) + self.direction @ (np.asarray(self.spacing) * k)


@dataclass(frozen=True)
class _Header:
    endian: str
    shape_ijk: tuple
    dtype: np.dtype
    vox_offset: int
    pixdim: tuple
    slope: float
    inter: float
    direction_ijk: np.ndarray
    origin: tuple


def _quaternion_matrix(b, c, d, qfac):
    a2 = 1.0 - (b * b + c * c + d * d)
    a = np.sqrt(a2) if a2 > 1e-7 else 0.0
    if a == 0.0:  # 180-degree rotation: renormalise (b, c, d)
        n = np.sqrt(b * b + c * c + d * d)
        if n > 0:
            b, c, d = b / n, c / n, d / n
    r = np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ]
    )
    r[:, 2] *= qfac
    return r


def _parse_header(raw, name, max_voxels):
    if len(raw) < 348:
        raise DecodeError(f"{name}: not a NIfTI-1 file (only {len(raw)} header bytes)")
    endian = "<"
    if struct.unpack_from("<i", raw, 0)[0] != 348:
        if struct.unpack_from(">i", raw, 0)[0] != 348:
            raise DecodeError(f"{name}: not a NIfTI-1 file (sizeof_hdr is not 348)")
        endian = ">"
    magic = bytes(raw[344:348])
    if magic not in (b"n+1\x00", b"ni1\x00"):
        raise DecodeError(f"{name}: not a NIfTI-1 file (magic {magic!r})")
    if magic == b"ni1\x00":
        raise DecodeError(f"{name}: two-file NIfTI (.hdr/.img) is read through a path, not bytes")
    dim = struct.unpack_from(endian + "8h", raw, 40)
    datatype, _bitpix = struct.unpack_from(endian + "2h", raw, 70)
    pixdim = struct.unpack_from(endian + "8f", raw, 76)
    vox_offset, slope, inter = struct.unpack_from(endian + "3f", raw, 108)
    # NIfTI-1 / nibabel: scl_slope 0 or non-finite means "no scaling"; a valid slope with a
    # non-finite intercept is an error (it would silently turn every voxel into NaN/inf).
    if slope == 0.0 or not np.isfinite(slope):
        slope, inter = 1.0, 0.0
    elif not np.isfinite(inter):
        raise DecodeError(f"{name}: scl_slope {slope} with a non-finite scl_inter {inter}")
    qform_code, sform_code = struct.unpack_from(endian + "2h", raw, 252)
    quat = struct.unpack_from(endian + "6f", raw, 256)
    srow = np.array(struct.unpack_from(endian + "12f", raw, 280), dtype=np.float64).reshape(3, 4)

    ndim = dim[0]
    if ndim < 1 or ndim > 7:
        raise DecodeError(f"{name}: invalid NIfTI dim[0]={ndim}")
    sizes = dim[1 : ndim + 1]
    if any(s < 1 for s in sizes):
        raise DecodeError(f"{name}: invalid dimensions {sizes}")
    if ndim < 3:
        raise DecodeError(f"{name}: a {ndim}-D image {sizes}, expected a 3-D volume")
    if ndim > 3 and any(s != 1 for s in sizes[3:]):
        raise DecodeError(f"{name}: a {ndim}-D image {sizes}, expected a 3-D volume")
    shape = tuple(int(s) for s in sizes[:3])
    n_vox = shape[0] * shape[1] * shape[2]
    if n_vox > max_voxels:
        raise LimitError(
            f"{name}: header claims {shape} = {n_vox} voxels, above the limit of {max_voxels}"
        )
    if datatype not in _DTYPES:
        raise DecodeError(f"{name}: unsupported NIfTI datatype code {datatype}")
    spacing = tuple(float(p) for p in pixdim[1:4])
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise DecodeError(f"{name}: spacing (pixdim[1:4]) must be positive, got {spacing}")
    if not np.isfinite(vox_offset) or vox_offset < 348:
        vox_offset = 352.0
    elif vox_offset > 2**31:  # a float32 field: 1e30 would overflow the inflate size
        raise DecodeError(f"{name}: vox_offset {vox_offset:g} is beyond any NIfTI header")
    if qform_code > 0:
        qfac = -1.0 if pixdim[0] < 0 else 1.0
        ras = _quaternion_matrix(*(float(q) for q in quat[:3]), qfac)
        origin_ras = np.array(quat[3:], dtype=np.float64)
    elif sform_code > 0:
        m = srow[:, :3]
        norms = np.linalg.norm(m, axis=0)
        if np.any(norms == 0) or not np.all(np.isfinite(m)):
            raise DecodeError(f"{name}: degenerate sform matrix")
        ras = m / norms
        origin_ras = srow[:, 3]
    else:
        ras = np.eye(3)
        origin_ras = np.zeros(3)
    if not (np.all(np.isfinite(ras)) and np.all(np.isfinite(origin_ras))):
        raise DecodeError(f"{name}: non-finite orientation in header")
    return _Header(
        endian=endian,
        shape_ijk=shape,
        dtype=np.dtype(_DTYPES[datatype]).newbyteorder(endian),
        vox_offset=int(vox_offset),
        pixdim=spacing,
        slope=float(slope),
        inter=float(inter),
        direction_ijk=_LPS @ ras,
        origin=tuple(float(v) for v in _LPS @ origin_ras),
    )


def _inflate_prefix(data, n, name):
    try:
        d = zlib.decompressobj(wbits=31)
        return d.decompress(bytes(data[: 1 << 16]), n)
    except zlib.error as exc:
        raise DecodeError(f"{name}: corrupt gzip stream ({exc})") from exc


def _inflate(data, name, need):
    """Inflate at most ``need`` bytes (a gzip bomb cannot allocate more than the header says)."""
    try:
        d = _zlib.decompressobj(wbits=31)
        out = d.decompress(data, need)
        while len(out) < need and d.eof and d.unused_data:  # multi-member gzip
            rest = d.unused_data
            d = _zlib.decompressobj(wbits=31)
            out += d.decompress(rest, need - len(out))
        return out
    except _ZERRORS as exc:
        raise DecodeError(f"{name}: corrupt or truncated gzip stream ({exc})") from exc


def _is_gzip(data):
    return len(data) >= 2 and data[0] == 0x1F and data[1] == 0x8B


def read_header(path_or_bytes, *, max_voxels=DEFAULT_MAX_VOXELS):
    """Parse and check a NIfTI-1 header without reading the voxels.

    Returns
    -------
    dict with ``shape`` (z, y, x), ``dtype``, ``spacing`` (z, y, x) mm, ``origin``,
    ``direction`` (the :class:`Volume` convention).
    """
    data, name = _load_bytes(path_or_bytes)
    raw = _inflate_prefix(data, 352, name) if _is_gzip(data) else bytes(data[:352])
    h = _parse_header(raw, name, max_voxels)
    return {
        "shape": h.shape_ijk[::-1],
        "dtype": h.dtype.newbyteorder("="),
        "spacing": h.pixdim[::-1],
        "origin": h.origin,
        "direction": h.direction_ijk[:, ::-1].copy(),
    }


def _load_bytes(path_or_bytes):
    if isinstance(path_or_bytes, (str, os.PathLike)):
        name = os.fspath(path_or_bytes)
        try:
            with open(name, "rb") as f:
                return f.read(), name
        except OSError as exc:
            raise DecodeError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    try:
        mv = memoryview(path_or_bytes)
    except TypeError as exc:
        raise TypeError(
            f"read() takes a path or a bytes-like object, not {type(path_or_bytes).__name__}"
        ) from exc
    return mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv, "<bytes>"


def read(path_or_bytes, *, max_voxels=DEFAULT_MAX_VOXELS, layout="zyx"):
    """Read a 3-D volume and its geometry.

    Parameters
    ----------
    path_or_bytes : str | os.PathLike | bytes-like
        A ``.nii`` / ``.nii.gz`` file (or its bytes, never copied before inflating), or a
        path to any format SimpleITK reads.
    max_voxels : int
        A header claiming more voxels raises :class:`~fastload.errors.LimitError` before
        anything is allocated.
    layout : {"zyx", "nifti"}
        ``"zyx"``: array axes (z, y, x) = NIfTI (k, j, i), C-contiguous. ``"nifti"``:
        array axes (i, j, k) as nibabel returns them (a transposed view).

    Returns
    -------
    Volume

    Raises
    ------
    DecodeError
        Empty, truncated or corrupt file; not 3-D; zero/negative spacing. Names the file.
    LimitError
        The header declares more than ``max_voxels`` voxels.
    """
    if layout not in ("zyx", "nifti"):
        raise ValueError(f"layout must be 'zyx' or 'nifti', got {layout!r}")
    data, name = _load_bytes(path_or_bytes)
    if len(data) == 0:
        raise DecodeError(f"{name}: empty file")
    gz = _is_gzip(data)
    prefix = _inflate_prefix(data, 352, name) if gz else bytes(data[:352])
    is_nifti1 = len(prefix) >= 348 and (
        struct.unpack_from("<i", prefix, 0)[0] == 348
        or struct.unpack_from(">i", prefix, 0)[0] == 348
    )
    if not is_nifti1 or prefix[344:348] == b"ni1\x00":
        if name == "<bytes>":
            raise DecodeError(f"{name}: not a single-file NIfTI-1 image")
        vol = _read_sitk(name, max_voxels)
    else:
        h = _parse_header(prefix, name, max_voxels)
        n = h.shape_ijk[0] * h.shape_ijk[1] * h.shape_ijk[2]
        need = h.vox_offset + n * h.dtype.itemsize
        buf = _inflate(data, name, need) if gz else data
        if len(buf) < need:
            raise DecodeError(f"{name}: truncated: {len(buf)} bytes, the header needs {need}")
        arr = np.frombuffer(buf, dtype=h.dtype, count=n, offset=h.vox_offset)
        arr = arr.reshape(h.shape_ijk[::-1])
        if h.endian == ">":
            arr = arr.astype(h.dtype.newbyteorder("="))
        if h.slope not in (0.0, 1.0) or h.inter != 0.0:
            ftype = np.float64 if arr.dtype == np.float64 else np.float32
            arr = arr.astype(ftype) * ftype(h.slope) + ftype(h.inter)
        vol = Volume(arr, h.pixdim[::-1], h.origin, h.direction_ijk[:, ::-1].copy(), name)
    if layout == "nifti":
        vol = Volume(
            vol.array.T, vol.spacing[::-1], vol.origin, vol.direction[:, ::-1].copy(), vol.source
        )
    return vol


def _check_metaimage(name):
    """ITK's MetaImage reader segfaults on a negative ``NDims`` (found by fuzzing): check
    the text header of .mha/.mhd files before SimpleITK sees them."""
    if not name.lower().endswith((".mha", ".mhd")):
        return
    try:
        with open(name, "rb") as f:
            head = f.read(1 << 16)
    except OSError as exc:
        raise DecodeError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    for line in head.split(b"\n"):
        key, _, value = line.partition(b"=")
        if key.strip().lower() in (b"ndims", b"elementnumberofchannels"):
            try:
                n = int(value.strip())
            except ValueError:
                n = -1
            if not 1 <= n <= 64:
                raise DecodeError(f"{name}: invalid MetaImage {key.strip().decode()} {value!r}")
        if key.strip().lower() in (b"elementdatafile", b"elementdata"):
            break


def _read_sitk(name, max_voxels):
    import SimpleITK as sitk

    _check_metaimage(name)
    reader = sitk.ImageFileReader()
    reader.SetFileName(name)
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise DecodeError(
            f"{name}: cannot read image header ({str(exc).strip().splitlines()[-1]})"
        ) from exc
    size = reader.GetSize()
    if len(size) != 3 or reader.GetNumberOfComponents() != 1:
        raise DecodeError(
            f"{name}: a {len(size)}-D image {size} with "
            f"{reader.GetNumberOfComponents()} component(s), expected a 3-D scalar volume"
        )
    n = int(np.prod(size, dtype=np.int64))
    if min(size) < 1:
        raise DecodeError(f"{name}: empty image of size {size}")
    if n > max_voxels:
        raise LimitError(
            f"{name}: header claims {size} = {n} voxels, above the limit of {max_voxels}"
        )
    spacing = reader.GetSpacing()
    if not all(s > 0 for s in spacing):
        raise DecodeError(f"{name}: spacing must be positive, got {spacing}")
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise DecodeError(
            f"{name}: cannot read image ({str(exc).strip().splitlines()[-1]})"
        ) from exc
    d = np.array(img.GetDirection(), dtype=np.float64).reshape(3, 3)
    return Volume(
        sitk.GetArrayFromImage(img),
        tuple(spacing[::-1]),
        tuple(img.GetOrigin()),
        d[:, ::-1].copy(),
        name,
    )
