"""Small but realistic raw datasets in their real on-disk layouts.

Used by tests, benchmarks and ``fastload demo``. One module per dataset:
``imagenet``, ``librispeech``, ``kits19``.
"""
