"""Encoders that fail on purpose, for the builders' interrupt and error tests.

They live in the package (not in a test file) so that spawned build workers can import
them by name.
"""

from dataclasses import dataclass

__all__ = ["FaultyEncoder"]

_ERRORS = {"NameError": NameError, "MemoryError": MemoryError, "RuntimeError": RuntimeError}


@dataclass(frozen=True)
class FaultyEncoder:
    """Calls ``inner(item)``, except for items whose text contains ``fail_on``: there it
    raises ``error`` (one of NameError, MemoryError, RuntimeError), an exception that
    says nothing about the sample itself."""

    inner: object
    fail_on: str
    error: str = "NameError"

    def __call__(self, item):
        if self.fail_on in str(item):
            raise _ERRORS[self.error](f"injected {self.error} while encoding {item}")
        return self.inner(item)
