"""Extension list only; metadata lives in pyproject.toml.

Each compiled kernel is one ``kernel(...)`` line below. libjpeg-turbo is found with
pkg-config; when its headers are missing, extensions that need it are skipped and the
package falls back to Pillow (``fastload.image.backend()`` says which is in use).

Environment switches:
  FASTLOAD_SANITIZE=1   build with AddressSanitizer + UndefinedBehaviorSanitizer
  FASTLOAD_DEBUG=1      -O0 -g, Cython bounds checks on
"""

import glob
import os
import shlex
import subprocess

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

SANITIZE = os.environ.get("FASTLOAD_SANITIZE") == "1"
DEBUG = os.environ.get("FASTLOAD_DEBUG") == "1" or SANITIZE


def pkgconfig(name):
    """Return (cflags, libs) for a pkg-config package, or None when it is absent."""
    try:
        cflags = subprocess.check_output(["pkg-config", "--cflags", name], text=True)
        libs = subprocess.check_output(["pkg-config", "--libs", name], text=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(cflags), shlex.split(libs)


def find_libjpeg():
    found = pkgconfig("libjpeg")
    if found is None and os.path.exists("/usr/include/jpeglib.h"):
        found = ([], ["-ljpeg"])
    return found


LIBS = {"jpeg": find_libjpeg()}


def kernel(name, sources, needs=()):
    """One Cython extension plus its C sources; None if a required library is missing."""
    cflags, ldflags = ["-O3", "-std=c11"], []
    if DEBUG:
        cflags = ["-O0", "-g", "-std=c11"]
    if SANITIZE:
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        cflags += san
        ldflags += san
    for lib in needs:
        if LIBS.get(lib) is None:
            print(f"fastload: {lib} not found, skipping {name} (Pillow fallback is used)")
            return None
        cflags += LIBS[lib][0]
        ldflags += LIBS[lib][1]
    return Extension(
        name,
        sources,
        # rebuild when a header next to a C source changes
        depends=sorted(
            {h for src in sources for h in glob.glob(os.path.join(os.path.dirname(src), "*.h"))}
        ),
        include_dirs=["csrc/include", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
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
            "csrc/image/resize.c",
        ],
        needs=["jpeg"],
    ),
    kernel(
        "fastload.volume._nearest_cy",
        ["fastload/volume/_nearest_cy.pyx", "csrc/volume/nearest.c"],
    ),
]

setup(
    ext_modules=cythonize(
        [e for e in EXTENSIONS if e is not None],
        compiler_directives={"language_level": 3, "boundscheck": DEBUG, "wraparound": False},
    )
)
