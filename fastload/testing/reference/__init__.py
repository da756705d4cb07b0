"""Plain numpy/scipy twins of fastload's public ops, one module per concern
(``reference.image``, ``reference.audio``, ``reference.volume``). Slow and obviously
correct: fast kernels are tested against them."""
