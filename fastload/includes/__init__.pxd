# Cython declarations of fastload's C kernels (csrc/include/fastload/*.h), one .pxd per
# header, in the manner of pyarrow's includes/: every extension cimports its C functions
# and constants from here; Python code reads the constants from the extension modules.
