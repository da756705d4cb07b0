"""Focused unit tests for bugs the fuzzers found (the raw inputs are replayed from
``tests/fuzz/regressions/`` by test_fuzz.py; limits-related ones live in
tests/limits/test_limits.py)."""

from pathlib import Path

import pytest

from fastload.errors import DecodeError

REGRESSIONS = Path(__file__).resolve().parent / "regressions"


def test_pillow_stub_format_with_empty_size_is_a_decode_error():
    """fuzz_image_decode (native coverage build): a BUFR stub that Pillow opens with size
    0x0 came back from read_header as a 0x0 image, and decode raised ValueError."""
    from fastload.image import decode, read_header

    data = (REGRESSIONS / "image_header" / "pillow-bufr-stub-0x0").read_bytes()
    with pytest.raises(DecodeError, match="empty 0x0"):
        read_header(data, name="x.bufr")
    with pytest.raises(DecodeError, match="x.bufr"):
        decode(data, name="x.bufr")


def _flac_regression_is_refused(name, message):
    """fastload refuses FLAC regression input ``name`` (CRCs recomputed as the harness
    does) with a DecodeError that says ``message``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzz_flac import fix_crcs

    from fastload.audio import decode

    blob = bytes(fix_crcs(bytearray((REGRESSIONS / "flac" / name).read_bytes())))
    for verify_md5 in (True, False):
        with pytest.raises(DecodeError, match=message):
            decode(blob, name="clip.flac", verify_md5=verify_md5)


def test_flac_rejects_samples_beyond_full_scale():
    """fuzz_flac: a one-frame FLAC with mutated residuals (CRCs recomputed) made the numba
    decoder return samples up to 32768x full scale, where libFLAC reports lost sync. Every
    decoded sample is now checked against the bit depth."""
    _flac_regression_is_refused(
        "residual-overflow-samples-32768x-full-scale",
        r"clip.flac: FLAC frame 0 at byte \d+: decoded sample value -?\d+ does not fit the "
        r"stream's 16-bit depth",
    )


def test_flac_requires_zero_alignment_bits():
    """fuzz_flac: a frame whose byte-alignment padding bits are not zero (CRCs valid)
    decoded while libFLAC reports lost sync. The padding is checked now."""
    _flac_regression_is_refused(
        "lenient-libflac-lost-sync-one-residual-byte", "expected zero padding bits"
    )


def test_metaimage_negative_ndims_is_a_decode_error_not_a_segfault(tmp_path):
    """fuzz_volume (path mode): ``NDims = -3`` in a .mha header made ITK's MetaImage reader
    (through SimpleITK) die with SIGSEGV. fastload now checks the text header first."""
    import subprocess
    import sys

    raw = (REGRESSIONS / "volume" / "mha-negative-ndims-itk-segfault").read_bytes()[1:]
    path = tmp_path / "bad.mha"
    path.write_bytes(raw)
    code = (  # in a subprocess: a regression would be a segfault, not a failure
        "import sys\nfrom fastload.errors import DecodeError\nfrom fastload.volume import read\n"
        "try:\n    read(sys.argv[1])\nexcept DecodeError as e:\n    print('DecodeError', e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "DecodeError" in proc.stdout and "NDims" in proc.stdout


def test_float_wav_mono_downmix_stays_finite():
    """fuzz_audio (10-minute campaign): a 3-channel IEEE-float WAV with huge finite samples
    gave inf after the float32 mono downmix (decode(mono=True)); it is averaged in float64
    now."""
    import numpy as np

    from fastload.audio import decode

    raw = (REGRESSIONS / "audio" / "float-wav-mono-downmix-overflows-to-inf").read_bytes()[1:]
    x, _ = decode(raw, mono=True, max_samples=1 << 21)
    assert x.dtype == np.float32 and np.isfinite(x).all()
