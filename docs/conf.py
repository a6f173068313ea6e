"""Sphinx configuration: the API reference from the docstrings, the README's tour as the
start page, a page per command (its ``--help``, generated). Built by ``.ci/run`` with
warnings as errors and nitpicky references, offline (no intersphinx)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sphinx.application import Sphinx

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "tradeoff"
author = "tradeoff developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "command_help",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
myst_heading_anchors = 4
suppress_warnings = ["myst.header"]

autodoc_member_order = "bysource"
# The numpy-style docstrings say the types in words (array kinds, shapes, units).
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_numpy_docstring = True
napoleon_google_docstring = False

# Every reference must resolve, except to the libraries we do not document (no
# intersphinx: the build does not need the internet).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|npt|torch|nn|F|sympy|sp|mpmath|scipy|argparse|os|pathlib)(\..*)?"),
    (r"py:.*", r"(collections\.abc|typing|types|enum|dataclasses|numbers|fractions)\..*"),
    (r"py:class", r"(Path|Tensor|Module|Generator|Any|Callable|Iterable|Iterator|Mapping)"),
    (r"py:class", r"(Sequence|Fraction|Real|ModuleType|Namespace|PathLike|TypeVar)"),
    # napoleon reads the free text of a "name : type" line as class names
    (r"py:class", r".*[^\w.].*"),
    # train.evaluate is left out of the reference until its docstring is valid RST (the
    # function is being split on another branch); the references to it stay.
    (r"py:func", r"(tradeoff\.torch\.train\.)?evaluate"),
    # ... and words that are no class name (ours are CamelCase or fully qualified)
    (r"py:class", r"(?!tradeoff\.)[^A-Z].*"),
]


def _escape_bars(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """The docstrings write |x| for an absolute value or a norm, as plain text; RST would
    read a substitution. Escape every bar outside ``inline literals``."""
    for i, line in enumerate(lines):
        if "|" not in line:
            continue
        parts = re.split(r"(``.*?``)", line)
        lines[i] = "".join(p if p.startswith("``") else p.replace("|", "\\|") for p in parts)


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _escape_bars)
