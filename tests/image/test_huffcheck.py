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


MAIN_C = r"""
#include <stdio.h>
#include "huffman.h"
int main(void)
{
    int ok = fl_huff_verified();
    printf("%d|%s|%s|%s\n", ok, fl_libjpeg_runtime_version(), fl_libjpeg_library(),
           fl_huff_verdict());
    return 0;
}
"""


def _compile(tmp_path, *extra):
    import shutil

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or not os.path.exists("/usr/include/jpeglib.h"):
        pytest.skip("needs a C compiler and libjpeg-turbo's headers (the wheel job has neither)")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    src = os.path.join(root, "csrc", "image")
    if not os.path.exists(os.path.join(src, "huffcheck.c")):
        pytest.skip("needs the source tree")
    (tmp_path / "main.c").write_text(MAIN_C)
    exe = tmp_path / "check"
    cmd = [
        cc,
        "-O1",
        "-std=c11",
        f"-I{src}",
        str(tmp_path / "main.c"),
        os.path.join(src, "huffcheck.c"),
        os.path.join(src, "huffman.c"),
        *extra,
        "-o",
        str(exe),
        "-ljpeg",
        "-ldl",
        "-lpthread",
    ]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # the ASan job's
    built = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stderr
    return exe


def _check(exe, **env):
    out = subprocess.run([str(exe)], capture_output=True, text=True, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    ok, version, library, verdict = out.stdout.strip().split("|", 3)
    return ok == "1", version, library, verdict


def test_shared_library_release_is_read_from_the_mapped_file(tmp_path):
    """FASTLOAD_LIBJPEG=shared: the load-time check reads the release from the libjpeg the
    dynamic loader mapped (its "libjpeg-turbo version X" string), not from the headers."""
    exe = _compile(tmp_path)
    ok, version, library, verdict = _check(exe)
    assert "libjpeg.so" in library, library
    assert version in VERIFIED and ok, verdict
    ok, version, _, verdict = _check(exe, FASTLOAD_TEST_LIBJPEG_VERSION="2.0.90")
    assert not ok and "'2.0.90'" in verdict, verdict


def test_archive_from_another_release_is_refused(tmp_path):
    """Linked statically from an archive whose release (read by setup.py) is not verified:
    refused at load time even though the headers are a verified release."""
    exe = _compile(tmp_path, '-DFL_LIBJPEG_LINKED_VERSION="3.1.0"')
    ok, version, library, verdict = _check(exe)
    assert (ok, version, library) == (False, "3.1.0", "linked statically"), verdict
    assert "not verified" in verdict
