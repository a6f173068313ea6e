"""Run mypy on the package as it is installed (``python .ci/typecheck.py [mypy args]``).

The package maps folders of the repository to subpackages (``kernels/`` is
``tradeoff.kernels``, ``proofs_check/`` is ``tradeoff.proofs_check``; see
``[tool.setuptools] package-dir`` in pyproject.toml), which mypy cannot follow through an
editable install. This lays the installed layout out as symbolic links in a temporary
folder and runs mypy there, with the repository's configuration (``[tool.mypy]``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def link_tree(dest: Path) -> None:
    """Symbolic links under ``dest`` that give every package of package-dir its path."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = setup["package-dir"]
    for package in sorted(dirs, key=lambda p: p.count(".")):  # parents first
        target = dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in (ROOT / dirs[package]).iterdir():
            if entry.name == "__pycache__" or (target / entry.name).exists():
                continue
            sub = f"{package}.{entry.name}"
            if entry.is_dir() and sub in dirs:
                continue  # a mapped subpackage: laid out from its own folder
            (target / entry.name).symlink_to(entry)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="tradeoff-mypy-") as tmp:
        link_tree(Path(tmp))
        cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
        env = dict(os.environ, MYPYPATH=tmp)
        return subprocess.call([*cmd, *argv], cwd=tmp, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
