"""Where a dataset lives: URL -> filesystem, whole-object downloads with retries, redaction.

``resolve(url, filesystem=None, storage_options=None)`` turns what a user passes to
:func:`fastload.open_dataset` into a :class:`Location`:

* plain paths and ``file://`` URLs are *local*: the reader keeps its zero-copy memory map
  of the files in place (nothing here is used);
* ``s3://``, ``gs://`` (``gcs://``), ``az://`` (``abfs://``) go to ``pyarrow.fs``
  (``S3FileSystem``, ``GcsFileSystem``, ``AzureFileSystem``) built from ``storage_options``
  (keyword arguments of that class) or, without options, from the URL and each library's
  usual configuration (environment variables, config files, instance metadata);
* any other scheme goes to fsspec when it is installed (``fsspec.filesystem(scheme,
  **storage_options)`` wrapped in ``pyarrow.fs.PyFileSystem``);
* ``filesystem=`` (a ``pyarrow.fs.FileSystem`` or an fsspec filesystem) overrides all that;
  the URL then only gives the path inside it.

:func:`fetch_object` downloads one object whole into an open file, hashing it on the fly,
with retries (exponential backoff, full jitter, bounded total time) for transient
failures: timeouts, 5xx / throttling, connection resets and truncated bodies.

No message built here contains a secret: :meth:`Location.clean` replaces every credential
value (from ``storage_options``, the usual credential environment variables and URL
user-info or query strings) with ``***``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import re
import time
from urllib.parse import urlsplit

import xxhash

from fastload.errors import ShardError, StorageError

__all__ = ["Location", "RetryPolicy", "fetch_object", "is_local", "resolve"]

log = logging.getLogger("fastload.storage")

_PYARROW_SCHEMES = {
    "s3": "S3FileSystem",
    "s3a": "S3FileSystem",
    "gs": "GcsFileSystem",
    "gcs": "GcsFileSystem",
    "az": "AzureFileSystem",
    "abfs": "AzureFileSystem",
    "abfss": "AzureFileSystem",
}
_SECRET_KEY = re.compile(r"key|secret|token|password|passwd|credential|sas|signature|sig", re.I)
_SECRET_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
_CHUNK = 8 * 2**20


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient storage errors.

    Attempt ``a`` (0-based) that fails transiently sleeps ``uniform(0, min(max_delay_s,
    base_delay_s * 2**a))`` ("full jitter") before the next, until ``max_attempts``
    attempts or ``total_s`` seconds since the first are used up.
    """

    max_attempts: int = 8
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0
    total_s: float = 120.0

    def delays(self, rng=None):
        rng = rng or random.Random()
        for a in range(self.max_attempts - 1):
            yield rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**a))


#: Used by every remote dataset; tests and users may replace it (module attribute).
DEFAULT_RETRY = RetryPolicy()


class TransientError(OSError):
    """A failure worth retrying (never escapes this module's callers unwrapped)."""


class ChecksumMismatch(OSError):
    """The downloaded bytes do not hash to the manifest's checksum."""


def is_local(url, filesystem=None):
    """True when ``url`` names a local path (plain path or ``file://``)."""
    if filesystem is not None:
        return _is_local_fs(filesystem)
    if isinstance(url, os.PathLike):
        return True
    scheme = _scheme(str(url))
    return scheme in ("", "file", "local")


def _scheme(url):
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if not m:
        return ""
    return m.group(1).lower()


def _is_local_fs(fs):
    try:
        import pyarrow.fs as pafs

        return isinstance(fs, pafs.LocalFileSystem)
    except ImportError:  # pragma: no cover
        return False


def local_path(url):
    """The filesystem path of a local ``url`` (``file://`` stripped)."""
    if isinstance(url, os.PathLike):
        return os.fspath(url)
    url = str(url)
    if _scheme(url) in ("file", "local"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"{url}: file:// URLs must name a local path (no host)")
        from urllib.parse import unquote

        return unquote(parts.path)
    return url


def _collect_secrets(storage_options, url):
    secrets = set()

    def walk(obj, key=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, str(k))
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v, key)
        elif isinstance(obj, str) and _SECRET_KEY.search(key) and len(obj) >= 4:
            secrets.add(obj)

    walk(storage_options or {})
    for name in _SECRET_ENV:
        v = os.environ.get(name)
        if v and len(v) >= 4:
            secrets.add(v)
    parts = urlsplit(url) if "://" in url else None
    if parts is not None:
        if parts.password:
            secrets.add(parts.password)
        if parts.username and len(parts.username) >= 4:
            secrets.add(parts.username)
        for pair in parts.query.split("&"):
            k, _, v = pair.partition("=")
            if v and _SECRET_KEY.search(k) and len(v) >= 4:
                secrets.add(v)
    return sorted(secrets, key=len, reverse=True)


def display_url(url):
    """``url`` without user-info and query string (safe to print)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


@dataclasses.dataclass
class Location:
    """A resolved dataset location.

    Attributes
    ----------
    url : str
        What to show the user (no user-info or query string).
    fs : pyarrow.fs.FileSystem or None
        None for local datasets.
    root : str
        Path of the dataset folder inside ``fs`` (no trailing slash).
    """

    url: str
    fs: object
    root: str
    secrets: tuple = ()

    def join(self, name):
        return f"{self.root}/{name}" if self.root else name

    def url_of(self, name):
        return f"{self.url.rstrip('/')}/{name}"

    def clean(self, text):
        """``text`` with every known secret replaced by ``***``."""
        text = str(text)
        for s in self.secrets:
            text = text.replace(s, "***")
        # signed URLs in messages (X-Amz-Signature=..., sig=...)
        return re.sub(r"((?:signature|sig|token|key)=)[^&\s'\"]+", r"\1***", text, flags=re.I)


def resolve(url, filesystem=None, storage_options=None):
    """Resolve a remote ``url`` (see the module docstring) to a :class:`Location`.

    Raises
    ------
    StorageError
        Unsupported scheme (names the schemes that are), a filesystem that cannot be built
        from the options given, or a URL without a bucket / container.
    """
    url = str(url)
    secrets = tuple(_collect_secrets(storage_options, url))
    shown = display_url(url)

    def fail(msg):
        text = msg
        for s in secrets:
            text = text.replace(s, "***")
        return StorageError(text)

    if filesystem is not None:
        fs = _wrap_filesystem(filesystem)
        path = url.split("://", 1)[1] if "://" in url else url
        path = path.split("?", 1)[0].rstrip("/")
        return Location(shown, fs, path, secrets)
    scheme = _scheme(url)
    if not scheme:
        raise fail(f"{shown}: not a URL and not a local path")
    parts = urlsplit(url)
    path = (parts.netloc.rsplit("@", 1)[-1] + parts.path).rstrip("/")
    import pyarrow.fs as pafs

    cls_name = _PYARROW_SCHEMES.get(scheme)
    cls = getattr(pafs, cls_name, None) if cls_name else None
    if cls is not None:
        if not parts.netloc:
            raise fail(f"{shown}: no bucket or container in the URL")
        try:
            if storage_options:
                fs = cls(**storage_options)
            else:
                fs, path = pafs.FileSystem.from_uri(url)
                path = path.rstrip("/")
        except TypeError as exc:
            raise fail(f"{shown}: bad storage_options for {cls_name}: {exc}") from None
        except (OSError, ValueError, ImportError) as exc:
            raise fail(f"{shown}: cannot set up {cls_name}: {exc}") from None
        return Location(shown, fs, path, secrets)
    try:
        import fsspec
    except ImportError:
        raise fail(
            f"{shown}: unsupported URL scheme {scheme!r} (pyarrow supports "
            f"{', '.join(sorted(k for k, v in _PYARROW_SCHEMES.items() if hasattr(pafs, v)))}; "
            "install fsspec for others)"
        ) from None
    try:
        ffs = fsspec.filesystem(scheme, **(storage_options or {}))
    except (ValueError, ImportError) as exc:
        raise fail(f"{shown}: unsupported URL scheme {scheme!r}: {exc}") from None
    except TypeError as exc:
        raise fail(f"{shown}: bad storage_options for fsspec {scheme!r}: {exc}") from None
    path = ffs._strip_protocol(url).rstrip("/")
    return Location(shown, _wrap_filesystem(ffs), path, secrets)


def _wrap_filesystem(fs):
    import pyarrow.fs as pafs

    if isinstance(fs, pafs.FileSystem):
        return fs
    try:
        import fsspec
    except ImportError:  # pragma: no cover
        fsspec = None
    if fsspec is not None and isinstance(fs, fsspec.AbstractFileSystem):
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    raise StorageError(
        f"filesystem must be a pyarrow.fs.FileSystem or an fsspec filesystem, "
        f"got {type(fs).__name__}"
    )


# -- error classification ---------------------------------------------------------------

_SEP = r"[ _-]?"
_TRANSIENT = re.compile(
    rf"timed{_SEP}out|timeout|connection|reset|refused|broken{_SEP}pipe|temporar|throttl|"
    rf"slow{_SEP}down|service{_SEP}unavailable|internal{_SEP}(error|failure)|bad{_SEP}gateway|"
    rf"request{_SEP}limit|\b5\d\d\b|curl|network|unexpected end|premature|incomplete|truncat|"
    r"\beof\b",
    re.I,
)
_NOT_FOUND = re.compile(
    rf"no{_SEP}such{_SEP}key|not{_SEP}found|does not exist|\b404\b|no such file", re.I
)
_NO_BUCKET = re.compile(
    rf"no{_SEP}such{_SEP}bucket|bucket .*not found|container{_SEP}not{_SEP}found", re.I
)
_DENIED = re.compile(
    rf"access{_SEP}denied|forbidden|\b403\b|\b401\b|unauthori[sz]ed|"
    rf"invalid{_SEP}access{_SEP}key|signature{_SEP}does{_SEP}not{_SEP}match|invalid{_SEP}token|"
    rf"expired{_SEP}token|permission",
    re.I,
)


def classify(exc):
    """``"missing"``, ``"no_bucket"``, ``"denied"``, ``"transient"`` or ``"other"``."""
    if isinstance(exc, TransientError):
        return "transient"
    text = f"{type(exc).__name__}: {exc}"
    if _NO_BUCKET.search(text):
        return "no_bucket"
    if _DENIED.search(text):
        return "denied"
    if isinstance(exc, FileNotFoundError) or _NOT_FOUND.search(text):
        return "missing"
    if isinstance(exc, (TimeoutError, ConnectionError)) or _TRANSIENT.search(text):
        return "transient"
    return "other"


def storage_error(loc, what, exc, *, attempts=1):
    """A clear, secret-free :class:`StorageError` / :class:`ShardError` for ``exc``."""
    kind = classify(exc)
    detail = loc.clean(f"{type(exc).__name__}: {exc}")
    if kind == "missing":
        return ShardError(f"{what}: no such object ({detail})")
    if kind == "no_bucket":
        return StorageError(f"{what}: no such bucket or container ({detail})")
    if kind == "denied":
        return StorageError(
            f"{what}: access denied; check the credentials for this location "
            f"(environment, config files or storage_options) ({detail})"
        )
    if kind == "transient":
        return StorageError(f"{what}: still failing after {attempts} attempt(s): {detail}")
    return StorageError(f"{what}: {detail}")


def with_retries(loc, what, attempt, *, policy=None, on_retry=None, rng=None):
    """Run ``attempt()`` until it succeeds or fails non-transiently / runs out of retries."""
    policy = policy or DEFAULT_RETRY
    start = time.monotonic()
    delays = policy.delays(rng)
    n = 0
    while True:
        n += 1
        try:
            return attempt()
        except (ShardError, StorageError, ChecksumMismatch):
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            if classify(exc) != "transient":
                raise storage_error(loc, what, exc, attempts=n) from None
            delay = next(delays, None)
            if delay is None or time.monotonic() - start + delay > policy.total_s:
                raise storage_error(loc, what, exc, attempts=n) from None
            log.info(
                "fastload: %s: transient error, retry %d in %.2fs: %s",
                what,
                n,
                delay,
                loc.clean(exc),
            )
            if on_retry is not None:
                on_retry()
            time.sleep(delay)


def read_small(loc, name, *, max_bytes, policy=None):
    """Whole object ``name`` under the dataset root as bytes (manifest), with retries."""
    what = loc.url_of(name)

    def attempt():
        with loc.fs.open_input_stream(loc.join(name)) as f:
            data = f.read(max_bytes + 1)
        return data

    return with_retries(loc, what, attempt, policy=policy)


def fetch_object(loc, name, out, *, size, checksum, policy=None, on_retry=None, progress=None):
    """Download object ``name`` whole into the binary file ``out`` and verify it.

    Truncated bodies and transient errors are retried (``out`` is rewound and overwritten
    before each attempt). A body of the right size whose xxh3_128 differs from
    ``checksum`` raises :class:`ChecksumMismatch` (the caller decides whether to refetch).

    Returns
    -------
    int
        Bytes received over all attempts.
    """
    what = loc.url_of(name)
    received = [0]

    def attempt():
        out.seek(0)  # (overwritten in place: the cache reserved the final size)
        h = xxhash.xxh3_128()
        got = 0
        with loc.fs.open_input_stream(loc.join(name)) as f:
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
                received[0] += len(chunk)
                if progress is not None:
                    progress(len(chunk))
                if got > size:
                    raise ShardError(
                        f"{what}: object is larger than the {size} bytes the manifest lists "
                        "(replaced after the manifest was written?)"
                    )
                h.update(chunk)
                out.write(chunk)
        if got != size:
            raise TransientError(f"truncated body: got {got} of {size} bytes")
        out.truncate(got)
        out.flush()
        digest = h.hexdigest()
        if digest != checksum:
            raise ChecksumMismatch(f"{what}: xxh3_128 is {digest}, the manifest says {checksum}")
        return got

    with_retries(loc, what, attempt, policy=policy, on_retry=on_retry)
    return received[0]
