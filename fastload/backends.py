"""Which implementation of each kernel this installation uses, and how to get the fast ones.

:func:`report` inspects the compiled extensions and the libraries behind them without
decoding anything heavy (the first call runs the JPEG Huffman decoder's load-time check, a
few microseconds); ``fastload doctor`` prints it. Each entry is a :class:`Backend`:
``fast`` is False when a slower fallback is in use, and ``fix`` then says what to
install or change.
"""

import importlib
import os
import platform
import sys
from dataclasses import asdict, dataclass, field

__all__ = ["Backend", "as_dicts", "format_report", "report"]


@dataclass
class Backend:
    """One kernel family and the implementation in use.

    Attributes
    ----------
    name : str
        What it does (``"JPEG decode"``, ``"JPEG Huffman decoding"``, ...).
    using : str
        The implementation in use.
    fast : bool
        False when a slower fallback is in use.
    versions : dict
        Versions of the libraries behind it.
    details : list of str
        Further facts (how a library is linked, why a fallback was chosen).
    fix : str
        What to install or change to get the fast path ("" when already fast).
    """

    name: str
    using: str
    fast: bool = True
    versions: dict = field(default_factory=dict)
    details: list = field(default_factory=list)
    fix: str = ""


def _optional(module):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_BUILD_HINT = (
    "install the binary wheel (it carries its own libjpeg-turbo), or install libjpeg-turbo's "
    "headers and static library (Debian/Ubuntu: apt-get install libjpeg62-turbo-dev; "
    "Fedora: libjpeg-turbo-devel libjpeg-turbo-static) and rebuild fastload"
)


def _jpeg():
    from PIL import Image, features

    from fastload.image import codec

    pillow = {"Pillow": Image.__version__}
    turbo = features.version("libjpeg_turbo")
    if turbo:
        pillow["Pillow's libjpeg-turbo"] = turbo
    jpeg = _optional("fastload.image._jpeg_cy")
    if jpeg is None:
        return [
            Backend(
                "JPEG decode",
                "Pillow (fallback: fastload's libjpeg-turbo extension was not built)",
                fast=False,
                versions=pillow,
                fix=_BUILD_HINT,
            ),
            Backend("JPEG Huffman decoding", "Pillow's libjpeg", fast=False, fix=_BUILD_HINT),
        ]
    lib = jpeg.libjpeg_versions()
    versions = {"libjpeg-turbo (running)": lib["running"] or "unknown"}
    details = [f"built against {lib['built_against']}, linked {lib['link']}"]
    if lib["link"] == "shared":
        details.append(f"library: {lib['library']}")
    if codec.backend() == "pillow":
        decode = Backend(
            "JPEG decode",
            "Pillow (forced by FASTLOAD_IMAGE_BACKEND=pillow or set_backend)",
            fast=False,
            versions={**versions, **pillow},
            details=details,
            fix="unset FASTLOAD_IMAGE_BACKEND / call fastload.image.set_backend('auto')",
        )
    else:
        decode = Backend(
            "JPEG decode",
            "libjpeg-turbo (fastload extension, region of interest + DCT scaling)",
            versions=versions,
            details=details,
        )
    verified, verdict = jpeg.huffman_check()
    if not verified:
        huff = Backend(
            "JPEG Huffman decoding",
            "libjpeg-turbo's own (fastload's decoder refused)",
            fast=False,
            details=[verdict],
            fix="use the binary wheel, or build against libjpeg-turbo 2.1.5 (the release "
            "csrc/image/huffman.c is verified against)",
        )
    elif not jpeg.fast_huffman():
        huff = Backend(
            "JPEG Huffman decoding",
            "libjpeg-turbo's own (switched off by FASTLOAD_JPEG_HUFFMAN=libjpeg or "
            "fastload.image.set_huffman_decoder('libjpeg'))",
            fast=False,
            details=[verdict],
            fix="unset FASTLOAD_JPEG_HUFFMAN",
        )
    else:
        huff = Backend(
            "JPEG Huffman decoding",
            "fastload's (csrc/image/huffman.c) for strict baseline decodes",
            details=[verdict],
        )
    return [decode, huff]


def _resize():
    resize = _optional("fastload.image._resize_cy")
    if resize is None:
        return Backend(
            "image resize",
            "not built",
            fast=False,
            fix="rebuild fastload with a C compiler (python setup.py build_ext --inplace)",
        )
    simd = resize.simd()
    return Backend(
        "image resize (csrc/image/resize.c)",
        f"C kernel, {simd} path",
        fast=simd != "portable",
        fix="" if simd != "portable" else "a CPU with AVX2 + FMA runs the vectorised path",
    )


def _nearest():
    nearest = _optional("fastload.volume._resample_cy")
    if nearest is None:
        return Backend(
            "volume nearest resample",
            "not built (volume resampling is unavailable)",
            fast=False,
            fix="rebuild fastload with a C compiler (python setup.py build_ext --inplace)",
        )
    path = nearest.path()
    return Backend(
        "volume nearest resample (csrc/volume/nearest.c)",
        f"C gather, {path} path",
        fast=path != "scalar",
        fix="" if path != "scalar" else "a CPU with SSSE3 (or AVX-512 VBMI) runs the SIMD path",
    )


def _trilinear():
    kernels = _optional("fastload.volume._resample_cy")
    if kernels is None:
        return Backend(
            "volume trilinear resample",
            "not built (volume resampling is unavailable)",
            fast=False,
            fix="rebuild fastload with a C compiler (python setup.py build_ext --inplace)",
        )
    path = kernels.trilinear_path()
    return Backend(
        "volume trilinear resample (csrc/volume/trilinear.c)",
        f"C kernel, {path} path",
        fast=True,  # the portable path is vectorised too (SSE2), ~10 % slower
    )


def _flac():
    import soundfile

    flac = _optional("fastload.audio._flac_cy")
    if flac is None:
        return Backend(
            "FLAC decode",
            "none: the C FLAC decoder was not built (FLAC files cannot be decoded)",
            fast=False,
            fix="rebuild fastload with a C compiler (python setup.py build_ext --inplace)",
        )
    path = flac.path()
    return Backend(
        "FLAC decode",
        f"fastload's C decoder (csrc/audio/flac.c, {path} path) for every FLAC stream "
        "(CRC- and MD5-checked); libsndfile for WAV/AIFF/OGG",
        fast=path != "portable",
        fix="" if path != "portable" else "an x86-64 CPU with AVX2 + BMI2 runs the faster path",
        versions={
            "libsndfile": soundfile.__libsndfile_version__,
            "soundfile": soundfile.__version__,
        },
    )


def _numba_cache():
    import numba

    configured = os.environ.get("NUMBA_CACHE_DIR") or numba.config.CACHE_DIR
    if configured:
        where, how = configured, "NUMBA_CACHE_DIR"
    else:
        where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "**", "__pycache__")
        how = "default: __pycache__ beside fastload's modules (a user cache dir if read-only)"
    probe = configured or os.path.dirname(os.path.abspath(__file__))
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    writable = bool(probe) and os.access(probe, os.W_OK)
    return Backend(
        "numba JIT cache",
        where,
        fast=writable,
        versions={"numba": numba.__version__},
        details=[how, "writable" if writable else "NOT writable: kernels recompile per process"],
        fix="" if writable else "set NUMBA_CACHE_DIR to a writable folder",
    )


def _seeding():
    rng = _optional("fastload._rng_cy")
    return Backend(
        "per-sample seeding",
        "Cython kernel" if rng is not None else "numba kernel (the Cython one was not built)",
        fast=rng is not None,
        fix="" if rng is not None else "rebuild fastload with a C compiler",
    )


def report():
    """Inspect this installation: a list of :class:`Backend`, one per kernel family.

    Examples
    --------
    >>> import fastload.backends
    >>> names = [b.name for b in fastload.backends.report()]
    >>> "JPEG decode" in names and "FLAC decode" in names
    True
    """
    return [*_jpeg(), _resize(), _nearest(), _trilinear(), _flac(), _numba_cache(), _seeding()]


def format_report(backends=None):
    """The report as text: one block per backend, slow ones marked and explained."""
    import fastload

    backends = report() if backends is None else backends
    lines = [
        f"fastload {fastload.__version__} at {os.path.dirname(os.path.abspath(fastload.__file__))}",
        f"Python {platform.python_version()} ({sys.executable}), {platform.platform()}",
        "",
    ]
    for b in backends:
        mark = "ok  " if b.fast else "SLOW"
        lines.append(f"[{mark}] {b.name}: {b.using}")
        for k, v in b.versions.items():
            lines.append(f"         {k} {v}")
        for d in b.details:
            lines.append(f"         {d}")
        if b.fix:
            lines.append(f"         to get the fast path: {b.fix}")
    slow = [b.name for b in backends if not b.fast]
    lines.append("")
    lines.append(f"slow paths in use: {', '.join(slow)}" if slow else "all fast paths in use")
    return "\n".join(lines)


def as_dicts(backends=None):
    """The report as JSON-ready dicts."""
    return [asdict(b) for b in (report() if backends is None else backends)]
