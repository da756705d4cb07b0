# cython: language_level=3
"""extern declarations for csrc/image/huffman.h: the gate of fastload's Huffman decoder and
the libjpeg-turbo it runs with (JPEG kernel only: the header includes jpeglib.h)."""


cdef extern from "image/huffman.h" nogil:
    void fl_jpeg_set_fast_huffman(int on)
    int fl_jpeg_fast_huffman()
    int fl_huff_verified()
    const char *fl_huff_verdict()
    const char *fl_libjpeg_build_version()
    const char *fl_libjpeg_runtime_version()
    const char *fl_libjpeg_link()
    const char *fl_libjpeg_library()
