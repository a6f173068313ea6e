"""``command-help`` directive: the ``--help`` text of a ``tradeoff`` command, generated
by running the command's own parser in process (so the page cannot drift from it)."""

from __future__ import annotations

import contextlib
import io
import os

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def command_help(argv: list[str]) -> str:
    """What ``tradeoff ARGV --help`` prints, at 88 columns."""
    from tradeoff.cli import main

    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([*argv, "--help"])
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    text = out.getvalue()
    if not text.strip():
        raise ValueError(f"tradeoff {' '.join(argv)} --help printed nothing")
    return text


class CommandHelp(SphinxDirective):
    """``.. command-help:: verify`` (or ``bench kernels``, ...)."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        argv = self.arguments[0].split()
        text = command_help(argv)
        return [nodes.literal_block(text, text, language="text")]


def setup(app: Sphinx) -> dict[str, bool]:
    app.add_directive("command-help", CommandHelp)
    return {"parallel_read_safe": True}
