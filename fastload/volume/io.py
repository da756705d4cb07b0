"""Read CT volumes (NIfTI-1 and NIfTI-2, and anything SimpleITK reads).

NIfTI-1 and NIfTI-2 are parsed here, single-file (``.nii`` / ``.nii.gz``, path or bytes)
and two-file (``.hdr`` + ``.img``, optionally gzipped, by path): the 348- or 540-byte
header is checked (dimensions, spacing, datatype, voxel-count limit) before anything
large is allocated, then the data is inflated in one call (python-isal when installed,
else zlib) and viewed without a copy. Both versions follow the same rules below. Other
formats (MetaImage, NRRD, DICOM ...) go through SimpleITK; a file that neither reads gets
a DecodeError naming what it looks like (Analyze 7.5, MINC, MGH ...).

What is refused (DecodeError, naming the file): more than 3 dimensions of size > 1
(4-D time series, CIFTI matrices), fewer than 3, non-scalar voxels (RGB24, RGBA32,
complex, float128, 1-bit), zero or non-finite spacing (a negative pixdim is read as its
absolute value, as nibabel and ITK do), a degenerate sform.

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
  ``origin + direction @ (spacing * k)``. For a file with a qform or an sform this equals
  SimpleITK's direction with its columns reversed; for a file with neither, see below.

The geometry comes from the qform when ``qform_code > 0``, else from the sform when
``sform_code > 0``, else identity (NIfTI "method 1").

Files with neither a qform nor an sform (``qform_code == sform_code == 0``): fastload
follows the NIfTI standard's method 1, identity orientation in NIfTI's RAS, so in LPS
``direction`` is ``diag(-1, -1, 1)`` with its columns reversed (array x = NIfTI i points to
-L, y = j to -P, z = k to +S) and ``origin`` is (0, 0, 0). SimpleITK (ITK's NiftiImageIO)
reports the identity in LPS there instead: its i and j axes point the opposite way, so
its direction is NOT fastload's with columns reversed (it differs in the signs of i and
j); origin, spacing and voxels agree (``tests/volume/test_io.py`` pins this). nibabel's
``affine`` for such files is a third choice (Analyze-style: i flipped, origin at the
centre).

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
_UNSUPPORTED_DTYPES = {
    1: "1-bit (binary)",
    32: "complex64",
    128: "RGB24 (colour)",
    1536: "float128",
    1792: "complex128",
    2048: "complex256",
    2304: "RGBA32 (colour)",
}
_LPS = np.diag([-1.0, -1.0, 1.0])
#: bytes read before the header is parsed (NIfTI-2 header + extension flag)
_PREFIX = 544


@dataclass(frozen=True)
class Volume:
    """A decoded volume with its geometry (see the module docstring for the rule).

    Attributes
    ----------
    array : ndarray, shape (D, H, W) = (z, y, x)
        Stored dtype (int16, uint8, float32 ...), or float32 (float64 for float64 data)
        when the file has a scale/intercept: computed in float64 like nibabel, then
        rounded once. Read-only when it is a view of the inflated buffer.
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
    version: int
    single_file: bool
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


def _nifti_version(raw):
    """(version, endian) from ``sizeof_hdr`` (348: NIfTI-1 or Analyze, 540: NIfTI-2), or
    (None, None)."""
    if len(raw) < 4:
        return None, None
    for endian in "<>":
        size = struct.unpack_from(endian + "i", raw, 0)[0]
        if size in (348, 540):
            return (1 if size == 348 else 2), endian
    return None, None


def _parse_header(raw, name, max_voxels):
    version, endian = _nifti_version(raw)
    if version is None:
        raise DecodeError(f"{name}: not a NIfTI file (sizeof_hdr is neither 348 nor 540)")
    hsize = 348 if version == 1 else 540
    if len(raw) < hsize:
        raise DecodeError(f"{name}: truncated NIfTI-{version} header ({len(raw)} of {hsize} bytes)")
    if version == 1:
        magic = bytes(raw[344:348])
        if magic not in (b"n+1\x00", b"ni1\x00"):
            raise DecodeError(
                f"{name}: an Analyze 7.5 header (348 bytes without the NIfTI-1 magic, found "
                f"{magic!r}): Analyze is not supported, convert the file to NIfTI"
            )
        single = magic == b"n+1\x00"
        dim = struct.unpack_from(endian + "8h", raw, 40)
        datatype = struct.unpack_from(endian + "h", raw, 70)[0]
        pixdim = struct.unpack_from(endian + "8f", raw, 76)
        vox_offset, slope, inter = struct.unpack_from(endian + "3f", raw, 108)
        qform_code, sform_code = struct.unpack_from(endian + "2h", raw, 252)
        quat = struct.unpack_from(endian + "6f", raw, 256)
        srow = struct.unpack_from(endian + "12f", raw, 280)
    else:
        magic = bytes(raw[4:12])
        if magic not in (b"n+2\x00\r\n\x1a\n", b"ni2\x00\r\n\x1a\n"):
            raise DecodeError(f"{name}: not a NIfTI-2 file (magic {magic!r})")
        single = magic[:3] == b"n+2"
        datatype = struct.unpack_from(endian + "h", raw, 12)[0]
        dim = struct.unpack_from(endian + "8q", raw, 16)
        pixdim = struct.unpack_from(endian + "8d", raw, 104)
        vox_offset = struct.unpack_from(endian + "q", raw, 168)[0]
        slope, inter = struct.unpack_from(endian + "2d", raw, 176)
        qform_code, sform_code = struct.unpack_from(endian + "2i", raw, 344)
        quat = struct.unpack_from(endian + "6d", raw, 352)
        srow = struct.unpack_from(endian + "12d", raw, 400)
    srow = np.array(srow, dtype=np.float64).reshape(3, 4)
    # NIfTI / nibabel: scl_slope 0 or non-finite means "no scaling"; a valid slope with a
    # non-finite intercept is an error (it would silently turn every voxel into NaN/inf).
    if slope == 0.0 or not np.isfinite(slope):
        slope, inter = 1.0, 0.0
    elif not np.isfinite(inter):
        raise DecodeError(f"{name}: scl_slope {slope} with a non-finite scl_inter {inter}")

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
    if datatype in _UNSUPPORTED_DTYPES:
        raise DecodeError(
            f"{name}: {_UNSUPPORTED_DTYPES[datatype]} voxels (NIfTI datatype {datatype}), "
            f"expected a scalar volume of (u)int8/16/32/64 or float32/64"
        )
    if datatype not in _DTYPES:
        raise DecodeError(f"{name}: unsupported NIfTI datatype code {datatype}")
    # A negative pixdim is read as its absolute value, as nibabel and ITK (nifti1_io) do;
    # zero or non-finite spacing is corruption.
    spacing = tuple(abs(float(p)) for p in pixdim[1:4])
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise DecodeError(
            f"{name}: spacing (pixdim[1:4]) must be non-zero and finite, got "
            f"{tuple(float(p) for p in pixdim[1:4])}"
        )
    if single and (not np.isfinite(vox_offset) or vox_offset < hsize):
        vox_offset = hsize + 4  # header + the 4-byte extension flag
    elif not single and (not np.isfinite(vox_offset) or vox_offset < 0):
        vox_offset = 0  # two-file: the offset into the .img file
    elif vox_offset > 2**31:  # 1e30 (NIfTI-1 float) would overflow the inflate size
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
        version=version,
        single_file=single,
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


_SCALE_CHUNK = 1 << 16  # 512 KiB of float64: stays in L2


def _apply_scaling(arr, slope, inter):
    """``arr * scl_slope + scl_inter`` computed in float64 (as nibabel does), returned as
    float32 (float64 for float64 data): each voxel is nibabel's value rounded once to
    float32. Done in chunks so the float64 temporaries stay small."""
    out = np.empty(arr.shape, np.float64 if arr.dtype == np.float64 else np.float32)
    src, dst = arr.reshape(-1), out.reshape(-1)  # arr is C-contiguous here
    for i in range(0, src.size, _SCALE_CHUNK):
        chunk = src[i : i + _SCALE_CHUNK].astype(np.float64)
        chunk *= slope
        chunk += inter
        dst[i : i + _SCALE_CHUNK] = chunk
    return out


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
    """Parse and check a NIfTI-1 or NIfTI-2 header without reading the voxels.

    Returns
    -------
    dict with ``shape`` (z, y, x), ``dtype``, ``spacing`` (z, y, x) mm, ``origin``,
    ``direction`` (the :class:`Volume` convention).
    """
    data, name = _load_bytes(path_or_bytes)
    raw = _inflate_prefix(data, _PREFIX, name) if _is_gzip(data) else bytes(data[:_PREFIX])
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
        A NIfTI-1 or NIfTI-2 ``.nii`` / ``.nii.gz`` file (or its bytes, never copied before
        inflating), a two-file NIfTI's ``.hdr`` (or ``.img``) path, or a path to any
        format SimpleITK reads.
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
        Empty, truncated or corrupt file; not 3-D (4-D time series, CIFTI); non-scalar
        voxels (RGB, complex ...); zero or non-finite spacing; a format no reader supports
        (Analyze 7.5, MINC, MGH ...: the message names it). Names the file.
    LimitError
        The header declares more than ``max_voxels`` voxels.
    """
    if layout not in ("zyx", "nifti"):
        raise ValueError(f"layout must be 'zyx' or 'nifti', got {layout!r}")
    data, name = _load_bytes(path_or_bytes)
    if len(data) == 0:
        raise DecodeError(f"{name}: empty file")
    if name != "<bytes>" and _pair_part(name) == "img":
        header = _pair_partner(name, "hdr")
        if header is not None:  # the data half of a two-file NIfTI: read through its header
            data, name = _load_bytes(header)
    gz = _is_gzip(data)
    prefix = _inflate_prefix(data, _PREFIX, name) if gz else bytes(data[:_PREFIX])
    if _nifti_version(prefix)[0] is None:
        if name == "<bytes>":
            raise DecodeError(
                f"{name}: not a NIfTI-1 or NIfTI-2 image{_looks_like(prefix, name)} (other "
                f"formats are read from a path, through SimpleITK)"
            )
        vol = _read_sitk(name, max_voxels, prefix)
    else:
        h = _parse_header(prefix, name, max_voxels)
        source = name
        if not h.single_file:
            if name == "<bytes>":
                raise DecodeError(
                    f"{name}: the header of a two-file NIfTI-{h.version} (.hdr/.img): read it "
                    f"through its path so that the .img file can be found"
                )
            source = _pair_partner(name, "img")
            if source is None:
                raise DecodeError(
                    f"{name}: two-file NIfTI-{h.version}: its data file "
                    f"({_pair_base(name)}.img or .img.gz) is missing"
                )
            data, _ = _load_bytes(source)
            gz = _is_gzip(data)
        n = h.shape_ijk[0] * h.shape_ijk[1] * h.shape_ijk[2]
        need = h.vox_offset + n * h.dtype.itemsize
        buf = _inflate(data, source, need) if gz else data
        if len(buf) < need:
            raise DecodeError(f"{source}: truncated: {len(buf)} bytes, the header needs {need}")
        arr = np.frombuffer(buf, dtype=h.dtype, count=n, offset=h.vox_offset)
        arr = arr.reshape(h.shape_ijk[::-1])
        if h.endian == ">":
            arr = arr.astype(h.dtype.newbyteorder("="))
        if h.slope not in (0.0, 1.0) or h.inter != 0.0:
            arr = _apply_scaling(arr, h.slope, h.inter)
        vol = Volume(arr, h.pixdim[::-1], h.origin, h.direction_ijk[:, ::-1].copy(), name)
    if layout == "nifti":
        vol = Volume(
            vol.array.T, vol.spacing[::-1], vol.origin, vol.direction[:, ::-1].copy(), vol.source
        )
    return vol


def _pair_part(name):
    low = name.lower()
    for part in ("hdr", "img"):
        if low.endswith((f".{part}", f".{part}.gz")):
            return part
    return None


def _pair_base(name):
    low = name.lower()
    cut = 7 if low.endswith(".gz") else 4
    return name[: len(name) - cut]


def _pair_partner(name, part):
    """The existing ``.hdr`` / ``.img`` (or ``.gz``) file paired with ``name``, or None."""
    if _pair_part(name) is None:
        return None
    base = _pair_base(name)
    upper = name[len(base) + 1 :][:3].isupper()
    ext = part.upper() if upper else part
    for cand in (f"{base}.{ext}", f"{base}.{ext}.gz", f"{base}.{ext}.GZ"):
        if os.path.isfile(cand):
            return cand
    return None


#: (test on the first bytes, format name) for files neither fastload nor SimpleITK reads
_SIGNATURES = (
    (lambda b: b.startswith(b"\x89HDF\r\n\x1a\n"), "HDF5 (MINC-2?)"),
    (lambda b: b[:4] in (b"CDF\x01", b"CDF\x02"), "NetCDF (MINC-1?)"),
    (lambda b: b[128:132] == b"DICM", "DICOM"),
    (lambda b: b.startswith(b"NRRD"), "NRRD"),
    (lambda b: b.startswith(b"# === DATA DESCRIPTION FILE"), "Philips PAR/REC"),
    (lambda b: b.startswith(b"\x1f\x8b"), "gzip-compressed data"),
)
_EXTENSIONS = {
    ".mgh": "FreeSurfer MGH",
    ".mgz": "FreeSurfer MGZ",
    ".mnc": "MINC",
    ".par": "Philips PAR/REC",
    ".rec": "Philips PAR/REC",
    ".img": "an Analyze/NIfTI data file without its .hdr",
}


def _looks_like(prefix, name):
    """`` (it looks like <format>)`` for a message, or ``""``."""
    for test, what in _SIGNATURES:
        if test(bytes(prefix)):
            return f" (it looks like {what})"
    ext = os.path.splitext(name.lower()[:-3] if name.lower().endswith(".gz") else name.lower())[1]
    if ext in _EXTENSIONS:
        return f" (by its name, {_EXTENSIONS[ext]})"
    return ""


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


def _read_sitk(name, max_voxels, prefix=b""):
    import SimpleITK as sitk

    _check_metaimage(name)
    reader = sitk.ImageFileReader()
    reader.SetFileName(name)
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1]
        if "Unable to determine ImageIO reader" in detail:
            raise DecodeError(
                f"{name}: not a volume format fastload reads{_looks_like(prefix, name)}: "
                f"neither NIfTI-1/NIfTI-2 nor a format SimpleITK reads"
            ) from exc
        raise DecodeError(
            f"{name}: cannot read image header{_looks_like(prefix, name)} ({detail})"
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
