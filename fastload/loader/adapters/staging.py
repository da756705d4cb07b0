"""One-batch-ahead staging shared by the framework adapters (no framework imported).

The adapters start the device copy of batch ``i + 1`` while their consumer computes on
batch ``i``. The staging state (the iterator, the staged batch) belongs to the adapter's
own :class:`Lookahead` object, not to the loader: the next batch is taken with the
epoch iterator's :meth:`~fastload.loader.loader._EpochIterator.peek`, which leaves the
loader's state alone until the batch is delivered, so ``loader.state_dict()`` always
describes the batches the consumer has received and stopping early (``break``) needs no
rewinding.
"""

__all__ = ["Lookahead", "lookahead"]


class Lookahead:
    """Iterator yielding ``stage(batch)`` for each batch of ``loader``, one batch ahead.

    Parameters
    ----------
    loader : iterable of dict
        A :class:`fastload.Loader` (its iterator has ``peek()``) or any iterable of
        batches (then the next batch is simply taken early).
    stage : callable
        ``stage(batch) -> staged``, e.g. start an asynchronous device copy.
    """

    def __init__(self, loader, stage):
        self._stage = stage
        self._it = iter(loader)
        self._peek = getattr(self._it, "peek", None)
        self._ahead = None  # (stage(batch),) of the batch after the one delivered last
        self._started = False
        self._done = False

    def __iter__(self):
        return self

    def _take(self):
        """``(stage(next batch),)``, consumed from the iterator; None at the end."""
        try:
            return (self._stage(next(self._it)),)
        except StopIteration:
            return None

    def __next__(self):
        if self._done:
            raise StopIteration
        if not self._started:
            self._started = True
            current = self._take()
        else:
            current = self._ahead
            if current is not None and self._peek is not None:
                next(self._it)  # the peeked batch is delivered now: the loader's state moves
        if current is None:
            self._done = True
            self._ahead = None
            raise StopIteration
        # stage the following batch while the consumer works on this one
        if self._peek is not None:
            batch = self._peek()
            self._ahead = None if batch is None else (self._stage(batch),)
        else:
            self._ahead = self._take()
        return current[0]


def lookahead(loader, stage):
    """Yield ``stage(batch)`` one batch ahead (device copies overlap the consumer);
    see :class:`Lookahead`."""
    return Lookahead(loader, stage)
