"""Safety limits hold before any large allocation: a few bytes that declare a huge image,
volume, audio clip or manifest raise a fastload error while memory stays small.

Python allocations are measured with tracemalloc; allocations in C (libjpeg, libsndfile,
zlib) with the process's peak RSS (``ru_maxrss``), which must not move by more than
``RSS_SLACK_MB``.
"""

import io
import json
import resource
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from fastload.errors import DecodeError, LimitError, ShardError

PEAK_LIMIT = 4 * 2**20  # bytes of Python allocations allowed while rejecting an input
RSS_SLACK_MB = 64


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _assert_rejected_small(fn, exc_type, match=None):
    """``fn()`` raises ``exc_type`` with tracemalloc peak < PEAK_LIMIT and no RSS jump."""
    rss0 = _maxrss_mb()
    tracemalloc.start()
    try:
        with pytest.raises(exc_type, match=match) as info:
            fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"peak Python allocation {peak} bytes before {exc_type.__name__}"
    assert _maxrss_mb() - rss0 < RSS_SLACK_MB
    return info.value


# --------------------------------------------------------------------------- images


def _jpeg(h=16, w=16, **kw):
    from fastload.testing.data.imagenet import encode_jpeg, photo_like_image

    return encode_jpeg(photo_like_image(h, w, np.random.default_rng(0)), **kw)


def _patch_sof(data, height, width):
    """Rewrite the frame size of a JPEG's SOF0/SOF2 segment."""
    b = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        k = b.find(marker)
        if k >= 0:
            struct.pack_into(">HH", b, k + 5, height, width)
            return bytes(b)
    raise AssertionError("no SOF marker")


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_pixel_limit_before_allocation(progressive):
    from fastload.image import decode, get_max_image_pixels, read_header

    bomb = _patch_sof(_jpeg(progressive=progressive), 65500, 65500)
    info = read_header(bomb)
    assert info.height * info.width > get_max_image_pixels()
    err = _assert_rejected_small(lambda: decode(bomb, name="bomb.jpg"), LimitError, "limit")
    assert "bomb.jpg" in str(err)
    # a per-call limit too, and through the C path's own check (min_size / roi)
    _assert_rejected_small(lambda: decode(_jpeg(64, 64), max_pixels=100), LimitError)
    _assert_rejected_small(lambda: decode(bomb, roi=(0, 0, 8, 8), min_size=(1, 1)), LimitError)


def test_jpeg_limit_in_the_pipelines():
    from fastload.pipelines import resnet50_eval, resnet50_train

    bomb = _patch_sof(_jpeg(), 60000, 60000)
    rng = np.random.default_rng(0)
    for t in (resnet50_train(), resnet50_eval(), resnet50_train(preset="reference")):
        _assert_rejected_small(lambda t=t: t({"image": bomb, "path": "x.jpg"}, rng), LimitError)


def test_png_and_pillow_formats_pixel_limit():
    from PIL import Image

    from fastload.image import decode

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    png = bytearray(buf.getvalue())
    struct.pack_into(">II", png, 16, 100_000, 100_000)  # IHDR width, height
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    _assert_rejected_small(lambda: decode(bytes(png)), LimitError)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    gif = bytearray(buf.getvalue())
    struct.pack_into("<HH", gif, 6, 65535, 65535)  # logical screen size
    _assert_rejected_small(lambda: decode(bytes(gif)), LimitError)


# --------------------------------------------------------------------------- volumes


def _nifti_header(shape_zyx, datatype=4, bitpix=16):
    h = bytearray(352)
    struct.pack_into("<i", h, 0, 348)
    dims = [3, shape_zyx[2], shape_zyx[1], shape_zyx[0], 1, 1, 1, 1]
    struct.pack_into("<8h", h, 40, *dims)
    struct.pack_into("<2h", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<3f", h, 108, 352.0, 1.0, 0.0)
    h[344:348] = b"n+1\x00"
    return bytes(h)


def test_volume_voxel_limit_before_allocation():
    from fastload.volume import read, read_header

    huge = _nifti_header((32767, 32767, 32767))
    _assert_rejected_small(lambda: read(huge), LimitError, "voxels")
    _assert_rejected_small(lambda: read_header(huge), LimitError)
    gz = zlib.compressobj(wbits=31)
    huge_gz = gz.compress(huge) + gz.flush()
    _assert_rejected_small(lambda: read(huge_gz), LimitError)
    _assert_rejected_small(lambda: read(_nifti_header((64, 64, 64)), max_voxels=1000), LimitError)


def test_volume_gzip_bomb_inflates_only_what_the_header_needs():
    from fastload.volume import read

    head = _nifti_header((4, 4, 4))
    gz = zlib.compressobj(9, wbits=31)
    payload = gz.compress(head + bytes(256 * 2**20)) + gz.flush()  # 256 MiB of zeros
    assert len(payload) < 2**20
    tracemalloc.start()
    try:
        vol = read(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert vol.array.shape == (4, 4, 4)
    assert peak < PEAK_LIMIT, peak


def test_volume_truncated_data_and_nonfinite_scaling():
    from fastload.volume import read

    with pytest.raises(DecodeError, match="truncated"):
        read(_nifti_header((50, 50, 50)) + bytes(100))
    # regression (fuzz_volume): a NaN intercept used to turn every voxel into NaN
    h = bytearray(_nifti_header((2, 2, 2)))
    struct.pack_into("<2f", h, 112, 1.0, float("nan"))
    with pytest.raises(DecodeError, match="scl_inter"):  # as nibabel: valid slope, bad inter
        read(bytes(h) + bytes(16))
    struct.pack_into("<2f", h, 112, 2.0, float("inf"))
    with pytest.raises(DecodeError, match="scl_inter"):
        read(bytes(h) + bytes(16))
    struct.pack_into("<2f", h, 112, float("nan"), 5.0)  # non-finite slope: no scaling
    assert read(bytes(h) + bytes(16)).array.dtype == np.int16


def test_volume_absurd_vox_offset():
    """Regression (found while fuzzing volume): a vox_offset of 1e30 in a .nii.gz made the
    inflate size overflow (OverflowError instead of DecodeError)."""
    from fastload.volume import read

    h = bytearray(_nifti_header((2, 2, 2)))
    struct.pack_into("<f", h, 108, 1e30)
    gz = zlib.compressobj(wbits=31)
    data = gz.compress(bytes(h) + bytes(16)) + gz.flush()
    with pytest.raises(DecodeError, match="vox_offset"):
        read(data)
    with pytest.raises(DecodeError):
        read(bytes(h) + bytes(16))


# --------------------------------------------------------------------------- audio


def _wav(n=1000, rate=16000, channels=1):
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros((n, channels), np.float32), rate, format="WAV", subtype="PCM_16")
    return bytearray(buf.getvalue())


def test_audio_length_limit_before_decoding():
    from fastload.audio import decode

    wav = _wav(4000)
    _assert_rejected_small(lambda: decode(bytes(wav), max_samples=1000, name="u1"), LimitError)
    # a WAV data chunk declaring ~2**31 samples in a few KiB: libsndfile clips it to the
    # file size, so it decodes what is there with no large allocation
    k = wav.find(b"data")
    struct.pack_into("<I", wav, k + 4, 0xFFFFFF00)
    tracemalloc.start()
    try:
        x, _ = decode(bytes(wav))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.shape == (4000,) and peak < PEAK_LIMIT
    # a FLAC STREAMINFO declaring ~2**36 samples: rejected from the header
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(4000, np.float32), 16000, format="FLAC")
    flac = bytearray(buf.getvalue())
    assert flac[:4] == b"fLaC"
    flac[21] |= 0x0F
    flac[22:26] = b"\xff\xff\xff\xff"
    err = _assert_rejected_small(lambda: decode(bytes(flac), name="u2"), LimitError)
    assert "u2" in str(err)


def test_flac_of_unknown_length_allocates_up_to_the_limit_only():
    """STREAMINFO total 0 (unknown): a few KiB of CONSTANT frames holding 20 M samples
    is refused once max_samples is reached, with allocations bounded by max_samples."""
    from fastload.audio import decode
    from fastload.testing.flac import encode_flac

    one = encode_flac(
        np.zeros(65535, np.int64), 16000, 16, total_samples=0, block_size=65535, subframe="constant"
    )
    head = 4 + 4 + 34
    blob = one + one[head:] * 300  # the same frame again and again (frame numbers unchecked)
    assert len(blob) < 8192
    decode(one)  # load the kernel first: its compile allocates too
    err = _assert_rejected_small(
        lambda: decode(blob, name="u3", max_samples=200_000), LimitError, "u3"
    )
    assert "more than 200000 samples" in str(err)


@pytest.mark.parametrize("rate", [1, 999, 2_000_000, 2_000_000_000])
def test_audio_sample_rate_limits(rate):
    """Regression (fuzz_rnnt): a 1 Hz WAV made rnnt_eval upsample 16000x (gigabytes); a
    2 GHz one built a 16 GB resampling filter bank. ``decode`` accepts every rate FLAC can
    state (1 Hz to 2**20 - 1 Hz); the rnnt pipelines refuse what they cannot resample."""
    from fastload.audio import decode
    from fastload.pipelines import rnnt_eval, rnnt_train

    wav = _wav(4000)
    struct.pack_into("<II", wav, 24, rate, (2 * rate) & 0xFFFFFFFF)
    if rate < (1 << 20):
        assert decode(bytes(wav))[1] == rate
    else:
        _assert_rejected_small(lambda: decode(bytes(wav)), DecodeError, "sample rate")
    for t in (rnnt_eval(), rnnt_train()):
        _assert_rejected_small(lambda t=t: t({"audio": bytes(wav)}, 0), DecodeError, "sample rate")


@pytest.mark.parametrize("rate", [0, -16000, 1, 10**9])
def test_rnnt_pcm_sample_rate_validated(rate):
    """Regression: an int16 PCM sample with sample_rate 0 raised ZeroDivisionError; 1e9
    would build a gigabyte filter bank."""
    from fastload.pipelines import rnnt_eval, rnnt_train

    for t in (rnnt_eval(), rnnt_train()):
        _assert_rejected_small(
            lambda t=t: t({"audio": np.ones(1600, np.int16), "sample_rate": rate}, 0),
            DecodeError,
            "sample rate",
        )


def test_rnnt_resampled_length_limit(monkeypatch):
    import fastload.pipelines.rnnt as rnnt

    monkeypatch.setattr(rnnt, "DEFAULT_MAX_SAMPLES", 10_000)
    wav = _wav(8000, rate=8000)  # 1 s at 8 kHz -> 16000 samples at 16 kHz
    with pytest.raises(LimitError, match="resampling"):
        rnnt.rnnt_eval()({"audio": bytes(wav)}, 0)


# --------------------------------------------------------------------------- manifests


def _dataset(tmp_path):
    from fastload.dataset import ShardWriter

    path = tmp_path / "ds"
    with ShardWriter(path, shard_size_bytes=10_000, fsync=False) as w:
        for i in range(10):
            w.write({"x": i, "b": bytes(i)})
    return path


def test_manifest_size_limit_before_reading(tmp_path):
    from fastload import open_dataset
    from fastload.dataset import manifest

    path = _dataset(tmp_path)
    with open(path / "manifest.json", "r+b") as f:  # sparse: no disk space used
        f.truncate(manifest.MAX_MANIFEST_BYTES + 1)
    _assert_rejected_small(lambda: open_dataset(path), ShardError, "more than")


def test_verify_reports_never_raises_on_hostile_manifests(tmp_path):
    """Regression (fuzz_dataset): verify() is documented never to raise for a damaged
    dataset, but a deeply nested manifest raised RecursionError."""
    from fastload.dataset import manifest
    from fastload.dataset.verify import verify

    path = _dataset(tmp_path)
    for raw in (b"[" * 100_000, b'{"num_rows": ' + b"9" * 5000 + b"}", b"\xff\xfe{"):
        (path / "manifest.json").write_bytes(raw)
        assert not verify(path).ok
    with open(path / "manifest.json", "r+b") as f:
        f.truncate(manifest.MAX_MANIFEST_BYTES + 1)
    report = _assert_rejected_small(lambda: _raise_if_ok(verify(path)), AssertionError)
    assert "larger than" in str(report)


def _raise_if_ok(report):
    assert report.ok, " ".join(report.problems)


def test_manifest_absurd_counts_and_nesting(tmp_path):
    from fastload import open_dataset

    path = _dataset(tmp_path)
    good = json.loads((path / "manifest.json").read_text())

    def write(m):
        (path / "manifest.json").write_text(json.dumps(m))

    m = json.loads(json.dumps(good))
    m["shards"][0]["num_rows"] = m["num_rows"] = 10**18
    m["shards"][0]["batch_rows"] = [10**18]
    write(m)
    _assert_rejected_small(lambda: open_dataset(path), ShardError, "cannot fit")
    (path / "manifest.json").write_text('{"num_rows": ' + "9" * 5000 + "}")
    _assert_rejected_small(lambda: open_dataset(path), ShardError, "not valid JSON")
    # regression (fuzz_dataset): deep nesting raised RecursionError, a dtype string SyntaxError
    (path / "manifest.json").write_text("[" * 100_000)
    _assert_rejected_small(lambda: open_dataset(path), ShardError, "not valid JSON")
    m = json.loads(json.dumps(good))
    for bad in ("(2,)i4", "[(", "i4,f8", "<V8", 5):
        m["columns"]["arr"] = {"kind": "array", "dtype": bad, "ndim": 1, "shape": None}
        write(m)
        _assert_rejected_small(lambda: open_dataset(path), ShardError, "dtype")
    write(good)
    assert len(open_dataset(path)) == 10
