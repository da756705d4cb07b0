"""Column kinds of a sharded dataset: inference from the first record, enforcement after.

Kinds and their storage in the Arrow shards:

========  =====================================  ==========================================
kind      Python value written                   Arrow type (read back as)
========  =====================================  ==========================================
``int``   ``int`` / numpy integer scalar         ``int64`` (Python ``int``)
``float`` ``float`` / numpy floating scalar      ``float64`` (Python ``float``)
          (an ``int`` is accepted too)
``bool``  ``bool`` / ``numpy.bool_``             ``bool`` (Python ``bool``)
``str``   ``str``                                ``large_string`` (Python ``str``)
``bytes`` ``bytes`` / ``bytearray`` /            ``large_binary`` (read-only ``memoryview``,
          contiguous ``memoryview``              zero-copy from the memory map)
``array`` ``numpy.ndarray`` of a numeric,        ``large_binary`` holding the raw C-order
          bool, datetime or fixed-width string   little-endian bytes, plus a per-row shape
          dtype, any shape, any memory layout    column ``__shape__:<name>`` (read-only
                                                 ``ndarray``, zero-copy)
========  =====================================  ==========================================

Arrays are stored little-endian: a big-endian input (``>f4``) reads back as ``<f4``, the
same values with the same dtype *value* (``numpy.dtype('>f4') == numpy.dtype('<f4')`` is
False, but ``.newbyteorder('=')`` of both agree). Each array payload is padded to a
multiple of 8 bytes inside its Arrow buffer, and Arrow IPC aligns buffers to 8 bytes, so
every array read back starts 8-byte aligned (enough for every dtype with an itemsize up to
8; ``complex128`` / ``longdouble`` may come back with ``flags.aligned == False``, which
numpy handles transparently). 64-byte alignment is not guaranteed: Arrow's IPC writer
places buffers at 8-byte boundaries only.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pyarrow as pa

from fastload.errors import SchemaError

__all__ = ["KINDS", "Column", "SHAPE_PREFIX", "arrow_schema", "infer_column", "native_le"]

KINDS = ("int", "float", "bool", "str", "bytes", "array")
SHAPE_PREFIX = "__shape__:"
ARRAY_DTYPE_KINDS = "biufcmMSU"
_DTYPE_STR = re.compile(r"[<>|=][biufcmMSU]\d{1,9}(\[\d*[a-zA-Z]{1,2}\])?")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def native_le(dtype):
    """Little-endian version of ``dtype`` (the byte order every array is stored in).

    Parameters
    ----------
    dtype : numpy.dtype

    Returns
    -------
    numpy.dtype
        ``dtype`` with ``<`` byte order (unchanged for single-byte and byte-order-free
        dtypes such as ``bool``, ``uint8``, ``S5``).
    """
    dtype = np.dtype(dtype)
    if dtype.byteorder in ("|", "<") or dtype.itemsize <= 1 and dtype.kind != "U":
        return dtype
    return dtype.newbyteorder("<")


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"ndarray {value.dtype} {value.shape}"
    return type(value).__name__


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a dataset schema.

    Attributes
    ----------
    name : str
    kind : str
        One of ``"int" "float" "bool" "str" "bytes" "array"``.
    dtype : numpy.dtype or None
        Stored dtype: ``int64`` / ``float64`` / ``bool`` for scalars, the little-endian
        array dtype for ``array`` columns, None for ``str`` and ``bytes``.
    ndim : int or None
        Number of dimensions of ``array`` columns (fixed for the column), else None.
    shape : tuple of int or None
        Array shape when every row has the same one; None when it varies or for
        non-array columns.
    """

    name: str
    kind: str
    dtype: np.dtype | None = None
    ndim: int | None = None
    shape: tuple[int, ...] | None = None

    @property
    def is_numeric_scalar(self):
        """True for ``int``, ``float`` and ``bool`` columns (read_column gives an ndarray)."""
        return self.kind in ("int", "float", "bool")

    def to_dict(self):
        """JSON form used in ``manifest.json``."""
        return {
            "kind": self.kind,
            "dtype": None if self.dtype is None else self.dtype.str,
            "ndim": self.ndim,
            "shape": None if self.shape is None else list(self.shape),
        }

    @classmethod
    def from_dict(cls, name, d):
        """Inverse of :meth:`to_dict`; raises ``ValueError`` / ``TypeError`` on bad input."""
        kind = d["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        dtype = d.get("dtype")
        if kind == "array":
            # Only the plain ``dtype.str`` forms the writer produces ("<f4", "|S3", "<M8[ns]");
            # np.dtype() of an arbitrary string can raise SyntaxError or build a structure.
            if not isinstance(dtype, str) or not _DTYPE_STR.fullmatch(dtype):
                raise ValueError(f"bad array dtype {dtype!r}")
            dtype = np.dtype(dtype)
            if dtype.kind not in ARRAY_DTYPE_KINDS or dtype.itemsize == 0 and dtype.kind in "SU":
                raise ValueError(f"unsupported array dtype {dtype.str!r}")
            ndim = int(d["ndim"])
            if ndim < 0:
                raise ValueError(f"negative ndim {ndim}")
            shape = d.get("shape")
            if shape is not None:
                shape = tuple(int(s) for s in shape)
                if len(shape) != ndim or min(shape, default=0) < 0:
                    raise ValueError(f"shape {shape} does not match ndim {ndim}")
            return cls(name, kind, dtype, ndim, shape)
        expected = {"int": "<i8", "float": "<f8", "bool": "|b1"}.get(kind)
        if expected is not None:
            return cls(name, kind, np.dtype(expected))
        return cls(name, kind)

    # -- writing -------------------------------------------------------------------------

    def arrow_fields(self):
        """The Arrow field(s) storing this column (an array column adds its shape column)."""
        meta = {b"fastload.kind": self.kind.encode()}
        if self.kind == "array":
            meta[b"fastload.dtype"] = self.dtype.str.encode()
            meta[b"fastload.ndim"] = str(self.ndim).encode()
        typ = {
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "str": pa.large_string(),
            "bytes": pa.large_binary(),
            "array": pa.large_binary(),
        }[self.kind]
        fields = [pa.field(self.name, typ, nullable=False, metadata=meta)]
        if self.kind == "array" and self.ndim > 0:
            fields.append(
                pa.field(SHAPE_PREFIX + self.name, pa.list_(pa.int64(), self.ndim), nullable=False)
            )
        return fields

    def normalize(self, value, record_no):
        """Check ``value`` against this column and return what the writer stores.

        Returns
        -------
        object
            A Python scalar for scalar kinds; ``bytes`` or a contiguous ``memoryview``
            for ``bytes``; ``(payload, shape)`` for ``array`` where ``payload`` is a
            C-contiguous little-endian ndarray.

        Raises
        ------
        SchemaError
            Naming the column and the record number.
        """
        kind = self.kind
        if kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise self._error(record_no, f"expected an int, got {_describe(value)}")
            value = int(value)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise self._error(record_no, f"int {value} does not fit in int64")
            return value
        if kind == "float":
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (float, int, np.floating, np.integer)
            ):
                raise self._error(record_no, f"expected a float, got {_describe(value)}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise self._error(record_no, f"expected a bool, got {_describe(value)}")
            return bool(value)
        if kind == "str":
            if not isinstance(value, str):
                raise self._error(record_no, f"expected a str, got {_describe(value)}")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise self._error(
                    record_no, f"str is not encodable as UTF-8 ({exc.reason})"
                ) from None
            return value
        if kind == "bytes":
            if isinstance(value, bytes):
                return value
            if isinstance(value, (bytearray, memoryview)):
                mv = memoryview(value)
                if not mv.c_contiguous:
                    raise self._error(record_no, "memoryview is not C-contiguous")
                return mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv
            raise self._error(
                record_no, f"expected bytes, bytearray or memoryview, got {_describe(value)}"
            )
        # array
        if not isinstance(value, np.ndarray):
            raise self._error(record_no, f"expected a numpy array, got {_describe(value)}")
        if native_le(value.dtype) != self.dtype:
            raise self._error(record_no, f"expected dtype {self.dtype.str}, got {value.dtype.str}")
        if value.ndim != self.ndim:
            raise self._error(
                record_no, f"expected {self.ndim}-d array, got {value.ndim}-d shape {value.shape}"
            )
        if value.dtype.str != self.dtype.str or not value.flags.c_contiguous:
            value = np.array(value, dtype=self.dtype, order="C")
        return value, value.shape

    def _error(self, record_no, what):
        return SchemaError(f"record {record_no}, column {self.name!r} ({self.kind}): {what}")


def infer_column(name, value, record_no=0):
    """Column spec for ``value``, the first value written to column ``name``.

    Parameters
    ----------
    name : str
    value : int, float, bool, str, bytes-like or numpy.ndarray
        Numpy scalars map to the scalar kinds (``numpy.float16(1)`` becomes a ``float``
        column); wrap them in ``numpy.asarray`` to keep their dtype as a 0-d array.
    record_no : int
        Used in error messages.

    Returns
    -------
    Column
        With ``shape`` set to the value's shape for arrays (the writer clears it when a
        later row has another shape).
    """
    if not isinstance(name, str) or not name:
        raise SchemaError(f"record {record_no}: column names must be non-empty str, got {name!r}")
    if name.startswith("__"):
        raise SchemaError(
            f"record {record_no}, column {name!r}: names starting with '__' are reserved"
        )
    if isinstance(value, (bool, np.bool_)):
        return Column(name, "bool", np.dtype("|b1"))
    if isinstance(value, (int, np.integer)):
        return Column(name, "int", np.dtype("<i8"))
    if isinstance(value, (float, np.floating)):
        return Column(name, "float", np.dtype("<f8"))
    if isinstance(value, str):
        return Column(name, "str")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Column(name, "bytes")
    if isinstance(value, np.ndarray):
        dtype = value.dtype
        if dtype.kind not in ARRAY_DTYPE_KINDS or dtype.fields is not None or dtype.itemsize == 0:
            raise SchemaError(
                f"record {record_no}, column {name!r}: unsupported array dtype {dtype!r} "
                "(numeric, bool, datetime/timedelta or fixed-width string dtypes only)"
            )
        return Column(name, "array", native_le(dtype), value.ndim, tuple(value.shape))
    raise SchemaError(
        f"record {record_no}, column {name!r}: unsupported value type {_describe(value)} "
        "(int, float, bool, str, bytes-like or numpy.ndarray)"
    )


def arrow_schema(columns):
    """The Arrow schema of a shard holding ``columns`` (a sequence of :class:`Column`)."""
    fields = []
    for col in columns:
        fields.extend(col.arrow_fields())
    return pa.schema(fields, metadata={b"fastload.format": b"fastload-arrow-shards/1"})


def columns_to_json(columns):
    """Ordered ``{name: column dict}`` for the manifest."""
    return {c.name: c.to_dict() for c in columns}


def columns_from_json(d):
    """Inverse of :func:`columns_to_json` (raises ``ValueError``/``KeyError``/``TypeError``)."""
    if not isinstance(d, dict):
        raise TypeError("columns must be a JSON object")
    return [Column.from_dict(name, spec) for name, spec in d.items()]


def dumps_compact(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
