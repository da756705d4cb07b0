"""Run a DALI 2.4 graph once on the CPU (no GPU: ``device_id=None``, every operator
``device="cpu"``) over a batch of numpy inputs fed by ``external_source``."""

import numpy as np
from nvidia.dali import fn, pipeline_def


def _feeder(batch):
    arrays = [np.ascontiguousarray(a) for a in batch]
    return lambda: arrays  # no parameter: DALI calls it with none


def run_cpu(graph, *batches):
    """``graph(*sources) -> DataNode or tuple of DataNodes``; ``batches[k]`` is the list of
    per-sample arrays fed to source ``k`` (all the same length). Returns, per graph
    output, the list of per-sample numpy arrays."""
    size = len(batches[0])

    @pipeline_def(
        batch_size=size,
        num_threads=1,
        device_id=None,
        prefetch_queue_depth=1,
        exec_async=False,
        exec_pipelined=False,
    )
    def pipe():
        sources = [fn.external_source(source=_feeder(b), batch=True, device="cpu") for b in batches]
        out = graph(*sources)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    p = pipe()
    p.build()
    outputs = p.run()
    return [[np.array(o[i]) for i in range(size)] for o in outputs]
