"""A content-addressed cache of trained models, shared by the reproduction entries.

A model is stored under the SHA-256 of its *key*: the full training recipe the entry
passes (network, training method and every hyper-parameter, seed), a digest of the
training data's bytes (images and labels, so another subset, split or pixel range is
another model), and the code version (the package version and the bytes of the source
files that train it: the torch layer's training modules, the kernels, and any module of
its own, so any change to how models are trained retrains). Entries that train the same
model with the same recipe share it.

Files: ``<root>/models/<k[:2]>/<k>.pt`` (``torch.save`` of the state dict and the
training info) beside ``<k>.json`` (the key in clear, the info, and the SHA-256 of the
``.pt`` file). Both are written atomically (temporary file, ``os.replace``), the ``.pt``
first. A load checks the digest and uses ``torch.load(weights_only=True)``; a corrupt or
truncated file, or one whose recorded key differs, is refused with a warning and the
model is retrained and rewritten. ``root`` defaults to :func:`tradeoff._jit_cache.cache_root`
(``$TRADEOFF_CACHE``, else ``~/.cache/tradeoff``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CacheCorruptWarning", "ModelCache", "code_version", "data_digest"]


class CacheCorruptWarning(UserWarning):
    """A cached model failed its integrity check and is being retrained."""


#: The torch layer's sources that determine how a network is trained (the kernels' are
#: added whole). Other modules (attribution, ROAR/KAR, the manifold models, benchmarks,
#: the command line) do not change a classifier's weights; a model trained by one of them
#: adds its source through ``extra_sources``.
TRAINING_SOURCES = ("__init__.py", "_checks.py", "attacks.py", "data.py", "nets.py", "train.py")


@functools.lru_cache(maxsize=8)
def code_version(extra_sources: tuple[str, ...] = ()) -> str:
    """The package version and a SHA-256 over the sources that train a model: the torch
    layer's :data:`TRAINING_SOURCES`, the kernels, and ``extra_sources`` (paths)."""
    import tradeoff
    import tradeoff.kernels

    h = hashlib.sha256(tradeoff.__version__.encode())
    torch_dir = Path(tradeoff.__file__).parent / "torch"
    paths = [torch_dir / name for name in TRAINING_SOURCES]
    paths += sorted(Path(tradeoff.kernels.__file__).parent.glob("*.py"))
    paths += [Path(p) for p in extra_sources]
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{tradeoff.__version__}+{h.hexdigest()[:16]}"


def data_digest(*tensors: Any) -> str:
    """SHA-256 of the bytes, dtypes and shapes of the given tensors / arrays."""
    import numpy as np

    h = hashlib.sha256()
    for t in tensors:
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelCache:
    """Trained models keyed by recipe + data + code version (module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        if root is None:
            from tradeoff._jit_cache import cache_root

            root = cache_root()
        self.root = Path(root).expanduser() / "models"
        self.hits = 0
        self.misses = 0

    def key(
        self, recipe: dict, data: Any = None, extra_sources: tuple[str, ...] = ()
    ) -> tuple[str, dict]:
        """The cache key (hex) of ``recipe`` trained on ``data`` (a ``Data``/``Split`` or
        tensors) by code that includes ``extra_sources`` (paths of source files beyond
        :data:`TRAINING_SOURCES`), and the key's content."""
        content = {"recipe": recipe, "code": code_version(tuple(extra_sources))}
        if data is not None:
            split = getattr(data, "train", data)
            x, y = (split.x, split.y) if hasattr(split, "x") else data
            content["data"] = data_digest(x, y)
            if hasattr(data, "pixel_range"):
                content["pixel_range"] = list(data.pixel_range)
        text = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest(), content

    def paths(self, k: str) -> tuple[Path, Path]:
        folder = self.root / k[:2]
        return folder / f"{k}.pt", folder / f"{k}.json"

    def load(self, k: str, content: dict, model: Any) -> dict | None:
        """Load the weights stored under ``k`` into ``model``; its info, or None if absent
        or refused (corrupt, truncated, another key)."""
        import torch

        pt, meta = self.paths(k)
        if not (pt.exists() and meta.exists()):
            return None
        try:
            info = json.loads(meta.read_text())
            blob = pt.read_bytes()
            if hashlib.sha256(blob).hexdigest() != info["sha256"]:
                raise ValueError("SHA-256 of the weights differs from the one recorded")
            if json.dumps(info["key"], sort_keys=True, default=str) != json.dumps(
                content, sort_keys=True, default=str
            ):
                raise ValueError("the recorded key differs")
            import io

            state = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
            model.load_state_dict(state)
        except Exception as exc:  # anything wrong with the entry: refuse it, retrain
            warnings.warn(
                f"cached model {pt} refused ({exc}); retraining", CacheCorruptWarning, stacklevel=3
            )
            return None
        return info["info"]

    def store(self, k: str, content: dict, model: Any, info: dict) -> None:
        import io

        import torch

        buf = io.BytesIO()
        torch.save({n: t.detach().cpu() for n, t in model.state_dict().items()}, buf)
        blob = buf.getvalue()
        pt, meta = self.paths(k)
        _atomic_write(pt, blob)
        record = {"key": content, "info": info, "sha256": hashlib.sha256(blob).hexdigest()}
        _atomic_write(meta, json.dumps(record, indent=1, default=str).encode())

    def get_or_train(
        self,
        recipe: dict,
        build: Callable[[], Any],
        train: Callable[[Any], dict],
        *,
        data: Any = None,
        refresh: bool = False,
        extra_sources: tuple[str, ...] = (),
    ) -> tuple[Any, dict]:
        """The model ``build()`` trained by ``train(model) -> info`` — from the cache when
        a model of this ``recipe``, ``data`` and code version is stored, else trained and
        stored. ``recipe`` must determine the training completely (network, method, every
        hyper-parameter, seed); ``extra_sources``: the source files of the training code
        beyond :data:`TRAINING_SOURCES`. Returns ``(model, info)``; ``info["cached"]`` says
        which."""
        k, content = self.key(recipe, data, extra_sources)
        model = build()
        if not refresh:
            info = self.load(k, content, model)
            if info is not None:
                self.hits += 1
                return model, {**info, "cached": True, "key": k}
        self.misses += 1
        info = dict(train(model))
        self.store(k, content, model, info)
        return model, {**info, "cached": False, "key": k}
