"""Sphinx configuration: the API reference from the numpydoc docstrings and
the README's guides (through myst-parser).  Built offline:
``sphinx-build -W -b html docs docs/_build/html`` (``pip install
"jitmlp[docs]"``)."""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                os.pardir, "src")))

project = "jitmlp"
author = "jitmlp developers"
copyright = "jitmlp developers"
extensions = ["sphinx.ext.autodoc", "numpydoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
# no external links to resolve, no intersphinx: the build stays offline
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_member_order = "bysource"
# the README links to files of the repository and to its own headings
suppress_warnings = ["myst.xref_missing", "myst.header"]
myst_heading_anchors = 3
