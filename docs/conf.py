"""Sphinx configuration of fastload's documentation (built by .ci/docs with -W)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # a checkout (the installed package otherwise)

project = "fastload"
author = "the fastload developers"
copyright = "the fastload developers"  # noqa: A001
import fastload  # noqa: E402

release = version = fastload.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "numpydoc",
]
# the docstrings are NumPy style; numpydoc renders their sections
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# the doctest builder runs every example in the pages and in the docstrings it renders
doctest_test_doctest_blocks = "default"
doctest_global_setup = """
import numpy as np
import fastload
"""
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
