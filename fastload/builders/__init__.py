"""Raw dataset layouts -> sharded Arrow datasets (``fastload build ...``).

One module per dataset (``imagenet``, ``librispeech``, ``kits19``) over one shared
``engine``: deterministic parts, resumable, validating, local processes or Ray tasks.
"""

from fastload.builders.engine import BuildResult, run_build
from fastload.builders.imagenet import build_imagenet
from fastload.builders.kits19 import build_kits19
from fastload.builders.librispeech import build_librispeech

__all__ = ["BuildResult", "build_imagenet", "build_kits19", "build_librispeech", "run_build"]
