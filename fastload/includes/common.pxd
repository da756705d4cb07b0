# cython: language_level=3
"""extern declarations for csrc/include/fastload/status.h, and ``check_status``: the one
place a C status code becomes a Python exception."""


cdef extern from "fastload/status.h" nogil:
    int FL_OK, FL_ERR_DECODE, FL_ERR_LIMIT, FL_ERR_NOMEM, FL_ERR_ARG, FL_ERR_STRICT
    int FL_ERR_UNSUPPORTED
    const char *fl_last_error()


cdef inline int check_status(int status, object name=None) except -1:
    """Return 0 for FL_OK, else raise what the status means (call with the GIL held,
    right after the failed call, on the thread that made it): the kernel's message from
    ``fl_last_error``, prefixed with ``name`` (the file or sample) when the caller knows
    it, as the exception :func:`fastload._cstatus.raise_status` picks for the status."""
    if status == FL_OK:
        return 0
    from fastload._cstatus import raise_status

    cdef str kind
    if status == FL_ERR_LIMIT:
        kind = "limit"
    elif status == FL_ERR_NOMEM:
        kind = "nomem"
    elif status == FL_ERR_ARG:
        kind = "arg"
    elif status == FL_ERR_STRICT:
        kind = "strict"
    elif status == FL_ERR_UNSUPPORTED:
        kind = "unsupported"
    elif status == FL_ERR_DECODE:
        kind = "decode"
    else:
        kind = f"status {status}"
    raise_status(kind, fl_last_error().decode("utf-8", "replace"), name)
    return -1
