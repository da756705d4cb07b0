"""Extension list only; metadata lives in pyproject.toml.

Each compiled kernel is one ``kernel(...)`` line below.

libjpeg-turbo is linked statically by default, so the JPEG extension carries its own codec
(no runtime dependency on a system libjpeg; ``ldd`` shows none) and the release that
csrc/image/huffman.c was verified against is the one that runs (huffcheck.c checks it
again at load time). Its symbols are kept local (``--exclude-libs``), so another libjpeg
in the process (Pillow's, opencv's) can never be called by mistake.

The static archive must be position-independent. Debian's libjpeg62-turbo-dev
``libjpeg.a`` (2.1.5) is, but for one reference: jerror.c's default message printer reads
``stderr`` with a PC-relative relocation (R_X86_64_PC32), which a shared object cannot
resolve against libc ("recompile with -fPIC"). setup.py therefore links a private copy,
build/libjpeg-static/libjpeg.a, in which ``objcopy --redefine-sym`` renames that reference
to ``fl_libjpeg_stderr``, a hidden pointer that huffcheck.c sets to ``stderr`` when the
module loads (fastload replaces that printer anyway). Any other non-PIC relocation still
fails the link; rebuild such a libjpeg-turbo with -DCMAKE_POSITION_INDEPENDENT_CODE=ON.

Environment switches:
  FASTLOAD_LIBJPEG=static       (default) link libjpeg-turbo's libjpeg.a, found next to
                                pkg-config's libdir or in the usual library folders
  FASTLOAD_LIBJPEG=shared       link the system's libjpeg.so instead
  FASTLOAD_LIBJPEG=none         build without libjpeg-turbo (Pillow fallback, much slower)
  FASTLOAD_LIBJPEG_STATIC=PATH  the libjpeg.a of another libjpeg-turbo build; its headers
  FASTLOAD_LIBJPEG_INCLUDE=DIR  (jpeglib.h, jconfig.h) in DIR (os.pathsep-separated list)
  FASTLOAD_REQUIRE_LIBJPEG=1    fail instead of building without libjpeg-turbo (wheel builds)
  FASTLOAD_SANITIZE=1           build with AddressSanitizer + UndefinedBehaviorSanitizer
  FASTLOAD_DEBUG=1              -O0 -g, Cython bounds checks on

Without libjpeg-turbo's headers the JPEG extension is skipped with a loud warning and the
package falls back to Pillow: ``import fastload.image`` warns again and ``fastload doctor``
says what to install.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

SANITIZE = os.environ.get("FASTLOAD_SANITIZE") == "1"
DEBUG = os.environ.get("FASTLOAD_DEBUG") == "1" or SANITIZE


def pkgconfig(*args):
    """Output of ``pkg-config ARGS`` split into words, or None when it fails."""
    try:
        return shlex.split(subprocess.check_output(["pkg-config", *args], text=True))
    except (OSError, subprocess.CalledProcessError):
        return None


def warn_loudly(*lines):
    bar = "!" * 78
    print("\n".join([bar, *(f"!! fastload: {line}" for line in lines), bar]), file=sys.stderr)


def multiarch():
    try:
        return subprocess.check_output(["gcc", "-print-multiarch"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def turbo_version(include_dirs):
    """LIBJPEG_TURBO_VERSION from jconfig.h in these folders (or the usual ones): the
    version string, "" for a libjpeg that is not libjpeg-turbo, None without headers."""
    arch = multiarch()
    dirs = [*include_dirs, "/usr/local/include", "/usr/include"]
    dirs += [os.path.join(d, arch) for d in dirs if arch]
    if not any(os.path.exists(os.path.join(d, "jpeglib.h")) for d in dirs):
        return None
    for d in dirs:
        path = os.path.join(d, "jconfig.h")
        if os.path.exists(path):
            with open(path) as f:
                m = re.search(r"#define\s+LIBJPEG_TURBO_VERSION\s+(\S+)", f.read())
            return m.group(1) if m else ""
    return None


def find_static(cflags):
    """libjpeg.a of libjpeg-turbo: FASTLOAD_LIBJPEG_STATIC, else pkg-config's libdir, else
    the usual library folders."""
    given = os.environ.get("FASTLOAD_LIBJPEG_STATIC")
    if given:
        if not os.path.isfile(given):
            sys.exit(f"fastload: FASTLOAD_LIBJPEG_STATIC={given} is not a file")
        return given
    libdir = pkgconfig("--variable=libdir", "libjpeg") or []
    arch = multiarch()
    for d in [*libdir, f"/usr/lib/{arch}", "/usr/local/lib", "/usr/lib", "/usr/lib64"]:
        path = os.path.join(d, "libjpeg.a")
        if os.path.isfile(path):
            return path
    return None


def archive_version(archive):
    """The libjpeg-turbo release an archive was built from ("" when it does not say)."""
    with open(archive, "rb") as f:
        m = re.search(rb"libjpeg-turbo version (\d+(?:\.\d+)*)", f.read())
    return m.group(1).decode() if m else ""


def localize_stderr(archive):
    """A copy of ``archive`` whose references to libc's ``stderr`` go to the extension's
    hidden ``fl_libjpeg_stderr`` (see the module docstring); the archive itself when
    objcopy is missing."""
    out_dir = os.path.join("build", "libjpeg-static")
    out = os.path.join(out_dir, "libjpeg.a")
    os.makedirs(out_dir, exist_ok=True)
    try:
        subprocess.check_call(
            ["objcopy", "--redefine-sym", "stderr=fl_libjpeg_stderr", archive, out]
        )
    except (OSError, subprocess.CalledProcessError):
        return archive
    return out


# libjpeg-turbo releases csrc/image/huffcheck.c lists as verified (kept in step with it)
VERIFIED_TURBO = ("2.1.5",)


def find_libjpeg():
    """(cflags, ldflags, extra_objects, macros) for libjpeg-turbo, or None to build without."""
    mode = os.environ.get("FASTLOAD_LIBJPEG", "static")
    if mode not in ("static", "shared", "none"):
        sys.exit(f"fastload: FASTLOAD_LIBJPEG must be static, shared or none, not {mode!r}")
    if mode == "none":
        return None
    include = [d for d in os.environ.get("FASTLOAD_LIBJPEG_INCLUDE", "").split(os.pathsep) if d]
    cflags = [f"-I{d}" for d in include] or pkgconfig("--cflags", "libjpeg") or []
    version = turbo_version([f[2:] for f in cflags if f.startswith("-I")])
    if not version:
        return None
    if version not in VERIFIED_TURBO:
        warn_loudly(
            f"libjpeg-turbo {version} is not a release csrc/image/huffman.c was verified",
            f"against ({', '.join(VERIFIED_TURBO)}): its Huffman decoder is compiled out and",
            "libjpeg-turbo's own is used (correct, about 15 % slower on ResNet-50 decode).",
        )
    if mode == "static":
        archive = find_static(cflags)
        if archive is not None:
            linked = archive_version(archive)
            if linked != version:
                warn_loudly(
                    f"{archive} is libjpeg-turbo {linked or '(unknown release)'} but the",
                    f"headers are {version}: fastload's Huffman decoder will refuse to run.",
                )
            archive = localize_stderr(archive)
            # keep libjpeg's symbols local to the extension
            flags = [f"-Wl,--exclude-libs,{os.path.basename(archive)}"]
            macros = [("FL_LIBJPEG_LINK", '"static"'), ("FL_LIBJPEG_LINKED_VERSION", f'"{linked}"')]
            return cflags, flags, [archive], macros
        warn_loudly(
            f"no static libjpeg.a found next to libjpeg-turbo {version}'s headers: linking",
            "the shared libjpeg, so the extension depends on the system's at run time.",
            "Set FASTLOAD_LIBJPEG_STATIC=/path/to/libjpeg.a (libjpeg-turbo, built -fPIC).",
        )
    libs = pkgconfig("--libs", "libjpeg") or ["-ljpeg"]
    return cflags, [*libs, "-ldl"], [], [("FL_LIBJPEG_LINK", '"shared"')]


JPEG = find_libjpeg()
if JPEG is None:
    message = [
        "building WITHOUT libjpeg-turbo: JPEG decoding falls back to Pillow, several",
        "times slower (`fastload doctor` shows the backends in use).",
        "Install libjpeg-turbo's headers and static library (Debian/Ubuntu:",
        "apt-get install libjpeg62-turbo-dev; Fedora: libjpeg-turbo-devel",
        "libjpeg-turbo-static) and rebuild, or install fastload's binary wheel.",
    ]
    if os.environ.get("FASTLOAD_REQUIRE_LIBJPEG") == "1":
        sys.exit("fastload: FASTLOAD_REQUIRE_LIBJPEG=1 but " + " ".join(message))
    warn_loudly(*message)
LIBS = {"jpeg": JPEG}


# compiled into every extension that calls C kernels: the per-thread error message
# (csrc/include/fastload/status.h)
COMMON = ["csrc/common/error.c"]


def kernel(name, sources, needs=()):
    """One Cython extension plus its C sources (and COMMON when it has any); None if a
    required library is missing. Declarations come from fastload/includes/*.pxd."""
    cflags, ldflags = ["-O3", "-std=c11"], []
    if DEBUG:
        cflags = ["-O0", "-g", "-std=c11"]
    if SANITIZE:
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        cflags += san
        ldflags += san
    objects, macros = [], [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    for lib in needs:
        if LIBS.get(lib) is None:
            print(f"fastload: {lib} not found, skipping {name} (Pillow fallback is used)")
            return None
        lib_cflags, lib_ldflags, lib_objects, lib_macros = LIBS[lib]
        cflags += lib_cflags
        ldflags += lib_ldflags
        objects += lib_objects
        macros += lib_macros
    if any(src.endswith(".c") for src in sources):
        sources = [*sources, *COMMON]
    return Extension(
        name,
        sources,
        # rebuild when a header next to a C source or a public header changes
        depends=sorted(
            {h for src in sources for h in glob.glob(os.path.join(os.path.dirname(src), "*.h"))}
            | set(glob.glob("csrc/include/fastload/*.h"))
        ),
        # "fastload/image.h" (public headers), "image/huffman.h" (a kernel's own header)
        include_dirs=["csrc/include", "csrc", numpy.get_include()],
        define_macros=macros,
        extra_compile_args=cflags,
        extra_link_args=ldflags,
        extra_objects=objects,
    )


EXTENSIONS = [
    kernel("fastload._rng_cy", ["fastload/_rng_cy.pyx"]),
    kernel("fastload.image._resize_cy", ["fastload/image/_resize_cy.pyx", "csrc/image/resize.c"]),
    kernel(
        "fastload.image._jpeg_cy",
        [
            "fastload/image/_jpeg_cy.pyx",
            "csrc/image/jpeg.c",
            "csrc/image/huffman.c",
            "csrc/image/huffcheck.c",
            "csrc/image/resize.c",
        ],
        needs=["jpeg"],
    ),
    kernel("fastload.audio._flac_cy", ["fastload/audio/_flac_cy.pyx", "csrc/audio/flac.c"]),
    kernel(
        "fastload.volume._resample_cy",
        ["fastload/volume/_resample_cy.pyx", "csrc/volume/nearest.c", "csrc/volume/trilinear.c"],
    ),
]

setup(
    ext_modules=cythonize(
        [e for e in EXTENSIONS if e is not None],
        compiler_directives={"language_level": 3, "boundscheck": DEBUG, "wraparound": False},
    )
)
