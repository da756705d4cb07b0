"""``fastload doctor`` / fastload.backends, and the loud warnings of a build without
libjpeg-turbo (at build time from setup.py, at import of fastload.image)."""

import json
import os
import subprocess
import sys

import pytest

from fastload import backends
from fastload.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = (
    "JPEG decode",
    "JPEG Huffman decoding",
    "image resize",
    "volume nearest resample",
    "volume trilinear resample",
    "FLAC decode",
    "numba JIT cache",
    "per-sample seeding",
)


def _run(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result


def test_report_names_every_backend():
    found = backends.report()
    for name in NAMES:
        assert any(b.name.startswith(name) for b in found), name
    by = {b.name.split(" (")[0]: b for b in found}
    assert by["FLAC decode"].versions["libsndfile"]
    assert by["numba JIT cache"].using  # a location
    for b in found:
        assert b.fast or b.fix, b  # every slow path says how to get the fast one


def test_doctor_prints_backends_versions_and_simd(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out, name
    assert "libjpeg-turbo" in out and "numba" in out and "libsndfile" in out
    from fastload.image import _resize_cy
    from fastload.volume import _resample_cy

    assert f"{_resize_cy.simd()} path" in out
    assert f"{_resample_cy.path()} path" in out
    assert f"{_resample_cy.trilinear_path()} path" in out


def test_doctor_json_and_strict(capsys):
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["name"].split(" (")[0] for d in data} >= set(NAMES)
    strict = main(["doctor", "--strict"])
    capsys.readouterr()
    assert strict == (0 if all(b.fast for b in backends.report()) else 1)


def test_refused_huffman_shows_in_doctor():
    result = subprocess.run(
        [sys.executable, "-m", "fastload", "doctor", "--strict"],
        env={**os.environ, "FASTLOAD_TEST_LIBJPEG_VERSION": "3.0.4"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[SLOW] JPEG Huffman decoding" in result.stdout
    assert "'3.0.4'" in result.stdout and "to get the fast path" in result.stdout


# A build without libjpeg-turbo: the extension module is absent. Simulated by blocking its
# import (a real FASTLOAD_LIBJPEG=none build is what setup.py's test below starts).
NO_JPEG = "import sys; sys.modules['fastload.image._jpeg_cy'] = None\n"


def test_import_without_libjpeg_warns_loudly():
    result = _run(NO_JPEG + "import fastload.image", PYTHONWARNINGS="error")
    assert result.returncode != 0
    assert "PerformanceWarning" in result.stderr and "fastload doctor" in result.stderr
    ok = _run(
        NO_JPEG
        + "import warnings\n"
        + "with warnings.catch_warnings(record=True) as w:\n"
        + "    warnings.simplefilter('always')\n"
        + "    import numpy as np, fastload.image as im\n"
        + "assert len([x for x in w if 'libjpeg-turbo' in str(x.message)]) == 1, w\n"
        + "assert im.backend() == 'pillow'\n"
        + "from fastload.testing.data.imagenet import encode_jpeg, photo_like_image\n"
        + "img = im.decode(encode_jpeg(photo_like_image(16, 24, np.random.default_rng(0)), 90))\n"
        + "assert img.shape == (16, 24, 3)\n"
    )
    assert ok.returncode == 0, ok.stderr


def test_doctor_without_libjpeg_says_what_to_install():
    result = _run(
        NO_JPEG + "from fastload.cli import main; raise SystemExit(main(['doctor', '--strict']))"
    )
    assert result.returncode == 1, result.stderr
    assert "[SLOW] JPEG decode: Pillow" in result.stdout
    assert "libjpeg62-turbo-dev" in result.stdout


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, "setup.py")), reason="needs the source tree"
)
def test_build_without_libjpeg_warns_and_can_be_refused():
    """setup.py's libjpeg detection: FASTLOAD_LIBJPEG=none warns loudly;
    FASTLOAD_REQUIRE_LIBJPEG=1 (wheel builds) turns that into a failure. ``--name`` runs the
    detection without compiling anything."""
    env = {**os.environ, "FASTLOAD_LIBJPEG": "none"}
    warn = subprocess.run(
        [sys.executable, "setup.py", "--name"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert warn.returncode == 0, warn.stderr
    assert "building WITHOUT libjpeg-turbo" in warn.stderr
    refuse = subprocess.run(
        [sys.executable, "setup.py", "--name"],
        cwd=ROOT,
        env={**env, "FASTLOAD_REQUIRE_LIBJPEG": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refuse.returncode != 0
    assert "FASTLOAD_REQUIRE_LIBJPEG=1" in refuse.stderr
