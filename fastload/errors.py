"""Every exception fastload raises on purpose.

Each message names the thing that failed: the file, shard, sample index or column.
Subclasses also derive from the builtin a caller would naturally catch
(``ValueError`` for bad content, ``OSError`` for storage problems).
"""

__all__ = [
    "DecodeError",
    "FastloadError",
    "LimitError",
    "PerformanceWarning",
    "SampleError",
    "SchemaError",
    "ShardError",
    "SourceError",
    "StorageError",
]


class FastloadError(Exception):
    """Base class of all fastload errors."""


class DecodeError(FastloadError, ValueError):
    """Encoded bytes (JPEG, PNG, FLAC, WAV, NIfTI ...) could not be decoded."""


class LimitError(DecodeError):
    """Input declares a size above a configured safety limit (pixels, voxels, samples)."""


class SchemaError(FastloadError, ValueError):
    """A record does not match the dataset schema (names the column)."""


class SourceError(FastloadError, ValueError):
    """A build's raw data layout or arguments are wrong (missing folder, output exists ...);
    raised before anything is built. ``fastload build`` reports it in one line, status 2."""


class ShardError(FastloadError, OSError):
    """A shard or manifest is missing, truncated, corrupt or inconsistent."""


class StorageError(FastloadError, OSError):
    """Object storage refused or kept failing: bad URL, no such bucket, access denied,
    or transient errors past the retry budget (names the URL; never holds a secret)."""


class SampleError(FastloadError, RuntimeError):
    """A sample failed inside the loader; names the sample index and shard.

    The original exception is chained as ``__cause__``.
    """

    def __init__(self, message, *, index=None, shard=None):
        super().__init__(message)
        self.index = index
        self.shard = shard


class PerformanceWarning(UserWarning):
    """A slower fallback is in use (fastload was built without libjpeg-turbo, or its
    Huffman decoder was refused); ``fastload doctor`` says what to install. Silence it with
    ``warnings.filterwarnings("ignore", category=fastload.errors.PerformanceWarning)``."""
