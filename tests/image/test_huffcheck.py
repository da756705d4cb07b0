"""The gate in front of fastload's Huffman decoder (csrc/image/huffcheck.c).

huffman.c patches libjpeg-turbo's private entropy-decoder struct, so it is installed only
when the libjpeg-turbo that runs is a release it was verified against and a load-time
self-test agrees with libjpeg's own decoder. The testing hooks FASTLOAD_TEST_LIBJPEG_VERSION
(pretend the running library is another release) and FASTLOAD_TEST_HUFFMAN_MISMATCH
(corrupt the self-test's result) are read once per process, so each case runs in a
subprocess.

Which decoder ran is observable: 32 one-bits early in the entropy-coded data (a code no
table defines) are refused by fastload's decoder and read as symbol 0 by libjpeg-turbo's
fast path, which then decodes the file
(tests/image/test_huffman.py::test_undefined_code_raises_where_libjpeg_decodes_garbage).
"""

import json
import os
import subprocess
import sys

import pytest

from fastload.image import codec

jpeg = codec._jpeg_cy
pytestmark = pytest.mark.skipif(jpeg is None, reason="built without libjpeg-turbo")

VERIFIED = ("2.1.5",)  # csrc/image/huffcheck.c VERIFIED

PROBE = r"""
import json, sys, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from fastload.image import codec, decode
from fastload.errors import DecodeError
from fastload.testing.data.imagenet import encode_jpeg, photo_like_image
data = encode_jpeg(photo_like_image(157, 203, np.random.default_rng(3)), 75)
sos = data.index(b"\xff\xda")
start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
bad = data[:start + 8] + b"\xff\x00" * 4 + data[start + 16:]  # an undefined code
try:
    decode(bad)
    bad_code = "decoded"
except DecodeError as exc:
    bad_code = "refused: " + str(exc)
print(json.dumps({
    "check": list(codec._jpeg_cy.huffman_check()),
    "versions": codec._jpeg_cy.libjpeg_versions(),
    "bad_code": bad_code,
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
}))
"""


def _probe(**env):
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_verified_release_installs_the_decoder():
    verified, verdict = jpeg.huffman_check()
    versions = jpeg.libjpeg_versions()
    # the project's builds link libjpeg-turbo 2.1.5 (Debian bookworm's), a verified release
    assert versions["running"] in VERIFIED, versions
    assert verified, verdict
    assert "self-test passed" in verdict
    out = _probe()
    assert out["check"][0] and out["bad_code"].startswith("refused"), out
    assert "bad Huffman code" in out["bad_code"], out
    assert out["warnings"] == [], out


def test_other_release_is_refused_and_libjpeg_decodes():
    out = _probe(FASTLOAD_TEST_LIBJPEG_VERSION="3.0.4")
    verified, verdict = out["check"]
    assert not verified
    assert "'3.0.4'" in verdict and "not verified" in verdict, verdict
    assert out["versions"]["running"] == "3.0.4"
    # libjpeg-turbo's own decoder ran: its fast path reads the undefined code as symbol 0
    assert out["bad_code"] == "decoded", out
    assert any(w.startswith("PerformanceWarning") and "3.0.4" in w for w in out["warnings"])


def test_self_test_mismatch_falls_back():
    out = _probe(FASTLOAD_TEST_HUFFMAN_MISMATCH="1")
    verified, verdict = out["check"]
    assert not verified and "self-test failed" in verdict, verdict
    assert out["bad_code"] == "decoded", out
    assert any("self-test failed" in w for w in out["warnings"]), out


def test_switched_off_by_user_is_not_a_warning():
    out = _probe(FASTLOAD_JPEG_HUFFMAN="libjpeg")
    assert out["check"][0]  # the gate passed; the user chose libjpeg's decoder
    assert out["bad_code"] == "decoded", out
    assert out["warnings"] == [], out


def test_static_link_has_no_system_libjpeg():
    """The default build links libjpeg-turbo statically: the extension needs no libjpeg
    shared library (setup.py, FASTLOAD_LIBJPEG=static)."""
    versions = jpeg.libjpeg_versions()
    if versions["link"] != "static":
        pytest.skip(f"built with FASTLOAD_LIBJPEG=shared ({versions['library']})")
    ldd = subprocess.run(["ldd", jpeg.__file__], capture_output=True, text=True)
    assert ldd.returncode == 0, ldd.stderr
    assert "libjpeg" not in ldd.stdout, ldd.stdout
