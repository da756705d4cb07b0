"""Image decoding: JPEG through libjpeg-turbo (region of interest + DCT-domain scaling),
PNG, everything else, and JPEG processes libjpeg-turbo 2.1 does not decode (lossless,
hierarchical: ``ImageInfo.format == "JPEG (Pillow)"``) through Pillow.

Every function accepts any bytes-like input (bytes, memoryview, numpy uint8 array)
without copying it. Sizes declared in a header are checked against a pixel limit
(:func:`set_max_image_pixels`) before anything is allocated.
"""

import io
import os
import re
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from fastload.errors import DecodeError, LimitError, PerformanceWarning

try:  # compiled only when libjpeg-turbo headers were found at build time
    from fastload.image import _jpeg_cy
except ImportError:  # pragma: no cover - depends on the build
    _jpeg_cy = None
if _jpeg_cy is not None and os.environ.get("FASTLOAD_JPEG_HUFFMAN", "") == "libjpeg":
    _jpeg_cy.set_fast_huffman(False)
# say loudly, once per process, when a slow fallback is in use (fastload/backends.py)
if _jpeg_cy is None:  # pragma: no cover - depends on the build
    warnings.warn(
        "fastload was built without libjpeg-turbo: JPEG decoding falls back to Pillow, "
        "several times slower. Run `fastload doctor` for what to install.",
        PerformanceWarning,
        stacklevel=2,
    )
elif _jpeg_cy.fast_huffman() and not _jpeg_cy.huffman_check()[0]:
    warnings.warn(
        f"fastload's JPEG Huffman decoder is disabled ({_jpeg_cy.huffman_check()[1]}); "
        "libjpeg-turbo's own is used (same pixels, slower). Run `fastload doctor`.",
        PerformanceWarning,
        stacklevel=2,
    )

__all__ = [
    "ImageInfo",
    "backend",
    "choose_scale",
    "decode",
    "decode_region",
    "get_max_image_pixels",
    "huffman_decoder",
    "read_header",
    "scaled_region",
    "set_backend",
    "set_huffman_decoder",
    "set_max_image_pixels",
]

#: Default pixel limit: Pillow's decompression-bomb error threshold (2 x 89,478,485).
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970

_state = {
    "max_pixels": DEFAULT_MAX_IMAGE_PIXELS,
    "backend": os.environ.get("FASTLOAD_IMAGE_BACKEND", "auto"),
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_JPEG_CHANNELS = {1: 1, 3: 3, 4: 4}
DCT_SCALES = (1, 2, 4, 8)  # numerators over 8; libjpeg-turbo has SIMD IDCTs for these
#: values of ``idct=`` (:func:`decode`): libjpeg's accurate integer IDCT (JDCT_ISLOW, the
#: default, what Pillow uses) or its fast integer IDCT (JDCT_IFAST, what TensorFlow's
#: ``decode_jpeg(dct_method="")`` uses)
IDCT_METHODS = ("accurate", "fast")


class ImageInfo(NamedTuple):
    """What a header says about an encoded image (an immutable named tuple).

    Attributes
    ----------
    height, width : int
        Pixels at full resolution.
    channels : int
        Components as stored (1 gray, 3 colour, 4 CMYK/RGBA ...); :func:`decode` always
        returns 3-channel RGB.
    format : str
        ``"JPEG"``, ``"PNG"`` or Pillow's format name; ``"JPEG (Pillow)"`` for a JPEG
        process fastload's libjpeg-turbo does not decode (lossless, hierarchical) but
        Pillow does: decoded whole by Pillow, then cropped (no DCT scaling).
    """

    height: int
    width: int
    channels: int
    format: str

    @property
    def shape(self):
        """``(height, width, 3)``: the shape :func:`decode` returns at full resolution."""
        return (self.height, self.width, 3)


def backend():
    """Name of the JPEG decoder in use: ``"libjpeg-turbo"`` or ``"pillow"``.

    ``"pillow"`` when the compiled extension is missing (libjpeg headers absent at build
    time), or when forced with ``FASTLOAD_IMAGE_BACKEND=pillow`` / :func:`set_backend`.

    With libjpeg-turbo, strict decodes of baseline JPEGs are entropy-decoded by fastload's
    own Huffman decoder (``csrc/image/huffman.c``: same coefficients, about 15 % less
    time per image); ``FASTLOAD_JPEG_HUFFMAN=libjpeg`` keeps libjpeg-turbo's decoder.
    """
    if _jpeg_cy is not None and _state["backend"] != "pillow":
        return "libjpeg-turbo"
    return "pillow"


def set_backend(name):
    """Force ``"pillow"``, or go back to ``"auto"`` (libjpeg-turbo when built). Returns the
    previous setting."""
    if name not in ("auto", "pillow", "libjpeg-turbo"):
        raise ValueError(f"backend must be 'auto', 'libjpeg-turbo' or 'pillow', not {name!r}")
    if name == "libjpeg-turbo" and _jpeg_cy is None:
        raise ValueError("the libjpeg-turbo extension was not built (libjpeg headers missing)")
    previous = _state["backend"]
    _state["backend"] = name
    return previous


def huffman_decoder():
    """Who entropy-decodes strict baseline JPEGs: ``"fastload"`` (csrc/image/huffman.c),
    ``"libjpeg"`` (libjpeg-turbo's own: switched off, refused by the load-time check, or
    ``FASTLOAD_JPEG_HUFFMAN=libjpeg``) or ``None`` (built without libjpeg-turbo)."""
    if _jpeg_cy is None:
        return None
    if _jpeg_cy.fast_huffman() and _jpeg_cy.huffman_check()[0]:
        return "fastload"
    return "libjpeg"


def set_huffman_decoder(name):
    """Use ``"fastload"``'s Huffman decoder (where the load-time check verified it) or
    ``"libjpeg"``'s, process-wide; the pixels are the same. For benchmarks and tests.
    Returns the previous :func:`huffman_decoder`."""
    if name not in ("fastload", "libjpeg"):
        raise ValueError(f"Huffman decoder must be 'fastload' or 'libjpeg', not {name!r}")
    if _jpeg_cy is None:
        raise ValueError("the libjpeg-turbo extension was not built (libjpeg headers missing)")
    previous = huffman_decoder()
    _jpeg_cy.set_fast_huffman(name == "fastload")
    return previous


def get_max_image_pixels():
    """The pixel-count limit checked from headers before decoding (0 = no limit)."""
    return _state["max_pixels"]


def set_max_image_pixels(limit):
    """Set the pixel-count limit (``None`` or 0 disables it). Returns the previous one."""
    previous = _state["max_pixels"]
    _state["max_pixels"] = int(limit or 0)
    return previous


def _where(name):
    return f"{name}: " if name is not None else ""


def _as_view(data, name):
    """A flat uint8 memoryview over any C-contiguous bytes-like object (no copy)."""
    try:
        view = memoryview(data)
    except TypeError as exc:
        raise DecodeError(
            f"{_where(name)}expected bytes-like data, got {type(data).__name__}"
        ) from exc
    if view.ndim != 1 or view.format not in ("B", "b", "c"):
        if not view.c_contiguous:
            raise DecodeError(f"{_where(name)}encoded data must be C-contiguous")
        view = view.cast("B")
    return view


def _is_jpeg(view):
    return len(view) >= 3 and view[0] == 0xFF and view[1] == 0xD8 and view[2] == 0xFF


def _check_limit(height, width, name, max_pixels=None):
    limit = _state["max_pixels"] if max_pixels is None else max_pixels
    if limit and height * width > limit:
        raise LimitError(
            f"{_where(name)}image is {height}x{width} = {height * width} pixels, "
            f"above the limit of {limit} (fastload.image.set_max_image_pixels)"
        )


_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _pillow_text(exc):
    """Pillow's message without the Python reprs some of them carry."""
    text = _REPR.sub("the data", str(exc)).strip()
    return text or type(exc).__name__


def _first_bytes(view):
    head = bytes(view[:8])
    return " ".join(f"{b:02x}" for b in head) + (" ..." if len(view) > 8 else "")


def _pillow_open(view, name):
    try:
        return Image.open(io.BytesIO(view))
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{_where(name)}{exc}") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError(
            f"{_where(name)}not a decodable image: expected JPEG, PNG or another "
            f"format Pillow reads, but Pillow identifies no image in these "
            f"{len(view)} bytes (they start {_first_bytes(view)})"
        ) from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError ...
        raise DecodeError(
            f"{_where(name)}not a decodable image: Pillow could not read the "
            f"header of {len(view)} bytes starting {_first_bytes(view)}: "
            f"{_pillow_text(exc)}"
        ) from exc


def read_header(data, *, strict=True, name=None):
    """Read the size of an encoded image without decoding its pixels.

    Parameters
    ----------
    data : bytes-like
        Encoded JPEG, PNG or any format Pillow reads.
    strict : bool
        Treat libjpeg warnings in a JPEG header (extraneous bytes before a marker, e.g.
        from a truncated APP segment; an unknown JFIF revision) as errors. ``False``
        accepts what libjpeg and Pillow accept, as :func:`decode` does.
    name : str, optional
        File or sample name used in error messages.

    Returns
    -------
    ImageInfo

    Raises
    ------
    DecodeError
        Empty, truncated or unrecognised data.
    """
    view = _as_view(data, name)
    if len(view) == 0:
        raise DecodeError(f"{_where(name)}empty input (0 bytes)")
    if _is_jpeg(view):
        if backend() == "libjpeg-turbo":
            try:
                h, w, comps, _cs, _prog = _jpeg_cy.read_header(view, strict, name)
            except _jpeg_cy.UnsupportedJPEG as exc:
                return _pillow_jpeg_header(view, exc, name)
        else:
            h, w, comps = _jpeg_sof(view, name)
        return ImageInfo(h, w, _JPEG_CHANNELS.get(comps, comps), "JPEG")
    if bytes(view[:8]) == _PNG_SIGNATURE:
        if len(view) < 33 or bytes(view[12:16]) != b"IHDR":
            chunk = bytes(view[12:16])
            found = (
                f"{len(view)} bytes"
                if len(view) < 33
                else "a first chunk of type "
                + (chunk.decode("ascii") if chunk.isalpha() else chunk.hex(" "))
            )
            raise DecodeError(
                f"{_where(name)}bad PNG header: expected an IHDR chunk in the "
                f"first 33 bytes, found {found}"
            )
        w = int.from_bytes(view[16:20], "big")
        h = int.from_bytes(view[20:24], "big")
        if h == 0 or w == 0:
            raise DecodeError(f"{_where(name)}PNG header declares an empty {h}x{w} image")
        return ImageInfo(h, w, _PNG_CHANNELS.get(view[25], 3), "PNG")
    with _pillow_open(view, name) as img:
        w, h = img.size
        if h <= 0 or w <= 0:  # e.g. Pillow's BUFR/GRIB/HDF5 stubs report 0x0
            raise DecodeError(f"{_where(name)}{img.format} header declares an empty {h}x{w} image")
        return ImageInfo(h, w, len(img.getbands()), img.format or "unknown")


#: ImageInfo.format of a JPEG that fastload's libjpeg-turbo does not decode (lossless,
#: hierarchical) but Pillow does: such files take the Pillow path, whole.
PILLOW_JPEG = "JPEG (Pillow)"


def _pillow_jpeg_header(view, exc, name):
    """Header of a JPEG process libjpeg-turbo refused as unsupported, if Pillow reads it."""
    try:
        img = Image.open(io.BytesIO(view))
    except Image.DecompressionBombError as bomb:
        raise LimitError(f"{_where(name)}{bomb}") from bomb
    except UnidentifiedImageError as pil:
        raise DecodeError(f"{exc} (Pillow cannot read it either)") from pil
    except Exception as pil:  # noqa: BLE001 - Pillow's refusal is reported with ours
        raise DecodeError(f"{exc} (Pillow cannot read it either: {_pillow_text(pil)})") from pil
    with img:
        w, h = img.size
        if h <= 0 or w <= 0:
            raise DecodeError(f"{exc} (and Pillow reads an empty {h}x{w} image)")
        return ImageInfo(h, w, len(img.getbands()), PILLOW_JPEG)


_SOF_MARKERS = frozenset(
    [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF]
)


def _jpeg_sof(view, name):
    """(height, width, components) from the first SOFn marker (pure Python, used by the
    Pillow backend so that huge declared sizes reach the pixel limit, not Pillow's)."""
    i, n = 2, len(view)
    while i + 4 <= n:
        if view[i] != 0xFF:
            break
        marker = view[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = (view[i + 2] << 8) | view[i + 3]
        if marker in _SOF_MARKERS:
            if i + 10 > n or length < 8:
                break
            h = (view[i + 5] << 8) | view[i + 6]
            w = (view[i + 7] << 8) | view[i + 8]
            if h == 0 or w == 0:
                raise DecodeError(f"{_where(name)}JPEG header declares an empty {h}x{w} image")
            return h, w, view[i + 9]
        if marker == 0xDA or length < 2:
            break
        i += 2 + length
    raise DecodeError(f"{_where(name)}invalid JPEG data: no frame header (SOF) found")


def choose_scale(region_hw, min_size):
    """Strongest DCT scale ``s/8`` (s in 1, 2, 4, 8) keeping ``region * s/8 >= min_size``.

    Parameters
    ----------
    region_hw : (float, float)
        Height and width of the region at full resolution, pixels.
    min_size : (int, int) | None
        Smallest acceptable (height, width) after scaling; None means no scaling (8).

    Returns
    -------
    scale_num : int
    """
    if min_size is None:
        return 8
    mh, mw = min_size
    for s in DCT_SCALES:
        if region_hw[0] * s >= 8 * mh and region_hw[1] * s >= 8 * mw:
            return s
    return 8


def scaled_region(info_hw, roi, scale_num):
    """The region ``roi`` of a full-resolution image after DCT scaling by ``scale_num/8``.

    Returns ``(y0, x0, h, w)`` in scaled pixels: floor of the start, ceil of the end,
    clamped to the scaled image (libjpeg rounds the image size up).
    """
    H, W = info_hw
    top, left, h, w = roi
    SH, SW = -(-H * scale_num // 8), -(-W * scale_num // 8)
    y0, x0 = top * scale_num // 8, left * scale_num // 8
    y1 = min(-(-(top + h) * scale_num // 8), SH)
    x1 = min(-(-(left + w) * scale_num // 8), SW)
    return y0, x0, y1 - y0, x1 - x0


def _check_roi(roi, info, name):
    if roi is None:
        return (0, 0, info.height, info.width)
    try:
        top, left, h, w = (int(v) for v in roi)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"roi must be (top, left, height, width), got {roi!r}") from exc
    if h <= 0 or w <= 0 or top < 0 or left < 0 or top + h > info.height or left + w > info.width:
        raise ValueError(
            f"{_where(name)}roi {roi!r} is not inside the {info.height}x{info.width} image"
        )
    return top, left, h, w


def _prepare_out(out, shape, name):
    if out is None:
        return np.empty(shape, np.uint8)
    if (
        not isinstance(out, np.ndarray)
        or out.dtype != np.uint8
        or out.shape != shape
        or out.strides[1:] != (3, 1)
        or not out.flags.writeable
    ):
        raise ValueError(
            f"{_where(name)}out must be a writable uint8 array of shape {shape} "
            f"with packed pixels, got "
            f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        )
    return out


def idct_flag(idct):
    """The kernel flag of an ``idct=`` value (``"accurate"`` or ``"fast"``); raises
    ValueError for anything else. Internal API of fastload.image (ops, transforms)."""
    if idct not in IDCT_METHODS:
        raise ValueError(f"idct must be one of {IDCT_METHODS}, not {idct!r}")
    return 0 if _jpeg_cy is None else _jpeg_cy.IDCT_FLAGS[idct]


def decode(
    data,
    *,
    roi=None,
    min_size=None,
    out=None,
    strict=True,
    max_pixels=None,
    name=None,
    idct="accurate",
):
    """Decode an encoded image to RGB, optionally only a region and DCT-downscaled.

    Parameters
    ----------
    data : bytes-like
        JPEG (libjpeg-turbo), PNG or any format Pillow reads.
    roi : (int, int, int, int), optional
        ``(top, left, height, width)`` in full-resolution pixels; only this region is
        decoded (for JPEG: only its iMCU columns, rows below it are never read).
    min_size : (int, int), optional
        Allow JPEG DCT-domain downscaling by 1/2, 1/4 or 1/8 as long as the (cropped)
        result stays at least this (height, width). The returned size is then the
        scaled region (see :func:`scaled_region`).
    out : ndarray, shape (h, w, 3), uint8, optional
        Destination (rows may be strided, pixels packed).
    strict : bool
        Treat libjpeg warnings as errors: truncated files, corrupt entropy-coded data,
        junk bytes between markers (e.g. after a truncated APP segment), an unknown JFIF
        revision. ``False`` accepts what libjpeg (and Pillow) accept, recovering from
        corrupt data as libjpeg does (missing rows are grey).
    max_pixels : int, optional
        Pixel-count limit for this call (default :func:`get_max_image_pixels`).
    name : str, optional
        File or sample name used in error messages.
    idct : {"accurate", "fast"}
        JPEG inverse DCT: libjpeg's accurate integer IDCT (``JDCT_ISLOW``, the default;
        Pillow and DALI's CPU decoder use it) or its fast integer IDCT (``JDCT_IFAST``,
        what TensorFlow's ``tf.io.decode_jpeg`` uses by default, ``dct_method=""``).
        "fast" differs from "accurate" by about 1 level on average and up to 4-16 levels
        per image (ARCHITECTURE.md, "JPEG IDCT"). It applies to every 8x8 IDCT: full-scale
        decodes, and the 4:2:0 chroma of 1/2-scaled ones (the 1/4 and 1/8 scalings run
        libjpeg's reduced IDCTs, which have one method). The Pillow fallback backend
        always decodes with the accurate IDCT.

    Returns
    -------
    image : ndarray, shape (h, w, 3), uint8
        RGB. Grayscale is replicated to three channels; CMYK/YCCK is converted.

    Raises
    ------
    DecodeError
        Empty, truncated, corrupt or unrecognised data.
    LimitError
        The header declares more pixels than the limit.

    Notes
    -----
    **What a region decode checks** (JPEG, libjpeg-turbo backend, ``strict=True``). The
    output never depends on earlier decodes on the thread. Whatever the region, a decode
    refuses: any defect in the headers up to the first scan; for progressive and other
    multi-scan files, any defect libjpeg reports anywhere (all scans are entropy-decoded
    before the first row comes out); for single-scan (baseline) files, data that ends
    inside the scan, i.e. no marker (EOI) after the entropy-coded data, which a truncated
    file shows (checked from the end of the data, before decoding). It also refuses
    entropy-coded defects (bad Huffman codes, wrong or misplaced restart markers, data
    missing before a marker) in every MCU row from the top of the image down to the
    region's last row: rows above the region are entropy-decoded to skip them, and all
    columns of a row are. It **cannot** see defects in the MCU rows below the region
    of a single-scan file whose data still ends with a marker: bit errors, a missing
    stretch of bytes (e.g. a cut file to which an EOI was appended), bad restart
    markers; nor anything after the EOI. A full decode (``roi=None``) sees all of
    these, and fastload's builders decode every sample whole, which is the guarantee
    for shards they built. With ``strict=False`` nothing is refused that libjpeg
    recovers from.
    """
    flag = idct_flag(idct)
    view = _as_view(data, name)
    limit = _state["max_pixels"] if max_pixels is None else max_pixels
    planned = []  # the DCT scale plan() chose, once the JPEG kernel has read the header
    if _is_jpeg(view) and backend() == "libjpeg-turbo":
        # one header parse: the kernel opens the image, plan() sizes the output from it

        def plan(height, width, _components):
            region = _check_roi(roi, ImageInfo(height, width, 3, "JPEG"), name)
            scale = choose_scale(region[2:], min_size)
            planned.append(scale)
            y0, x0, h, w = scaled_region((height, width), region, scale)
            return scale, y0, x0, h, w, _prepare_out(out, (h, w, 3), name)

        try:
            return _jpeg_cy.decode_planned(view, plan, limit or 0, strict, name, flag)
        except _jpeg_cy.UnsupportedJPEG as exc:  # lossless, hierarchical ...: Pillow's
            info = _pillow_jpeg_header(view, exc, name)
    else:
        info = read_header(view, strict=strict, name=name)
    region = _check_roi(roi, info, name)
    if planned:
        # refused after its header (a hierarchical frame later in the data): read_header
        # called it "JPEG", so the size it promised, DCT scale included, stands (Pillow's draft)
        scale = planned[0]
    else:
        scale = choose_scale(region[2:], min_size) if info.format == "JPEG" else 8
    return decode_region(
        view,
        info,
        region,
        scale,
        out=out,
        strict=strict,
        max_pixels=max_pixels,
        name=name,
        idct=idct,
    )


def decode_region(
    data, info, region, scale, *, out=None, strict=True, max_pixels=None, name=None, idct="accurate"
):
    """Decode ``region`` (full-resolution ``(top, left, h, w)``, already validated against
    ``info``) at DCT scale ``scale/8`` (8 for non-JPEG). Returns the
    :func:`scaled_region` of shape (h', w', 3) uint8. The pixel limit is checked once:
    by the JPEG kernel from the header it parses, or here before Pillow decodes."""
    flag = idct_flag(idct)
    limit = _state["max_pixels"] if max_pixels is None else max_pixels
    y0, x0, h, w = scaled_region((info.height, info.width), region, scale)
    if info.format == "JPEG" and backend() == "libjpeg-turbo":
        out = _prepare_out(out, (h, w, 3), name)
        _jpeg_cy.decode(data, scale, y0, x0, h, w, out, limit or 0, strict, name, flag)
        return out
    _check_limit(info.height, info.width, name, limit)
    out = _prepare_out(out, (h, w, 3), name)
    return _decode_pillow(_as_view(data, name), info, scale, (y0, x0, h, w), out, strict, name)


def decode_resize_jpeg(data, plan, out, kernel_args, *, strict=True, name=None, idct="accurate"):
    """Decode a region of a JPEG and resample a box of it into ``out`` in one GIL-free
    kernel call that parses the header once: the kernel opens the image (header, pixel
    limit :func:`get_max_image_pixels`, strict checks), ``plan(height, width, components)``
    returns ``(scale, region, box, flags)`` (DCT scale numerator; full-resolution ``(top,
    left, h, w)`` of the region decoded and of the box resampled; the resize kernel's flags,
    which replace those in ``kernel_args``), then the region is decoded at
    ``scale/8`` into per-thread scratch and resampled with the resize kernel's
    ``kernel_args`` (:meth:`fastload.image.ops.OutputSpec.kernel_args`).

    Returns ``out``, or None when this path does not apply (not a JPEG, the Pillow
    backend, or a JPEG process libjpeg-turbo lacks): the caller then takes the Pillow
    path. Internal API of fastload.image (``ops.decode_resized_crop``).
    """
    if backend() != "libjpeg-turbo":
        return None
    view = _as_view(data, name)
    if not _is_jpeg(view):
        return None
    try:
        return _jpeg_cy.decode_resize_planned(
            view, plan, _state["max_pixels"] or 0, strict, out, *kernel_args, name, idct_flag(idct)
        )
    except _jpeg_cy.UnsupportedJPEG:
        return None


def _decode_pillow(view, info, scale, region, out, strict, name):
    """Pillow path: ``draft`` gives the same DCT scaling for JPEG. Pillow is always strict
    about truncation (``strict`` is accepted for symmetry)."""
    y0, x0, h, w = region
    img = _pillow_open(view, name)
    expected = (-(-info.height * scale // 8), -(-info.width * scale // 8))
    try:
        if scale != 8:  # Pillow picks scale = min(W // w, H // h): ask for the floor size
            img.draft("RGB", (info.width * scale // 8, info.height * scale // 8))
        img.load()
        if img.mode != "RGB":
            img = img.convert("RGB")
        arr = np.asarray(img)
    except Exception as exc:
        raise DecodeError(
            f"{_where(name)}invalid {info.format} data: Pillow could not decode "
            f"the {info.height}x{info.width} image ({_pillow_text(exc)})"
        ) from exc
    finally:
        img.close()
    if arr.shape[:2] != expected:
        raise DecodeError(
            f"{_where(name)}Pillow decoded {arr.shape[0]}x{arr.shape[1]} "
            f"pixels where the header declares {expected[0]}x{expected[1]} "
            f"(at scale {scale}/8)"
        )
    out[...] = arr[y0 : y0 + h, x0 : x0 + w]
    return out
