"""The README's Python examples run as written (so the tour stays true)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    block = BLOCKS[index]
    if "tradeoff.torch" in block or "import torch" in block:
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "readme"})


def _claims(block: str) -> list[str]:
    """What the ``print(...)  # → VALUE (note)`` lines of a block claim to print."""
    out = []
    for line in block.splitlines():
        if line.lstrip().startswith("print(") and "# → " in line:
            out.append(line.split("# → ", 1)[1].split(" (", 1)[0].strip())
    return out


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if _claims(b)])
def test_readme_example_prints_what_its_comments_claim(index, tmp_path, monkeypatch, capsys):
    """Run as a script, a block prints, line by line, the values its ``# →`` comments
    state (a bare expression in a script prints nothing)."""
    block = BLOCKS[index]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed == _claims(block)
