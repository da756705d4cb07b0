"""C status codes as exceptions: the Python half of ``check_status``
(fastload/includes/common.pxd), which maps each FL_* status of csrc/include/fastload/status.h
to a ``kind`` and calls :func:`raise_status` with the kernel's message.

Internal API of the compiled extensions; nothing here knows the numeric codes.
"""

from fastload.errors import DecodeError, LimitError

__all__ = ["UnsupportedJPEG", "raise_status"]


class UnsupportedJPEG(DecodeError):
    """A JPEG process or sample precision this libjpeg-turbo does not decode (lossless,
    hierarchical, 12/16-bit): not corrupt data. fastload.image.codec hands such files to
    Pillow."""


_WARNING_PREFIXES = ("Corrupt JPEG data: ", "Warning: ")

_SOF_PROCESSES = {
    0xC3: "lossless (SOF3)",
    0xC5: "hierarchical (SOF5)",
    0xC6: "hierarchical progressive (SOF6)",
    0xC7: "hierarchical lossless (SOF7)",
    0xCB: "lossless arithmetic-coded (SOF11)",
    0xCD: "hierarchical arithmetic-coded (SOF13)",
    0xCE: "hierarchical progressive arithmetic-coded (SOF14)",
    0xCF: "hierarchical lossless arithmetic-coded (SOF15)",
}


def _strict_message(msg):
    """libjpeg's text of a warning that strict mode refused, in fastload's words."""
    for prefix in _WARNING_PREFIXES:
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
            break
    return (
        f"JPEG data refused in strict mode: {msg} (libjpeg only warns about this; "
        f"strict=False lets it pass)"
    )


def _decode_message(msg):
    """libjpeg's text of a fatal error, in fastload's words."""
    precision = "Unsupported JPEG data precision "
    if msg.startswith(precision):
        bits = msg[len(precision) :]
        return (
            f"unsupported JPEG: {bits}-bit samples (data precision {bits}); fastload "
            f"decodes 8-bit JPEGs only"
        )
    process = "Unsupported JPEG process: SOF type 0x"
    if msg.startswith(process):
        try:
            sof = int(msg[len(process) :], 16)
        except ValueError:
            sof = 0
        what = _SOF_PROCESSES.get(sof, f"SOF type 0x{sof:02x}")
        return (
            f"unsupported JPEG process: {what}; fastload's libjpeg-turbo decodes "
            f"baseline, extended sequential, progressive and arithmetic-coded JPEGs"
        )
    return f"invalid JPEG data: {msg}"


def raise_status(kind, message, name=None):
    """Raise the exception for a failed kernel call.

    Parameters
    ----------
    kind : str
        ``"limit"`` (:class:`~fastload.errors.LimitError`), ``"strict"``, ``"decode"``
        (:class:`~fastload.errors.DecodeError`), ``"unsupported"`` (:class:`UnsupportedJPEG`),
        ``"nomem"`` (MemoryError), ``"arg"`` (ValueError: the caller passed inconsistent
        arguments, a bug rather than bad data); anything else is an unknown status
        (RuntimeError).
    message : str
        The kernel's message (``fl_last_error``).
    name : str, optional
        The file or sample, named first in the message.
    """
    where = f"{name}: " if name is not None else ""
    if kind == "limit":
        raise LimitError(f"{where}{message} (fastload.image.set_max_image_pixels)")
    if kind == "strict":
        raise DecodeError(f"{where}{_strict_message(message)}")
    if kind == "decode":
        raise DecodeError(f"{where}{_decode_message(message)}")
    if kind == "unsupported":
        raise UnsupportedJPEG(f"{where}{_decode_message(message)}")
    if kind == "nomem":
        raise MemoryError(f"{where}{message}")
    if kind == "arg":
        raise ValueError(f"{where}{message}")
    raise RuntimeError(f"{where}kernel returned an unknown {kind}: {message}")
