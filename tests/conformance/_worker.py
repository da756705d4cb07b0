"""Conformance worker: reads one corpus file per request and compares fastload with the
file's reference reader. Runs as a subprocess of ``harness.py`` (never imported by pytest).

Protocol: one JSON object per line on stdin (``{"path", "rel", "kind"}``), one JSON object
per line on the protocol pipe (the original stdout; ``sys.stdout`` is pointed at stderr so
a library that prints cannot corrupt it). The first line out is ``{"ready": true}`` after
the imports, the warm-up (numba JIT) and ``RLIMIT_AS``.

Outcomes (see tests/README.md):
identical, close (detail ``max=.. mean=..``), refused (detail: the FastloadError class),
decoded-unverified (fastload decodes, the reference refuses), and the failures
exception (a non-FastloadError leaves fastload), memory (MemoryError), history (the
output after other decodes on the same thread differs from a fresh thread's), mismatch
(output differs beyond "close", or decoded where the reference says it is not a 3-D
scalar volume), bad-message (a FastloadError whose message does not name the file or
shows a Python object repr), crop-dependent (JPEG: a region or DCT-scaled decode succeeds
where the full decode fails, or the other way round). crash / timeout are decided by the
parent.
"""

import hashlib
import io
import json
import os
import re
import resource
import subprocess
import sys
import threading

import numpy as np

# --- protocol channel: keep the real stdout for us, send library prints to stderr
_PROTO = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

import soundfile  # noqa: E402
from PIL import Image  # noqa: E402

import fastload.audio  # noqa: E402
import fastload.image  # noqa: E402
import fastload.volume  # noqa: E402
from fastload.errors import FastloadError  # noqa: E402

#: 8-bit images: a mean absolute difference above this is a mismatch, not "close".
IMAGE_CLOSE_MEAN = 2.0
#: volumes: relative difference allowed for "close" (float32 vs float64 scaling).
VOLUME_CLOSE_REL = 1e-6


def _exc_text(exc):
    return f"{type(exc).__name__}: {exc}"


def _run(fn):
    """('ok', value) | ('fl', FastloadError) | ('exc', other exception)."""
    try:
        return ("ok", fn())
    except FastloadError as exc:
        return ("fl", exc)
    except BaseException as exc:  # noqa: BLE001 - every other exception is a finding
        return ("exc", exc)


def _on_fresh_thread(fn):
    box = []
    t = threading.Thread(target=lambda: box.append(_run(fn)))
    t.start()
    t.join()
    return box[0]


def _same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "ok":
        return _equal_values(a[1], b[1])
    return type(a[1]) is type(b[1]) and _no_addr(a[1]) == _no_addr(b[1])


def _no_addr(exc):
    """An exception's message without memory addresses (they differ between any two
    objects and say nothing about the decode)."""
    return re.sub(r"0x[0-9a-fA-F]+", "0x?", str(exc))


def _equal_values(x, y):
    if isinstance(x, tuple):
        return isinstance(y, tuple) and len(x) == len(y) and all(map(_equal_values, x, y))
    if isinstance(x, np.ndarray):
        return (
            isinstance(y, np.ndarray)
            and x.shape == y.shape
            and x.dtype == y.dtype
            and np.array_equal(x, y, equal_nan=True)
        )
    if hasattr(x, "array"):  # Volume
        return (
            _equal_values(x.array, y.array)
            and x.spacing == y.spacing
            and x.origin == y.origin
            and np.array_equal(x.direction, y.direction)
        )
    return x == y


# --------------------------------------------------------------------------- primers
def _jpeg(arr, **kw):
    b = io.BytesIO()
    Image.fromarray(arr).save(b, "JPEG", **kw)
    return b.getvalue()


def _make_primers():
    """Other files decoded on the worker's main thread just before each corpus file, with
    settings (tables, subsampling, progressive, region, DCT scale) unlike most files."""
    rng = np.random.default_rng(13)
    rgb = rng.integers(0, 256, (61, 75, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (37, 29), dtype=np.uint8)
    images = [
        (
            _jpeg(rgb, quality=95, subsampling=0, optimize=True),
            dict(roi=(3, 5, 40, 50), min_size=(5, 6)),
        ),
        (_jpeg(gray, quality=12, progressive=True), {}),
        (_jpeg(rgb, quality=60, subsampling=2, restart_marker_blocks=2), dict(min_size=(8, 9))),
    ]
    audio = []
    for ch, sub, n in ((2, "PCM_16", 3000), (1, "PCM_24", 777)):
        b = io.BytesIO()
        x = rng.uniform(-0.5, 0.5, (n, ch)).astype(np.float32)
        soundfile.write(b, x, 22050, format="FLAC", subtype=sub)
        audio.append(b.getvalue())
    return images, audio


_IMAGE_PRIMERS, _AUDIO_PRIMERS = _make_primers()


def _primers(kind):
    """Callables decoding one other file each (with settings unlike most files): the file
    under test is decoded again after each of them, on the same thread."""
    if kind == "image":
        # strict and non-strict decodes keep different per-thread state
        return [
            (lambda d=data, k=kw, s=strict: fastload.image.decode(d, strict=s, **k))
            for strict in (True, False)
            for data, kw in _IMAGE_PRIMERS
        ]
    if kind == "audio":
        return [(lambda d=data: fastload.audio.decode(d, name="primer")) for data in _AUDIO_PRIMERS]
    return [lambda: None]


# --------------------------------------------------------------------------- references
def _ref_image(path, truncated=False):
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _flac_streaminfo(data):
    """(sample_rate, channels, bits, total, md5) from the STREAMINFO block (wherever it is
    among the metadata blocks), or None."""
    if len(data) < 42 or data[:4] != b"fLaC":
        return None
    pos = 4
    while pos + 4 <= len(data):
        head, length = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        if head & 0x7F == 0 and length >= 34 and pos + 38 <= len(data):
            break
        if head & 0x80:
            return None
        pos += 4 + length
    else:
        return None
    si = data[pos + 4 : pos + 38]
    v = int.from_bytes(si[10:18], "big")
    return (v >> 44, ((v >> 41) & 7) + 1, ((v >> 36) & 31) + 1, v & ((1 << 36) - 1), si[18:34])


def _flac_first_frame(data):
    """(0, channels, bits, 0, no MD5) from the first frame header of a stream without
    metadata (it starts at a frame sync code), or None."""
    if len(data) < 4 or data[0] != 0xFF or data[1] not in (0xF8, 0xF9):
        return None
    code, bits_code = data[3] >> 4, (data[3] >> 1) & 7
    bits = (0, 8, 12, 0, 16, 20, 24, 32)[bits_code]
    if code > 10 or not bits:
        return None
    return (0, code + 1 if code < 8 else 2, bits, 0, bytes(16))


def _have_flac():
    return subprocess.run(["which", "flac"], capture_output=True).returncode == 0


_FLAC = _have_flac()


def _ref_flac(path, data):
    """Integer samples (frames, channels) and bits from libFLAC (``flac -d``), or the
    stream's MD5 when the ``flac`` tool is missing (returned as ("md5", digest, bits))."""
    si = _flac_streaminfo(data) or _flac_first_frame(data)
    if not _FLAC or (si is not None and si[2] not in (8, 16, 24, 32)):
        # flac -d writes raw samples of 8, 16, 24 or 32 bits only: the MD5 is the reference
        if si is None or si[4] == bytes(16):
            raise RuntimeError(
                "no reference: flac tool missing (or a bit depth it cannot "
                "write raw) and no STREAMINFO MD5"
            )
        return ("md5", si[4], si[2], si[1])
    if si is None:
        raise RuntimeError("flac -d: no STREAMINFO to learn the raw sample format from")
    p = subprocess.run(
        ["flac", "-d", "-c", "-s", "--force-raw-format", "--endian=little", "--sign=signed", path],
        capture_output=True,
        timeout=120,
    )
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError("flac -d: " + (err[-1] if err else f"exit {p.returncode}"))
    bits, ch = si[2], si[1]
    width = (bits + 7) // 8
    raw = np.frombuffer(p.stdout, np.uint8)
    if len(raw) % (width * ch):
        raise RuntimeError("flac -d: raw output is not whole frames")
    raw = raw.reshape(-1, width)
    val = np.zeros(len(raw), np.int64)
    for i in range(width):
        val |= raw[:, i].astype(np.int64) << (8 * i)
    sign = np.int64(1) << (8 * width - 1)
    val = (val ^ sign) - sign
    return ("pcm", val.reshape(-1, ch), bits, ch)


def _ref_volume(path):
    import nibabel as nib

    img = nib.load(path)
    shape = img.shape
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    dt = img.get_data_dtype()
    if len(shape) != 3 or dt.fields is not None or dt.kind == "c":
        raise _NotScalar(f"nibabel reads a {len(img.shape)}-D {dt} image {img.shape}")
    arr = np.asanyarray(img.dataobj).reshape(shape)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return arr, zooms, _nifti_affine(img.header)


def _nifti_affine(h):
    """The NIfTI standard's voxel-to-RAS affine (qform first, then sform, else method 1)
    from nibabel's header accessors, or None for non-NIfTI headers."""
    if "qform_code" not in h:
        return None
    if int(h["qform_code"]) > 0:
        return h.get_qform()
    if int(h["sform_code"]) > 0:
        return h.get_sform()
    return np.diag([*(float(z) for z in h.get_zooms()[:3]), 1.0])


class _NotScalar(Exception):
    pass


# --------------------------------------------------------------------------- comparisons
def _cmp_image(out, ref):
    if out.shape != ref.shape:
        return "mismatch", f"shape {out.shape} vs reference {ref.shape}"
    if np.array_equal(out, ref):
        return "identical", ""
    d = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    mx, mean = int(d.max()), float(d.mean())
    kind = "close" if mean <= IMAGE_CLOSE_MEAN else "mismatch"
    return kind, f"max={mx} mean={mean:.4g}"


def _cmp_flac(out, ref):
    """fastload's float32 samples against libFLAC's integers ``v`` converted by the rule
    fastload documents, float32(v) * 2 ** -(bits - 1): exact for 4 to 24 bits, and for 25
    to 32 bits the same float32 rounding (decode's default MD5 check covers the integers).
    """
    what, val, bits, ch = ref
    samples, _rate = out
    samples = np.asarray(samples).reshape(len(samples), -1)
    x = samples.astype(np.float64) * float(2 ** (bits - 1))
    if what == "md5":
        width = (bits + 7) // 8
        ints = np.rint(x).astype("<i8").view(np.uint8).reshape(-1, 8)[:, :width]
        ok = hashlib.md5(ints.tobytes()).digest() == val
        return ("identical", "") if ok else ("mismatch", "differs from the STREAMINFO MD5")
    if x.shape != val.shape:
        return "mismatch", f"shape {x.shape} vs flac -d {val.shape}"
    want = val.astype(np.float32) * np.float32(2.0 ** -(bits - 1))
    if np.array_equal(samples, want):
        return "identical", ""
    d = np.abs(x - val)
    return "mismatch", f"max={d.max():g} LSB, {int((d > 0).sum())} samples differ"


def _cmp_sf(out, ref):
    samples, _rate = out
    samples = np.asarray(samples)
    if samples.shape != ref.shape:
        return "mismatch", f"shape {samples.shape} vs soundfile {ref.shape}"
    if np.array_equal(samples, ref):
        return "identical", ""
    d = np.abs(samples.astype(np.float64) - ref)
    return "close", f"max={d.max():.4g} mean={d.mean():.4g}"


def _cmp_volume(vol, ref):
    arr, zooms, affine = ref
    a = vol.array
    if a.shape != arr.shape:
        return "mismatch", f"shape {a.shape} vs nibabel {arr.shape}"
    if not np.allclose(vol.spacing, zooms, rtol=1e-6, atol=0):
        return "mismatch", f"spacing {vol.spacing} vs nibabel {zooms}"
    if affine is not None:  # geometry: the same affine, in LPS (tolerance: float32 fields)
        lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3]
        scale = max(1.0, float(np.abs(lps).max()))
        if not (
            np.allclose(vol.direction * vol.spacing, lps[:, :3], atol=1e-5 * scale)
            and np.allclose(vol.origin, lps[:, 3], atol=1e-5 * scale)
        ):
            return "mismatch", "geometry differs from nibabel's qform/sform affine"
    if a.dtype.kind == "f" and arr.dtype.kind == "f" and a.dtype.itemsize < arr.dtype.itemsize:
        # scaled voxels: fastload documents float32 output, so nibabel's float64 values
        # are compared rounded to float32
        arr = arr.astype(a.dtype)
    x, y = a.astype(np.float64), np.asarray(arr, np.float64)
    if np.array_equal(x, y, equal_nan=True) and vol.spacing == zooms:
        return "identical", ""
    d = np.abs(x - y)
    rel = float(np.nanmax(d / np.maximum(np.abs(y), 1e-30))) if d.size else 0.0
    kind = "close" if rel <= VOLUME_CLOSE_REL else "mismatch"
    return kind, f"max={np.nanmax(d):.4g} rel={rel:.3g}"


# --------------------------------------------------------------------------- one file
def _message_problem(msg, rel):
    if re.search(r" object at 0x[0-9a-fA-F]+", msg):
        return "the message shows a Python object repr"
    if rel not in msg and os.path.basename(rel) not in msg:
        return "the message does not name the file"
    return None


def _selftest(rel):
    """FASTLOAD_CONFORMANCE_SELFTEST=1 (the harness's own tests): files named crash-*,
    hang-* and hog-* misbehave on purpose so the isolation can be tested (stateful-*:
    see ``check``)."""
    base = os.path.basename(rel)
    if base.startswith("crash-"):
        os.kill(os.getpid(), 11)
    if base.startswith("hang-"):
        threading.Event().wait()
    if base.startswith("hog-"):
        return bytearray(64 << 30)
    return None


def _stateful(call):
    """A decoder whose output depends on what this thread decoded before (self-test)."""
    local = threading.local()

    def wrapped():
        out = call().copy()
        local.n = getattr(local, "n", 0) + 1
        out.reshape(-1)[0] ^= 1 if local.n > 1 else 0
        return out

    return wrapped


def check(path, rel, kind):
    if os.environ.get("FASTLOAD_CONFORMANCE_SELFTEST"):
        _selftest(rel)
    with open(path, "rb") as f:
        data = f.read()
    if kind == "image":

        def call():
            return fastload.image.decode(data, strict=False, name=rel)

        reference, compare = (lambda: _ref_image(path)), _cmp_image
    elif kind == "audio":

        def call():
            return fastload.audio.decode(data, name=rel)

        if data[:4] == b"fLaC" or _flac_first_frame(data) is not None:
            reference, compare = (lambda: _ref_flac(path, data)), _cmp_flac
        else:

            def reference():
                return soundfile.read(path, dtype="float32", always_2d=False)[0]

            compare = _cmp_sf
    else:

        def call():
            return fastload.volume.read(path, layout="nifti")

        reference, compare = (lambda: _ref_volume(path)), _cmp_volume

    if os.environ.get("FASTLOAD_CONFORMANCE_SELFTEST") and os.path.basename(rel).startswith(
        "stateful-"
    ):
        call = _stateful(call)
    fresh = _on_fresh_thread(call)
    for n, prime in enumerate(_primers(kind)):
        prime()
        again = _run(call)
        if not _same(fresh, again):
            return {
                "outcome": "history",
                "detail": "",
                "message": f"fresh thread: {_describe(fresh)}; after primer {n}: "
                f"{_describe(again)}",
            }
    if kind == "image" and data[:3] == b"\xff\xd8\xff" and fresh[0] != "exc":
        problem = _region_problem(data, rel)
        if problem:
            return problem
    status, value = fresh
    if status == "exc":
        kind_ = "memory" if isinstance(value, MemoryError) else "exception"
        return {"outcome": kind_, "detail": type(value).__name__, "message": str(value)}
    ref = _run(reference)
    if status == "fl":
        msg = str(value)
        problem = _message_problem(msg, rel)
        if problem:
            return {
                "outcome": "bad-message",
                "detail": type(value).__name__,
                "message": f"{problem}: {msg}",
            }
        note = "" if ref[0] != "ok" else " [the reference decodes it]"
        return {"outcome": "refused", "detail": type(value).__name__, "message": msg + note}
    if ref[0] != "ok":
        if isinstance(ref[1], _NotScalar):
            return {
                "outcome": "mismatch",
                "detail": "decoded a non-3-D-scalar image",
                "message": str(ref[1]),
            }
        note = ""
        if kind == "image":  # what Pillow gives when told to accept truncated files
            loose = _run(lambda: _ref_image(path, truncated=True))
            note = (
                f"; with LOAD_TRUNCATED_IMAGES: {' '.join(_cmp_image(value, loose[1]))}"
                if loose[0] == "ok"
                else ""
            )
        return {
            "outcome": "decoded-unverified",
            "detail": "",
            "message": f"reference refuses: {_exc_text(ref[1])}{note}",
        }
    outcome, detail = compare(value, ref[1])
    return {"outcome": outcome, "detail": detail, "message": ""}


def _region_problem(data, rel):
    """JPEG: region and DCT-scaled decodes must give the full decode's verdict (issue 13
    item 3: a corrupt sample may not fail for some random crops and not others), and an
    unscaled region must equal the full decode's crop."""
    try:
        info = fastload.image.read_header(data, name=rel)
    except FastloadError:
        return None
    h, w = info.height, info.width
    qh, qw = max(1, h // 4), max(1, w // 4)
    rois = [(0, 0, qh, qw), (h - qh, w - qw, qh, qw), (h // 3, w // 3, qh, qw)]
    for strict in (True, False):
        full = _run(lambda s=strict: fastload.image.decode(data, strict=s, name=rel))
        for roi in rois:
            for min_size in (None, (max(1, qh // 8), max(1, qw // 8))):
                part = _run(
                    lambda r=roi, m=min_size, s=strict: fastload.image.decode(
                        data, roi=r, min_size=m, strict=s, name=rel
                    )
                )
                if part[0] == "exc":
                    return {
                        "outcome": "exception",
                        "detail": type(part[1]).__name__,
                        "message": f"roi={roi} min_size={min_size} strict={strict}: {part[1]}",
                    }
                if (part[0] == "ok") != (full[0] == "ok"):
                    return {
                        "outcome": "crop-dependent",
                        "detail": f"strict={strict}",
                        "message": f"full decode: {_describe(full)}; roi={roi} "
                        f"min_size={min_size}: {_describe(part)}",
                    }
                if part[0] == "ok" and min_size is None:
                    t, l, rh, rw = roi
                    if not np.array_equal(part[1], full[1][t : t + rh, l : l + rw]):
                        return {
                            "outcome": "mismatch",
                            "detail": "region",
                            "message": f"strict={strict} roi={roi}: the region decode "
                            f"differs from the full decode's crop",
                        }
    return None


def _describe(r):
    if r[0] == "ok":
        v = r[1]
        if isinstance(v, tuple):
            v = v[0]
        arr = getattr(v, "array", v)
        return (
            f"decoded {getattr(arr, 'shape', '?')} checksum "
            f"{hashlib.md5(np.ascontiguousarray(arr).tobytes()).hexdigest()[:8]}"
        )
    return _exc_text(r[1])


def _warm_up():
    for prime in _primers("image") + _primers("audio"):
        prime()
    import nibabel as nib

    b = io.BytesIO()
    img = nib.Nifti1Image(np.zeros((2, 3, 4), np.int16), np.eye(4))
    img.to_file_map({"image": nib.FileHolder(fileobj=b), "header": nib.FileHolder(fileobj=b)})
    fastload.volume.read(b.getvalue())


def _vm_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def main():
    _warm_up()
    limit_mb = int(os.environ.get("FASTLOAD_CONFORMANCE_MEMORY_MB", "3072"))
    limit = _vm_bytes() + limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _PROTO.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        try:
            res = check(req["path"], req["rel"], req["kind"])
        except MemoryError as exc:
            res = {"outcome": "memory", "detail": "MemoryError", "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a harness/reference problem
            res = {
                "outcome": "exception",
                "detail": type(exc).__name__,
                "message": f"in the harness: {exc}",
            }
        _PROTO.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
