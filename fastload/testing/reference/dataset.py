"""Plain-pyarrow twin of :func:`fastload.open_dataset`: read every row the obvious way.

No memory maps, no offsets arithmetic, no caching: ``pyarrow.ipc.open_file`` on the file
bytes, ``to_pylist()`` per column, arrays rebuilt from the stored bytes with a copy.
"""

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa

__all__ = ["read_rows"]


def read_rows(path):
    """All rows of the dataset at ``path`` as a list of dicts of plain Python values.

    ``bytes`` columns come back as ``bytes``, ``array`` columns as writable ndarrays of
    the manifest dtype with the stored shape, scalars as Python scalars.
    """
    path = Path(path)
    manifest = json.loads((path / "manifest.json").read_text())
    columns = manifest["columns"]
    rows = []
    for shard in manifest["shards"]:
        table = pa.ipc.open_file(pa.py_buffer((path / shard["file"]).read_bytes())).read_all()
        data = {name: table.column(name).to_pylist() for name in table.column_names}
        for r in range(table.num_rows):
            row = {}
            for name, spec in columns.items():
                value = data[name][r]
                if spec["kind"] == "array":
                    dtype = np.dtype(spec["dtype"])
                    shape = tuple(data[f"__shape__:{name}"][r]) if spec["ndim"] else ()
                    nbytes = math.prod(shape) * dtype.itemsize
                    value = np.frombuffer(value[:nbytes], dtype=dtype).reshape(shape).copy()
                row[name] = value
            rows.append(row)
    return rows
