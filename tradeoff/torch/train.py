"""Standard, Madry (PGD) and TRADES training that resumes exactly, and robust evaluation.

``fit(model, data, method=...)`` minimises, per mini-batch,

* ``"standard"``: ``mean CE(f(x), y)``;
* ``"madry"``: ``mean CE(f(x'), y)`` with ``x'`` the PGD adversary of Madry et al. 2018
  Eq. (2.1) (adversarial examples only, as Madry et al., Tsipras et al. and Kim et al.
  train);
* ``"trades"``: ``mean CE(f(x), y) + β · mean KL(f(x) ‖ f(x'))`` with ``x'`` from
  :func:`~tradeoff.torch.attacks.trades_inner_max` (Zhang et al. 2019, Eq. (5) and
  Algorithm 1; the KL target is not detached and both forwards run in train mode, as in
  the reference ``trades.py``, which runs the clean forward twice — same loss and
  gradient; here BatchNorm's running statistics see the clean batch once, not twice);
* ``"fast"``: ``mean CE(f(x'), y)`` with ``x'`` one FGSM step of 1.25·ε from a uniform
  random start in the ε-ball (Wong, Rice & Kolter 2020, "Fast is better than free",
  Algorithm 3), with their cyclic learning rate and early stop against catastrophic
  overfitting (see :func:`fit`);
* ``"free"``: "free" adversarial training (Shafahi et al. 2019, "Adversarial training for
  free!", Algorithm 1): one forward and backward at ``x + δ`` update both the weights and
  the perturbation ``δ`` (carried across minibatches), each minibatch replayed ``replays``
  times, ``epochs / replays`` passes over the data.

ε, α are in pixel units of ``clip`` (the data's pixel range, [0, 1] for the image sets).
:attr:`FitResult.passes` counts the network's forward and backward passes over a batch
during training (attack included), the cost measure of ``tradeoff bench training``.

The papers' optimiser settings are in :data:`PRESETS` (``fit(..., preset="madry_mnist")``);
explicit keyword arguments override a preset. A preset made for one dataset
(``Recipe.datasets``, e.g. ``trades_cifar10``) refuses a :class:`~tradeoff.torch.data.Data`
loaded from another one.

Reproducibility and resuming. Everything random in a run comes from ``seed``: the data
order from a ``torch.Generator`` seeded with it, each batch's attack seed from
``(seed, epoch, batch)``, dropout from torch's global generator, seeded with ``seed`` inside
a forked RNG scope (the caller's global RNG state is left as it was). A checkpoint
(written atomically: a temporary file in the same folder, then ``os.replace``) holds the
model, optimiser and scheduler states, the torch / numpy / python / data-order RNG
states, the epoch, the position within the epoch and that epoch's permutation, and the
running sums of the progress bar. ``fit(..., resume=True)`` continues from it, so a run
killed at any point ends with the same weights, bit for bit on the same machine, as an
uninterrupted one. Checkpoints hold only tensors and plain containers and are read with
``torch.load(..., weights_only=True)``: loading one never executes code. Format
``tradeoff.fit/2`` stores a SHA-256 of the whole content (every tensor's bytes), checked
on load: a changed byte, a truncated file, another network's checkpoint or a foreign
pickle is one ``ValueError`` naming the file (format 1 files are refused, they carry no
checksum). A temporary file left by a process killed mid-write is removed by the next
``fit`` or :func:`save_checkpoint` of that path.

Faults during training. ``fit`` checks its arguments and the data before any work (at
least one sample, finite pixels, inside ``clip`` for adversarial training, labels the
model can output, finite weights). Every step checks the loss before the optimiser step
and the parameters and buffers after it (a sum per tensor, ≈ 1 % of a madry_mnist step);
a non-finite value undoes the step and raises :class:`DivergenceError` naming the
learning rate: the model is never left with NaN or inf weights and no checkpoint holds
them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import math
import os
import random
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tradeoff._validate import check_bool, check_choice, check_int, check_real, check_seed

from ._checks import check_label_values, forward
from .attacks import (
    ALPHA_MAX,
    PGD,
    _check_clip,
    _correct,
    _loss,
    _trades_kl,
    correct,
    eval_mode,
    input_gradient,
    per_sample_loss,
    pgd,
    trades_inner_max,
)
from .data import Data, Split

__all__ = [
    "PRESETS",
    "DivergenceError",
    "EvalResult",
    "FitResult",
    "GradientMaskingWarning",
    "Recipe",
    "evaluate",
    "fit",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
]

METHODS = ("standard", "madry", "trades", "fast", "free")
#: methods that take one gradient step per update: no ``steps``, l∞ only, eps > 0
ONE_STEP = ("fast", "free")
#: fast training's FGSM step is this multiple of ε (Wong, Rice & Kolter 2020, §4)
FAST_ALPHA = 1.25
#: largest lr and weight_decay: torch's optimisers convert them to float32
_OPT_MAX = 1e30
#: format 2 (this version) adds a SHA-256 of the content; format 1 files are refused
CHECKPOINT_FORMAT = "tradeoff.fit/2"


@dataclass(frozen=True)
class Recipe:
    """Optimiser and attack settings of a paper's training run (ε in [0, 1] pixel units).

    ``datasets`` names the datasets (:attr:`Data.dataset <tradeoff.torch.data.Data>`) the
    settings were made for; :func:`fit` refuses other data for such a preset. ``()``: any
    dataset (the MNIST presets also serve Fashion-MNIST and the small digit sets).
    """

    method: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    momentum: float = 0.0
    weight_decay: float = 0.0
    eps: float = 0.0
    alpha: float = 0.0
    steps: int = 0
    norm: str = "linf"
    beta: float = 1.0
    replays: int = 1
    source: str = ""
    datasets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        reals = {  # stored as floats (an int 2**70 would overflow inside torch's optimisers)
            # lr and weight_decay up to 1e30: torch's optimisers take them as float32
            "lr": check_real("lr", self.lr, low=0.0, low_open=True, high=_OPT_MAX),
            "momentum": check_real("momentum", self.momentum, low=0.0, high=1.0, high_open=True),
            "weight_decay": check_real("weight_decay", self.weight_decay, low=0.0, high=_OPT_MAX),
            "eps": check_real("eps", self.eps, low=0.0),
            "alpha": check_real("alpha", self.alpha, low=0.0, high=ALPHA_MAX),
            "beta": check_real("beta", self.beta, low=0.0),
        }
        for k, v in reals.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, low=1))
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, low=0))
        object.__setattr__(self, "steps", check_int("steps", self.steps, low=0))
        object.__setattr__(self, "replays", check_int("replays", self.replays, low=1))
        if self.replays != 1 and self.method != "free":
            raise ValueError(
                f"replays={self.replays} is only for method='free' (each minibatch replayed "
                f"m times), got method={self.method!r}"
            )
        check_choice("norm", self.norm, ("linf", "l2"))
        if not isinstance(self.datasets, tuple) or not all(
            isinstance(d, str) and d for d in self.datasets
        ):
            raise TypeError(f"datasets must be a tuple of dataset names, got {self.datasets!r}")


PRESETS: dict[str, Recipe] = {
    # Madry et al., mnist_challenge config: Adam 1e-4, batch 50, eps 0.3, 40 steps of 0.01,
    # random start (100 000 iterations ≈ 83 epochs).
    "madry_mnist": Recipe(
        "madry", "adam", 1e-4, 50, 83, eps=0.3, alpha=0.01, steps=40, source="Madry et al. 2018"
    ),
    # Zhang et al. Table 4 (MNIST, eps 0.1): SGD lr 0.01 momentum 0.9, batch 128, K=20, 0.01.
    "trades_mnist_eps0.1": Recipe(
        "trades",
        "sgd",
        0.01,
        128,
        50,
        momentum=0.9,
        eps=0.1,
        alpha=0.01,
        steps=20,
        beta=1.0,
        source="Zhang et al. 2019 Table 4",
    ),
    # Zhang et al. Table 5 (MNIST, eps 0.3): K=40, 100 epochs, beta 6 (1/lambda).
    "trades_mnist": Recipe(
        "trades",
        "sgd",
        0.01,
        128,
        100,
        momentum=0.9,
        eps=0.3,
        alpha=0.01,
        steps=40,
        beta=6.0,
        source="Zhang et al. 2019 Table 5",
    ),
    # Zhang et al. CIFAR-10: eps 0.031, K=10 of 0.007, SGD 0.1 momentum 0.9, wd 2e-4, beta 6.
    "trades_cifar10": Recipe(
        "trades",
        "sgd",
        0.1,
        128,
        100,
        momentum=0.9,
        weight_decay=2e-4,
        eps=0.031,
        alpha=0.007,
        steps=10,
        beta=6.0,
        source="Zhang et al. 2019 (CIFAR-10)",
        datasets=("cifar10",),
    ),
    # Collins et al. §5: Adam 1e-3, 10 epochs, batch 64, PGD k=100, alpha 0.01 (eps per run).
    "collins_mnist": Recipe(
        "madry", "adam", 1e-3, 64, 10, eps=0.1, alpha=0.01, steps=100, source="Collins et al. 2019"
    ),
    # Kim et al. App. A.2/B: Adam 1e-3, 5 epochs (MNIST/FMNIST), 40 PGD steps, adversarial only.
    "kim_mnist": Recipe(
        "madry", "adam", 1e-3, 128, 5, eps=0.1, alpha=0.01, steps=40, source="Kim et al. 2019"
    ),
    "standard_adam": Recipe("standard", "adam", 1e-3, 128, 10, source="plain training"),
}


class DivergenceError(FloatingPointError, ValueError):
    """Training diverged: the loss or a parameter became NaN or inf
    (:func:`~tradeoff.torch.train.fit` raises it before the step is kept: the model holds
    its weights from before that step). A
    ``FloatingPointError`` and, since the usual cause is the learning rate it names, a
    ``ValueError``."""


class GradientMaskingWarning(UserWarning):
    """A sanity check of :func:`evaluate` failed: the robust accuracy may be overestimated."""


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` did: per-epoch history (loss, clean / robust training accuracy,
    validation accuracy, seconds) and where it resumed from, if it did."""

    history: tuple[dict, ...]
    seconds: float
    resumed_from: tuple[int, int] | None = None
    config: dict = field(default_factory=dict)
    #: forward and backward passes of the model over a batch during training (the attack's
    #: included; validation accuracy not), summed over the epochs run by this call and
    #: those in the checkpoint it resumed from
    passes: dict = field(default_factory=dict)
    #: for method ``"fast"``: the overfitting guard's stop (epoch, robust accuracies), or None
    stopped: dict | None = None


@dataclass(frozen=True)
class EvalResult:
    """Clean and robust accuracy on ``n`` samples, and the gradient-masking checks."""

    clean_acc: float
    robust_acc: float | None
    n: int
    attack: str
    checks: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        rob = "-" if self.robust_acc is None else f"{self.robust_acc:.4f}"
        return f"clean acc {self.clean_acc:.4f}, robust acc {rob} (n={self.n}; {self.attack})"


# --------------------------------------------------------------------------- progress bar


class _Progress:
    """A one-line progress bar on stderr with an ETA per phase (redrawn on a terminal, one
    line per phase otherwise)."""

    def __init__(self, enabled: bool, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._phase: tuple[str, float, int] | None = None  # head, start time, done at start

    def update(self, head: str, done: int, total: int, metrics: str, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._phase is None or self._phase[0] != head:
            self._phase = (head, now, done)
        if not final and (not self.tty or now - self._last < 0.2):
            return
        self._last = now
        width = 24
        fill = round(width * done / max(total, 1))
        _, t0, done0 = self._phase
        eta = ""
        if not final and done > done0:
            eta = f" ETA {(now - t0) / (done - done0) * (total - done):.0f} s"
        line = f"{head} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {metrics}{eta}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------- checkpoints


def _tmp_prefix(path: Path) -> str:
    """``<name>.<host>.<pid>.``: the temporary files of :func:`save_checkpoint` say who
    writes them, so that a later run removes only those whose writer is dead."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
    return f"{path.name}.{host or 'host'}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a pid we cannot test: keep its file
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files a killed :func:`save_checkpoint` of ``path`` left behind.

    Only files named by :func:`save_checkpoint` on this host whose writing process no
    longer exists are removed (a concurrent writer's file is kept). Returns them.
    """
    path = Path(path)
    host_prefix = _tmp_prefix(path).rsplit(".", 2)[0] + "."  # <name>.<host>.
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(glob.escape(path.name) + ".*.tmp"):
        rest = tmp.name[len(host_prefix) :] if tmp.name.startswith(host_prefix) else ""
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _digest(obj: object, h) -> None:
    """Feed a canonical encoding of ``obj`` (tensors by dtype, shape and bytes; dicts,
    lists, tuples, strings, numbers, None) into the hash ``h``."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            _digest(k, h)
            _digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}".encode())
        for v in obj:
            _digest(v, h)
    elif isinstance(obj, bool) or obj is None:
        h.update(f"B{obj}".encode())
    elif isinstance(obj, int):
        h.update(f"I{obj}".encode())
    elif isinstance(obj, float):
        h.update(f"F{obj.hex()}".encode())
    elif isinstance(obj, str):
        h.update(b"S" + obj.encode("utf-8", "surrogatepass") + b"\0")
    else:
        raise TypeError(f"a checkpoint cannot hold {type(obj).__name__} values")


def _content_sha256(state: dict) -> str:
    h = hashlib.sha256()
    _digest({k: v for k, v in state.items() if k != "sha256"}, h)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` atomically, with a SHA-256 of its content inside.

    ``state["sha256"]`` is set to the SHA-256 of a canonical encoding of the rest of
    ``state`` (every tensor's dtype, shape and bytes, every key and plain value), so
    that :func:`load_checkpoint` detects a changed byte anywhere; the file stays a plain
    ``torch.save`` file. It is written to a temporary file in the same folder (named
    after this host and process), fsynced and moved over ``path`` with ``os.replace``:
    an interrupted write leaves the previous checkpoint as it was. A failed write removes
    its temporary file; one left by a killed process is removed by the next save (or
    ``fit``) of the same path.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a file path, got {path!r}")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    try:
        digest = _content_sha256(state)
    except TypeError as exc:
        raise TypeError(f"state cannot be checkpointed: {exc}") from None
    state = {**state, "sha256": digest}
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: what a checkpoint holds, and the type of each entry (checked before anything is used)
_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "sha256": str,
    "config": dict,
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "rng": dict,
    "epoch": int,
    "batch": int,
    "perm": (torch.Tensor, type(None)),
    "sums": dict,
    "history": list,
}


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Read with ``torch.load(..., weights_only=True)`` (never executes code), then the
    SHA-256 of its content is checked. An empty, truncated or corrupted file (a changed
    byte in the tensor data included), a file of another kind (a malicious pickle, a
    plain state_dict), a checkpoint of the older format ``tradeoff.fit/1`` (no checksum)
    or one with missing entries raises ``ValueError`` naming the file; a missing file
    ``FileNotFoundError``.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a file path, got {path!r}")
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated, corrupt, or holding more than tensors
        raise ValueError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(state, dict) and state.get("format") == "tradeoff.fit/1":
        raise ValueError(
            f"{path} has the older checkpoint format tradeoff.fit/1, which carries no "
            f"checksum and is no longer read ({CHECKPOINT_FORMAT} is); start the run again"
        )
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a tradeoff training checkpoint ({CHECKPOINT_FORMAT})")
    for key, kind in _STATE_TYPES.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(
                f"{path}: corrupt checkpoint: entry {key!r} is missing or of the wrong type "
                f"({type(value).__name__})"
            )
    try:
        digest = _content_sha256(state)
    except TypeError as exc:
        raise ValueError(f"{path}: corrupt checkpoint: {exc}") from exc
    if digest != state["sha256"]:
        raise ValueError(
            f"{path}: corrupt checkpoint: the SHA-256 of its content does not match the one "
            "written with it (a changed byte?)"
        )
    return state


def _rng_state(data_gen: torch.Generator, device: torch.device) -> dict:
    # the user's legacy global state
    np_state: tuple[Any, ...] = tuple(np.random.get_state())  # noqa: NPY002
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": random.getstate(),
        "data": data_gen.get_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, data_gen: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            n["key"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    data_gen.set_state(state["data"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------- fit


def _placement(model: nn.Module) -> tuple[torch.device, torch.dtype | None]:
    """Device and floating dtype of the model's first floating parameter or buffer: the
    batches are moved and cast to them (a float64 model trains on float64 pixels)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), None


def _resolve(preset: str | None, method: str, overrides: dict) -> Recipe:
    if preset is not None:
        check_choice("preset", preset, tuple(PRESETS))
        base = asdict(PRESETS[preset])
        if "method" in overrides and overrides["method"] is None:
            overrides.pop("method")
    else:
        base = asdict(Recipe(method, "sgd", 0.01, 128, 1))
    given = {k: v for k, v in overrides.items() if v is not None}
    base.update(given)
    if base["method"] in ONE_STEP:
        if "steps" in given and given["steps"] != 1:
            raise ValueError(
                f"steps={given['steps']!r}: method={base['method']!r} takes one gradient step "
                "per update (steps is for madry and trades training)"
            )
        base["steps"] = 1  # a preset's PGD steps do not apply
        if "alpha" not in given:
            base["alpha"] = 0.0  # set from eps below (a preset's PGD step does not apply)
    recipe = Recipe(**base)
    if recipe.method in ONE_STEP:
        if recipe.eps == 0:
            raise ValueError(
                f"eps must be > 0 for method={recipe.method!r} (the l∞ radius in pixel units)"
            )
        if recipe.norm != "linf":
            raise ValueError(
                f"norm={recipe.norm!r}: method={recipe.method!r} is defined for the l∞ ball "
                "only (norm='linf')"
            )
        if "alpha" not in given:
            factor = FAST_ALPHA if recipe.method == "fast" else 1.0
            recipe = dataclasses.replace(recipe, alpha=factor * recipe.eps)
        elif recipe.alpha == 0:
            raise ValueError(f"alpha must be > 0 for {recipe.method} training")
    if recipe.method != "standard" and recipe.eps > 0 and recipe.steps > 0 and recipe.alpha == 0:
        raise ValueError(f"alpha must be > 0 for {recipe.method} training with eps={recipe.eps}")
    return recipe


def _batch_seed(seed: int, epoch: int, batch: int) -> int:
    return int(np.random.default_rng([seed, epoch, batch]).integers(0, 2**62))


def fit(
    model: nn.Module,
    data: Data | Split,
    *,
    method: str | None = None,
    epochs: int | None = None,
    preset: str | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    milestones: tuple[int, ...] = (),
    gamma: float = 0.1,
    eps: float | None = None,
    alpha: float | None = None,
    steps: int | None = None,
    norm: str | None = None,
    beta: float | None = None,
    replays: int | None = None,
    overfit_guard: float = 0.2,
    clip: tuple[float, float] | None = None,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[int, int, float], None] | None = None,
) -> FitResult:
    """Train ``model`` in place by standard, Madry PGD, TRADES, fast (FGSM) or free
    adversarial training.

    Parameters
    ----------
    model:
        a network from :func:`tradeoff.torch.nets.build` (or any ``nn.Module`` on the
        device of the data).
    data:
        a :class:`~tradeoff.torch.data.Data` (its train split is used, validation clean
        accuracy is reported if it has one, ``clip`` defaults to its pixel range) or a
        :class:`~tradeoff.torch.data.Split`.
    method:
        ``"standard"``, ``"madry"``, ``"trades"``, ``"fast"`` or ``"free"`` (default: the
        preset's, else standard). With a preset, ``"fast"`` and ``"free"`` keep its
        optimiser settings and ε but not its PGD ``alpha`` and ``steps``.
    preset:
        a key of :data:`PRESETS`; explicit arguments override its fields. A preset with
        ``datasets`` (``trades_cifar10``) raises ``ValueError`` for a ``Data`` whose
        ``dataset`` (its ``name`` if that is empty) is not one of them. A ``Split`` carries
        no name, so that check cannot be made for it.
    eps, alpha, steps, norm:
        the training attack (ε and α in pixel units of ``clip``).
    beta:
        the TRADES weight β = 1/λ of the KL term.
    replays:
        ``method="free"`` only (``ValueError`` otherwise, unless 1): each minibatch is
        replayed ``m = replays`` times and the data passed over ``ceil(epochs / m)``
        times (Shafahi et al. 2019, Algorithm 1: the same number of optimiser steps as
        ``epochs`` epochs of natural training). Per replay, one forward and one backward at
        ``clip(x + δ)`` (train mode) give the weights' gradient — the optimiser steps with
        it — and the input gradient ``g``, then ``δ ← clip(δ + α·sign(g), −ε, ε)``; ``α``
        defaults to ε (the paper's step). ``δ`` starts at 0 once and is carried from replay
        to replay and minibatch to minibatch (a smaller last batch uses its first rows, as
        the reference implementation does); it stays in the l∞ ball, ``x + δ`` is clipped
        to the box. Saved in checkpoints: free training resumes exactly. l∞ only; ε > 0.
    overfit_guard:
        ``method="fast"`` only: the fall in PGD robust accuracy (fraction, default 0.2 as
        in Wong et al.'s code) that stops training; 0 turns the guard off.
    milestones, gamma:
        ``MultiStepLR``: the learning rate is multiplied by ``gamma`` after these epochs.
    seed:
        seeds data order, attacks and dropout (see the module docstring).
    checkpoint, checkpoint_every:
        file to write after every epoch and, if ``checkpoint_every`` is set, after every
        that many batches.
    resume:
        continue from ``checkpoint`` if it exists (the settings must match).
    callback:
        ``callback(epoch, batch, loss)`` after every optimiser step (e.g. for logging).

    Raises
    ------
    ValueError, TypeError
        a bad argument (``lr`` and ``weight_decay`` at most 1e30), data that do not fit
        the model (see the module docstring), a checkpoint that is corrupt, of other
        settings or of another network — all before any training.
    DivergenceError
        (a ``FloatingPointError`` and a ``ValueError``) when the loss or a weight becomes
        NaN or inf; the diverging step is undone first.

    Notes
    -----
    ``method="fast"`` (Wong, Rice & Kolter 2020, "Fast is better than free: revisiting
    adversarial training", ICLR). Implemented: per minibatch ``δ ~ U[−ε, ε]`` clipped so
    that ``x + δ`` is in the box, one FGSM step ``δ ← clip(δ + α·sign(∇ CE), −ε, ε)``
    (again clipped to the box) with ``α = 1.25·ε`` unless ``alpha`` is given, then the
    weights' step on ``CE(f(x + δ), y)`` — two forward and two backward passes per
    minibatch; their cyclic learning rate (``lr`` is the peak: linear from 0 to ``lr``
    at 2/5 of the epochs, back to 0 at the end, updated every optimiser step;
    ``milestones`` are refused); and their early stop: after every epoch, PGD-10 (step
    ε/4, random start) robust accuracy on a fixed held-out batch (the first
    ``batch_size`` validation samples, else training samples); a fall of more than
    ``overfit_guard`` since the previous epoch stops training, restores the weights of
    the previous epoch, warns (``RuntimeWarning``) and is reported in
    :attr:`FitResult.stopped`; its passes are counted. Not implemented: mixed precision
    (apex amp) and their CIFAR-10 PreAct ResNet settings; the FGSM gradient is taken in
    eval mode (as this module's PGD training does) while Wong et al. take it in train
    mode — the same for networks without BatchNorm or dropout. ``"fast"`` and ``"free"``
    record no clean training accuracy (``clean_acc`` is None: it would cost a forward);
    ``robust_acc`` is the accuracy on their training perturbations. ε in pixel units.
    """
    recipe = _resolve(
        preset,
        method if method is not None else "standard",
        {
            "method": method,
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": optimizer,
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "eps": eps,
            "alpha": alpha,
            "steps": steps,
            "norm": norm,
            "beta": beta,
            "replays": replays,
        },
    )
    overfit_guard = check_real("overfit_guard", overfit_guard, low=0.0, high=1.0)
    if recipe.method != "fast" and overfit_guard != 0.2:
        raise ValueError(
            f"overfit_guard={overfit_guard:g} is for method='fast' (the catastrophic-"
            f"overfitting guard), got method={recipe.method!r}"
        )
    seed = check_seed(seed)
    gamma = check_real("gamma", gamma, low=0.0, low_open=True)
    if not isinstance(milestones, (tuple, list)):
        raise TypeError(f"milestones must be a tuple of epochs, got {milestones!r}")
    milestones = tuple(check_int("milestones", m, low=1) for m in milestones)
    if recipe.method == "fast" and milestones:
        raise ValueError(
            "milestones: method='fast' uses the cyclic learning rate of Wong et al. (0 to lr "
            "at 2/5 of the run, back to 0 at its end), not MultiStepLR milestones"
        )
    resume = check_bool("resume", resume)
    progress = check_bool("progress", progress)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    checkpoint, checkpoint_every = _check_checkpointing(checkpoint, checkpoint_every, resume)
    train, val, clip = _fit_data(data, clip, preset, recipe)
    device, dtype = _placement(model)
    params = list(model.parameters())
    if not params:
        raise ValueError("model has no parameters to train")
    guard = _StepGuard(model, recipe.lr, recipe.weight_decay)
    if not guard.finite():
        raise ValueError("model has NaN or inf weights (or buffers) before training")
    _check_data(model, train, "data.train", clip if recipe.method != "standard" else None)
    if val is not None:
        _check_data(model, val, "data.val", None)
    config = {  # datasets is checked in _fit_data, not stored (checkpoints stay comparable)
        **{k: v for k, v in asdict(recipe).items() if k != "datasets"},
        **({"overfit_guard": overfit_guard} if recipe.method == "fast" else {}),
        "seed": seed,
        "n_train": len(train),
        "milestones": list(milestones),
        "gamma": gamma,
        "clip": list(clip),
    }
    opt, sched = _optimizer(
        params, recipe, milestones, gamma, math.ceil(len(train) / recipe.batch_size)
    )
    run = _Training(
        model,
        opt,
        sched,
        train,
        val,
        recipe,
        clip,
        seed,
        device,
        dtype,
        guard,
        torch.Generator().manual_seed(seed),
        config,
        checkpoint,
        checkpoint_every,
        callback,
        _Progress(progress),
        overfit_guard if recipe.method == "fast" else 0.0,
    )
    resumed_from = None
    modes = [(m, m.training) for m in model.modules()]
    t_start = time.perf_counter()

    model.train()  # attacks switch to eval mode and back; the updates run in train mode
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if checkpoint is not None:
            remove_stale_temporaries(checkpoint)  # left by a run killed mid-write
        if resume and checkpoint is not None and Path(checkpoint).exists():
            resumed_from = run.resume()
        try:
            with run.counter.attached(model):
                for epoch in range(run.epoch, run.n_epochs):
                    if run.stopped is not None:
                        break
                    run.run_epoch(epoch)
        finally:
            for m, mode in modes:
                m.training = mode
    passes = {
        k: sum(h.get(k, 0) for h in run.history) + run.sums.get(k, 0)
        for k in ("forward", "backward")
    }
    return FitResult(
        tuple(run.history),
        time.perf_counter() - t_start,
        resumed_from,
        config,
        passes,
        run.stopped,
    )


def _check_checkpointing(
    checkpoint: str | os.PathLike | None, checkpoint_every: int | None, resume: bool
) -> tuple[str | os.PathLike | None, int | None]:
    """fit's ``checkpoint`` (a writable path), ``checkpoint_every`` (>= 1, needs a path)
    and ``resume`` (needs a path)."""
    if checkpoint is not None:
        checkpoint = check_output_path("checkpoint", checkpoint)
    if checkpoint_every is not None:
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
        if checkpoint is None:
            raise ValueError("checkpoint_every needs a checkpoint path")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    return checkpoint, checkpoint_every


def _fit_data(
    data: Data | Split, clip: tuple[float, float] | None, preset: str | None, recipe: Recipe
) -> tuple[Split, Split | None, tuple[float, float]]:
    """fit's training and validation splits and the box ``clip`` (default: the data's
    pixel range); a preset made for other datasets is refused."""
    if isinstance(data, Data):
        train, val = data.train, data.val
        clip = data.pixel_range if clip is None else clip
    elif isinstance(data, Split):
        train, val = data, None
        clip = (0.0, 1.0) if clip is None else clip
    else:
        raise TypeError(f"data must be a Data or Split, got {type(data).__name__}")
    if preset is not None and recipe.datasets and isinstance(data, Data):
        given = data.dataset or data.name
        if given not in recipe.datasets:
            raise ValueError(
                f"preset {preset!r} ({recipe.source}) is made for "
                f"{' or '.join(recipe.datasets)} data, got data from {given!r}; load "
                f"data.load({recipe.datasets[0]!r}, ...) or choose another preset"
            )
    return train, val, _check_clip(clip)


def _cyclic(epochs: int, batches: int) -> Callable[[int], float]:
    """Wong et al.'s cyclic learning-rate factor after ``k`` optimiser steps: linear from 0
    to 1 at 2/5 of the run and back to 0 at its end, read at ``t = (k + 1) / batches``
    epochs (their ``np.interp([t], [0, 2E/5, E], [0, lr_max, 0])``)."""

    def factor(k: int) -> float:
        return float(np.interp((k + 1) / batches, [0, epochs * 2 / 5, epochs], [0.0, 1.0, 0.0]))

    return factor


def _optimizer(
    params: list,
    recipe: Recipe,
    milestones: tuple[int, ...],
    gamma: float,
    batches: int = 1,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The recipe's optimiser (SGD or Adam) and its schedule: MultiStepLR (stepped per
    epoch), or for method ``"fast"`` the cyclic schedule of Wong et al. (stepped per
    optimiser step, ``batches`` per epoch)."""
    if recipe.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    else:
        opt = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.method == "fast":
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, _cyclic(recipe.epochs, batches))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=gamma)
    return opt, sched


#: config entries newer than checkpoint format 2, and their value in older checkpoints
_NEW_CONFIG = {"replays": 1}


def _zero_sums() -> dict:
    return {
        "loss": 0.0,
        "clean": 0,
        "robust": 0,
        "seen": 0,
        "seconds": 0.0,
        "forward": 0,
        "backward": 0,
    }


class _PassCounter:
    """Counts the model's forward passes (a forward hook) and backward passes (a gradient
    hook on each output that requires grad: it fires once per backward through the
    model, ``loss.backward()`` and ``torch.autograd.grad`` alike)."""

    def __init__(self) -> None:
        self.forward = 0
        self.backward = 0

    def _hook(self, module, inputs, output) -> None:
        self.forward += 1
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(self._backward)

    def _backward(self, grad):
        self.backward += 1

    @contextlib.contextmanager
    def attached(self, model: nn.Module):
        handle = model.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()

    def take(self, sums: dict) -> None:
        """Add the passes counted since the last call to ``sums``, and restart."""
        sums["forward"] = sums.get("forward", 0) + self.forward
        sums["backward"] = sums.get("backward", 0) + self.backward
        self.forward = self.backward = 0


@dataclass
class _Training:
    """One :func:`fit` run: what it trains with, and where it stands (the epoch and batch
    it starts from, the epoch's permutation and running sums, the history) — exactly what
    a checkpoint holds."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    train: Split
    val: Split | None
    recipe: Recipe
    clip: tuple[float, float]
    seed: int
    device: torch.device
    dtype: torch.dtype | None
    guard: _StepGuard
    data_gen: torch.Generator
    config: dict
    checkpoint: str | os.PathLike | None
    checkpoint_every: int | None
    callback: Callable[[int, int, float], None] | None
    bar: _Progress
    overfit_guard: float = 0.0
    epoch: int = 0
    batch: int = 0
    perm: torch.Tensor | None = None
    sums: dict = field(default_factory=_zero_sums)
    history: list[dict] = field(default_factory=list)
    counter: _PassCounter = field(default_factory=_PassCounter)
    #: free training's perturbation, carried from minibatch to minibatch (and replay)
    delta: torch.Tensor | None = None
    #: the overfitting guard's last robust accuracy and the weights it was measured on
    guard_prev: float | None = None
    guard_best: dict | None = None
    stopped: dict | None = None

    @property
    def batches(self) -> int:
        return math.ceil(len(self.train) / self.recipe.batch_size)

    @property
    def n_epochs(self) -> int:
        """Passes over the data: ``epochs``, divided by ``replays`` (rounded up) for free."""
        return math.ceil(self.recipe.epochs / self.recipe.replays)

    def method_state(self) -> dict:
        return {
            "delta": self.delta,
            "guard_prev": self.guard_prev,
            "guard_best": self.guard_best,
            "stopped": self.stopped,
        }

    def resume(self) -> tuple[int, int]:
        """Load the checkpoint (same settings and network, a position of this run);
        returns the (epoch, batch) resumed from."""
        checkpoint = self.checkpoint
        assert checkpoint is not None  # resume() runs only with a checkpoint path
        state = load_checkpoint(checkpoint)
        old = state["config"]
        diff = {
            k: (old.get(k, _NEW_CONFIG.get(k)), v)
            for k, v in self.config.items()
            if k != "epochs" and old.get(k, _NEW_CONFIG.get(k)) != v
        }
        if diff:
            raise ValueError(
                f"checkpoint {checkpoint} was written with other settings: "
                + ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
            )
        _check_same_network(checkpoint, state["model"], self.model)
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"], self.data_gen, self.device)
            self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
            self.perm = state["perm"]
            self.sums = dict(state["sums"])
            self.history = [dict(h) for h in state["history"]]
            self.sums = {**_zero_sums(), **self.sums}
            if self.recipe.method in ONE_STEP:
                ms = state["method_state"]
                self.delta = ms["delta"]
                self.guard_prev = ms["guard_prev"]
                self.guard_best = ms["guard_best"]
                self.stopped = ms["stopped"]
                if self.delta is not None:
                    self.delta = self.delta.to(device=self.device, dtype=self.dtype)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise ValueError(
                f"checkpoint {checkpoint} cannot be resumed: {type(exc).__name__}: {exc}"
            ) from exc
        n = len(self.train)
        if not (0 <= self.epoch and 0 <= self.batch < self.batches) or (
            self.perm is not None and tuple(self.perm.shape) != (n,)
        ):
            raise ValueError(
                f"checkpoint {checkpoint} cannot be resumed: epoch {self.epoch}, batch "
                f"{self.batch} is not a position of this run"
            )
        self.guard.refresh()
        return self.epoch, self.batch

    def snapshot(self, epoch: int, batch: int, perm_now: torch.Tensor | None) -> None:
        assert self.checkpoint is not None  # snapshots are taken only with a checkpoint path
        save_checkpoint(
            self.checkpoint,
            {
                "format": CHECKPOINT_FORMAT,
                "config": self.config,
                "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "rng": _rng_state(self.data_gen, self.device),
                "epoch": epoch,
                "batch": batch,
                "perm": perm_now,
                "sums": self.sums,
                "history": self.history,
                "method_state": self.method_state(),
            },
        )

    def run_epoch(self, epoch: int) -> None:
        """Train one epoch from ``self.batch`` on, then record it (and checkpoint)."""
        recipe, sums, batches, bs = self.recipe, self.sums, self.batches, self.recipe.batch_size
        if self.perm is None or self.batch == 0:
            self.perm = torch.randperm(len(self.train), generator=self.data_gen)
        perm = self.perm
        t_epoch = time.perf_counter()
        for b in range(self.batch, batches):
            idx = perm[b * bs : (b + 1) * bs]
            x = self.train.x[idx].to(device=self.device, dtype=self.dtype, non_blocking=True)
            y = self.train.y[idx].to(self.device, non_blocking=True)
            where = f"epoch {epoch + 1}, batch {b + 1}"
            for _ in range(recipe.replays if recipe.method == "free" else 1):
                self.counter.forward = self.counter.backward = 0
                if recipe.method == "free":
                    if self.delta is None:  # Shafahi et al. Algorithm 1: δ ← 0, once
                        self.delta = torch.zeros(
                            (bs, *x.shape[1:]), device=self.device, dtype=x.dtype
                        )
                    loss, n_clean, n_rob = _free_step(
                        self.model, self.opt, x, y, self.delta, recipe, self.clip, self.guard, where
                    )
                else:
                    loss, n_clean, n_rob = _train_step(
                        self.model,
                        self.opt,
                        x,
                        y,
                        recipe,
                        self.clip,
                        _batch_seed(self.seed, epoch, b),
                        self.guard,
                        where,
                    )
                if recipe.method == "fast":
                    self.sched.step()  # the cyclic schedule moves per optimiser step
                self.counter.take(sums)
                sums["loss"] += loss * len(idx)
                sums["clean"] += n_clean
                sums["robust"] += n_rob
                sums["seen"] += len(idx)
                if self.callback is not None:
                    self.callback(epoch, b, loss)
            seen = max(sums["seen"], 1)
            rob = "" if recipe.method == "standard" else f" rob {sums['robust'] / seen:.3f}"
            acc = "" if recipe.method in ONE_STEP else f" acc {sums['clean'] / seen:.3f}"
            self.bar.update(
                f"epoch {epoch + 1}/{self.n_epochs}",
                b + 1,
                batches,
                f"loss {sums['loss'] / seen:.4f}{acc}{rob}",
            )
            every = self.checkpoint_every
            if every is not None and (b + 1) % every == 0 and b + 1 < batches:
                sums["seconds"] += time.perf_counter() - t_epoch
                t_epoch = time.perf_counter()
                self.snapshot(epoch, b + 1, perm)
        self.batch = 0
        if recipe.method != "fast":
            self.sched.step()
        self._end_epoch(epoch, t_epoch)

    def _end_epoch(self, epoch: int, t_epoch: float) -> None:
        """The epoch's history row (with validation accuracy), its progress line, the
        checkpoint at the start of the next epoch."""
        sums, val = self.sums, self.val
        one_step = self.recipe.method in ONE_STEP
        guard_row = self._overfit_guard(epoch) if self.overfit_guard > 0 else {}
        seen = max(sums["seen"], 1)
        row = {
            "epoch": epoch + 1,
            "loss": sums["loss"] / seen,
            # fast and free run no clean forward (it would cost a pass): no clean accuracy
            "clean_acc": None if one_step else sums["clean"] / seen,
            "robust_acc": None if self.recipe.method == "standard" else sums["robust"] / seen,
            "seconds": sums["seconds"] + time.perf_counter() - t_epoch,
            "lr": self.opt.param_groups[0]["lr"],
            **({"forward": sums["forward"], "backward": sums["backward"]}),
            **guard_row,
        }
        if val is not None:
            row["val_clean_acc"] = _clean_accuracy(self.model, val)
        self.history.append(row)
        rob = "" if row["robust_acc"] is None else f" rob {row['robust_acc']:.3f}"
        acc = "" if row["clean_acc"] is None else f" acc {row['clean_acc']:.3f}"
        v = f" val {row['val_clean_acc']:.3f}" if val is not None else ""
        stop = " [overfitting guard: stopped]" if guard_row.get("stopped") else ""
        self.bar.update(
            f"epoch {epoch + 1}/{self.n_epochs}",
            self.batches,
            self.batches,
            f"loss {row['loss']:.4f}{acc}{rob}{v} ({row['seconds']:.1f} s){stop}",
            final=True,
        )
        self.sums = _zero_sums()
        self.perm = None
        if self.checkpoint is not None:
            self.snapshot(epoch + 1, 0, None)

    def _overfit_guard(self, epoch: int) -> dict:
        """Wong et al.'s early stop against catastrophic overfitting: PGD robust accuracy
        on a fixed held-out batch after every epoch; a fall by more than
        ``overfit_guard`` since the previous epoch stops training and restores the weights
        of that epoch. Its passes are counted as training passes."""
        held = self.val if self.val is not None else self.train
        n = min(self.recipe.batch_size, len(held))
        x = held.x[:n].to(device=self.device, dtype=self.dtype)
        y = held.y[:n].to(self.device)
        self.counter.forward = self.counter.backward = 0
        acc = _guard_accuracy(self.model, x, y, self.recipe.eps, self.clip, self.seed)
        self.counter.take(self.sums)
        row = {"guard_robust_acc": acc}
        prev = self.guard_prev
        if prev is not None and acc < prev - self.overfit_guard:
            assert self.guard_best is not None  # stored with guard_prev after every epoch
            self.model.load_state_dict(self.guard_best)
            self.guard.refresh()
            self.stopped = {"epoch": epoch + 1, "robust_acc": acc, "previous_robust_acc": prev}
            row["stopped"] = True
            warnings.warn(
                f"fast adversarial training: PGD robust accuracy on the held-out batch fell "
                f"from {prev:.3f} to {acc:.3f} in epoch {epoch + 1} (catastrophic overfitting, "
                f"Wong et al. 2020): stopped, weights of epoch {epoch} restored",
                RuntimeWarning,
                stacklevel=4,
            )
            return row
        self.guard_prev = acc
        self.guard_best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return row


#: the overfitting guard's attack: PGD-10, step ε/4, random start (Wong et al. use PGD-5
#: with step 2/255 at ε = 8/255 on CIFAR-10, i.e. step ≈ ε/4)
GUARD_STEPS = 10


def _guard_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, clip, seed: int
) -> float:
    """Robust accuracy under PGD-10 (step ε/4, random start, fixed seed) of a batch."""
    x_adv = pgd(model, x, y, eps=eps, alpha=eps / 4, steps=GUARD_STEPS, seed=seed, clip=clip)
    with torch.no_grad(), eval_mode(model):
        return float(_correct(model(x_adv), y).float().mean())


def _free_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    delta: torch.Tensor,
    recipe: Recipe,
    clip: tuple[float, float],
    guard: _StepGuard,
    where: str,
) -> tuple[float, int, int]:
    """One replay of free adversarial training (Shafahi et al. 2019, Algorithm 1): one
    forward and one backward at ``clip(x + δ)`` give the weights' gradient (the optimiser
    steps with it) and the input gradient, with which ``δ ← clip(δ + α·sign(g), −ε, ε)``
    in place (``delta[:len(x)]``, carried to the next replay and minibatch)."""
    guard.save()
    lo, hi = clip
    d = delta[: x.shape[0]]
    xa = (x + d).clamp_(lo, hi).requires_grad_(True)
    logits = model(xa)  # train mode: the same pass updates the weights
    loss = _loss(logits, y, "ce", check_values=False).mean()
    value = float(loss.detach())
    if not math.isfinite(value):
        guard.restore()
        raise guard.error(where, f"the training loss became {value}")
    n_rob = int(_correct(logits.detach(), y).sum())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if not guard.finite():
        guard.restore()
        raise guard.error(where, "a parameter became NaN or inf in the optimiser step")
    g = xa.grad
    assert g is not None  # xa requires grad and the loss was backpropagated through it
    with torch.no_grad():
        d.add_(recipe.alpha * torch.sign(g)).clamp_(-recipe.eps, recipe.eps)
    return value, 0, n_rob


def _train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    clip: tuple[float, float],
    batch_seed: int,
    guard: _StepGuard,
    where: str,
) -> tuple[float, int, int]:
    """One optimiser step; returns (loss, #clean correct, #robust correct). The labels
    were checked against the model by :func:`_check_data` (no per-step device sync here).

    Raises :class:`DivergenceError` when the loss or a parameter (or a floating buffer)
    becomes NaN or inf; the model is then restored to its state before the step.
    """
    guard.save()
    x_adv = x
    if recipe.method != "standard" and recipe.eps > 0:
        budget: dict[str, Any] = dict(
            eps=recipe.eps,
            alpha=recipe.alpha,
            steps=recipe.steps,
            norm=recipe.norm,
            seed=batch_seed,
            clip=clip,
        )
        if recipe.method == "madry":
            x_adv = pgd(model, x, y, random_start=True, **budget)
        elif recipe.method == "fast":
            # Wong et al.: uniform start in the ball (clipped to the box), one FGSM step
            x_adv = pgd(model, x, y, random_start=True, **{**budget, "steps": 1})
        else:
            x_adv = trades_inner_max(model, x, **budget)
    if recipe.method == "fast":  # no clean forward: fast pays for two passes only
        logits_adv = model(x_adv)
        loss = _loss(logits_adv, y, "ce", check_values=False).mean()
        n_clean = 0
        n_rob = int(_correct(logits_adv.detach(), y).sum())
    elif recipe.method == "madry":
        with torch.no_grad(), eval_mode(model):
            n_clean = int(_correct(model(x), y).sum())
        logits_adv = model(x_adv)
        loss = _loss(logits_adv, y, "ce", check_values=False).mean()
        n_rob = int(_correct(logits_adv.detach(), y).sum())
    elif recipe.method == "trades":
        logits = model(x)  # train mode; the KL target softmax f(x) is not detached
        logits_adv = model(x_adv)
        loss = (
            _loss(logits, y, "ce", check_values=False).mean()
            + recipe.beta * _trades_kl(logits_adv, logits).mean()
        )
        n_clean = int(_correct(logits.detach(), y).sum())
        n_rob = int(_correct(logits_adv.detach(), y).sum())
    else:
        logits = model(x)
        loss = _loss(logits, y, "ce", check_values=False).mean()
        n_clean = int(_correct(logits.detach(), y).sum())
        n_rob = 0
    value = float(loss.detach())
    if not math.isfinite(value):  # before the step (the forward may have moved BN buffers)
        guard.restore()
        raise guard.error(where, f"the training loss became {value}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if not guard.finite():  # the step itself overflowed (lr 1e308: finite loss, inf weights)
        guard.restore()
        raise guard.error(where, "a parameter became NaN or inf in the optimiser step")
    return value, n_clean, n_rob


class _StepGuard:
    """The model's floating parameters and buffers as they were before the current step,
    and a finite check of them after it: one sum per tensor and one copy for the rollback
    (0.2 + 0.5 ms for madry_mnist's 3.3M weights on one CPU thread, against a ≈ 100 ms
    step)."""

    def __init__(self, model: nn.Module, lr: float, weight_decay: float = 0.0) -> None:
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.refresh()

    def refresh(self) -> None:
        tensors = (*self.model.parameters(), *self.model.buffers())
        self.tensors = [t.detach() for t in tensors if t.is_floating_point()]
        self.backup = [t.clone() for t in self.tensors]

    def save(self) -> None:
        torch._foreach_copy_(self.backup, self.tensors)

    def restore(self) -> None:
        torch._foreach_copy_(self.tensors, self.backup)

    def finite(self) -> bool:
        # a sum in the tensors' own dtype is NaN or inf if an entry is (or if the sum of
        # finite entries overflows: then the exact test decides); float64 accumulation
        # would cost 25× more (5 ms against 0.2 ms for madry_mnist on one CPU thread)
        total = torch.stack([t.sum().double() for t in self.tensors]).sum()
        if math.isfinite(float(total)):
            return True
        return all(bool(torch.isfinite(t).all()) for t in self.tensors)

    def error(self, where: str, what: str) -> DivergenceError:
        return DivergenceError(
            f"training diverged at {where}: {what}; the model keeps its weights from before "
            f"this step. Lower the learning rate (lr={self.lr:g})"
            + (f" or weight_decay (={self.weight_decay:g})" if self.weight_decay else "")
        )


def check_output_path(name: str, path: object) -> Path:
    """``path`` as a ``Path`` after checking that a file can be written there: not a
    folder, and its folder exists and is writable or can be created (so that an unwritable
    output fails before any work, not after a training run)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"{name} must be a file path, got {path!r}")
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{name} {str(p)!r} is a folder, not a file")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the folders below it will be created
    try:  # a real test: permissions alone say nothing for root, /proc or a read-only mount
        if not parent.is_dir():
            raise NotADirectoryError(f"{str(parent)!r} is not a folder")
        with tempfile.TemporaryFile(dir=parent):
            pass
        if p.exists() and not os.access(p, os.W_OK):
            raise PermissionError("no write permission")
    except OSError as exc:
        raise ValueError(f"{name} {str(p)!r} cannot be written: {exc}") from None
    return p


def _check_data(model: nn.Module, split: Split, name: str, clip) -> None:
    """The samples of a split against the model, once before any work: at least one,
    finite pixels (inside ``clip`` when given: the attacks need it), labels that fit the
    model's outputs (one forward of one sample in eval mode, which changes nothing)."""
    if len(split) == 0:
        raise ValueError(f"{name} is empty")
    x = split.x
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}.x contains NaN or inf")
    if clip is not None:
        lo = min(clip[0], float(torch.tensor(clip[0], dtype=torch.float32)))
        hi = max(clip[1], float(torch.tensor(clip[1], dtype=torch.float32)))
        if float(x.min()) < lo or float(x.max()) > hi:
            raise ValueError(
                f"{name}.x has values in [{float(x.min()):.9g}, {float(x.max()):.9g}], outside "
                f"clip={clip}; pass the data's pixel range as clip="
            )
    device, dtype = _placement(model)
    with torch.no_grad(), eval_mode(model):
        logits = forward(model, x[:1].to(device=device, dtype=dtype), f"{name}.x")
    if not isinstance(logits, torch.Tensor) or logits.ndim not in (1, 2):
        raise TypeError(f"model must return logits (n, classes) or (n,), got {logits!r:.80}")
    check_label_values(logits, split.y.to(device), name=f"{name}.y")


def _check_same_network(path, saved: dict, model: nn.Module) -> None:
    """The checkpoint's state_dict has the model's keys and shapes (checked before
    anything is loaded, so a refusal leaves the model untouched)."""
    own = model.state_dict()
    if set(saved) != set(own):
        missing = sorted(set(own) - set(saved))[:3]
        extra = sorted(set(saved) - set(own))[:3]
        raise ValueError(
            f"checkpoint {path} holds another network: keys missing there {missing}, "
            f"unknown here {extra}"
        )
    for k, t in own.items():
        v = saved[k]
        if not isinstance(v, torch.Tensor) or v.shape != t.shape:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(
                f"checkpoint {path} holds another network: {k} has shape {shape} there, "
                f"{tuple(t.shape)} here"
            )


# --------------------------------------------------------------------------- evaluation


def _split_of(data: Data | Split, split: str) -> tuple[Split, tuple[float, float] | None]:
    if isinstance(data, Split):
        return data, None
    if not isinstance(data, Data):
        raise TypeError(f"data must be a Data or Split, got {type(data).__name__}")
    check_choice("split", split, ("train", "val", "test"))
    s = getattr(data, split)
    if s is None:
        raise ValueError(f"data has no {split!r} split (load it with val_size > 0)")
    return s, data.pixel_range


def _clean_accuracy(model: nn.Module, split: Split, batch_size: int = 1024) -> float:
    hits = 0
    device, dtype = _placement(model)
    with torch.no_grad(), eval_mode(model):
        for i in range(0, len(split), batch_size):
            x = split.x[i : i + batch_size].to(device=device, dtype=dtype)
            hits += int(correct(model(x), split.y[i : i + batch_size].to(device)).sum())
    return hits / max(len(split), 1)


def _finite_logits(logits: torch.Tensor) -> torch.Tensor:
    if isinstance(logits, torch.Tensor) and not bool(torch.isfinite(logits).all()):
        raise ValueError(
            "model returned NaN or inf logits: its accuracy is not defined (are its weights "
            "finite?)"
        )
    return logits


def _split_batches(split: Split, batch_size: int):
    for i in range(0, len(split), batch_size):
        yield split.x[i : i + batch_size], split.y[i : i + batch_size]


def _loader_batches(loader, name: str = "data"):
    """The ``(x, y)`` batches of an iterable (a ``DataLoader``), each checked as a
    :class:`~tradeoff.torch.data.Split` (floating finite pixels, one label per sample)."""
    for b, batch in enumerate(loader):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise TypeError(
                f"{name} must yield (x, y) batches, got {type(batch).__name__} at batch {b}"
            )
        try:
            s = Split(batch[0], batch[1])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name}, batch {b}: {exc}") from None
        yield s.x, s.y


def _per_sample_batches(model, batches, attack, total: int | None, bar: _Progress | None):
    """Per-sample clean and robust correctness over ``batches`` of ``(x, y)``; with the
    first batch's inputs, labels and logits checked against the model."""
    clean, robust = [], []
    device, dtype = _placement(model)
    b = -1
    for b, (xb, yb) in enumerate(batches):
        if bar is not None:
            bar.update("evaluate", b, total or b + 1, "" if attack is None else "(attack)")
        x = xb.to(device=device, dtype=dtype)
        y = yb.to(device)
        with torch.no_grad(), eval_mode(model):
            clean.append(correct(_finite_logits(forward(model, x)), y).cpu())
        if attack is not None:
            a = attack
            if isinstance(attack, PGD) and attack.seed is not None and b > 0:
                # fresh random starts per batch; the first batch uses the attack's own seed
                a = attack.replace(seed=_batch_seed(attack.seed, 0, b))
            x_adv = a(model, x, y)
            if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
                raise TypeError(
                    f"attack must return a tensor of the shape of x {tuple(x.shape)}, got "
                    f"{x_adv!r:.80}"
                )
            with torch.no_grad(), eval_mode(model):
                robust.append(correct(_finite_logits(forward(model, x_adv)), y).cpu())
    if not clean:
        raise ValueError("data is empty: no batch to evaluate")
    c = torch.cat(clean)
    r = torch.cat(robust) if robust else None
    if bar is not None:
        done = f"clean {float(c.float().mean()):.4f}"
        bar.update(
            "evaluate",
            b + 1,
            b + 1,
            done + ("" if r is None else f" robust {float(r.float().mean()):.4f}"),
            final=True,
        )
    return c, r


def _per_sample(model, split: Split, attack, batch_size: int, bar: _Progress | None = None):
    batches = (len(split) + batch_size - 1) // batch_size
    return _per_sample_batches(model, _split_batches(split, batch_size), attack, batches, bar)


def _per_sample_of_loader(model, loader, attack, check_samples: int, bar: _Progress):
    """:func:`_per_sample_batches` over an iterable of ``(x, y)`` batches, and its first
    ``check_samples`` samples as a :class:`Split` (for the gradient-masking checks)."""
    first_x, first_y = [], []
    kept = 0

    def keep_first(batches):
        nonlocal kept
        for x, y in batches:
            if kept < check_samples:
                first_x.append(x[: check_samples - kept])
                first_y.append(y[: check_samples - kept])
                kept += len(first_x[-1])
            yield x, y

    total = len(loader) if hasattr(loader, "__len__") else None
    clean, robust = _per_sample_batches(
        model, keep_first(_loader_batches(loader)), attack, total, bar
    )
    return clean, robust, Split(torch.cat(first_x), torch.cat(first_y))


# The gradient-masking checks (Athalye et al. 2018, §3; AutoAttack's ``checks.py``): each
# re-attacks the first samples and returns (what it measured, what it compared against,
# the problem found or None).


def _check_eps_zero(model, sub: Split, attack: PGD, clean: torch.Tensor, batch_size: int):
    """At ε = 0 the attack cannot move: robust must equal clean accuracy, sample by sample."""
    _, r0 = _per_sample(model, sub, attack.replace(eps=0.0), batch_size)
    acc0, clean_acc = float(r0.float().mean()), float(clean.float().mean())
    problem = None
    if not torch.equal(r0, clean):
        problem = (
            f"robust accuracy at eps=0 ({acc0:.4f}) differs from clean accuracy ({clean_acc:.4f})"
        )
    return (acc0, clean_acc), problem


def _check_half_eps(model, sub: Split, attack: PGD, acc: float, tol: float, batch_size: int):
    """Half the budget cannot be stronger than the whole one (monotone in ε)."""
    _, r = _per_sample(
        model, sub, attack.replace(eps=attack.eps / 2, alpha=attack.alpha / 2), batch_size
    )
    acc_half = float(r.float().mean())
    problem = None
    if acc_half < acc - tol:
        problem = (
            f"robust accuracy at eps/2 ({acc_half:.4f}) is below that at eps ({acc:.4f}): "
            "not monotone in eps"
        )
    return (acc_half, acc), problem


def _check_quarter_steps(model, sub: Split, attack: PGD, acc: float, tol: float, batch_size: int):
    """A quarter of the steps cannot be stronger than all of them."""
    few = attack.steps // 4
    _, r = _per_sample(model, sub, attack.replace(steps=few), batch_size)
    acc_few = float(r.float().mean())
    problem = None
    if acc_few < acc - tol:
        problem = (
            f"robust accuracy with {few} steps ({acc_few:.4f}) is below that with "
            f"{attack.steps} ({acc:.4f}): more steps made the attack weaker"
        )
    return (acc_few, acc), problem


def _check_large_eps(model, sub: Split, attack: PGD, max_acc: float, batch_size: int):
    """An ε covering the whole pixel range (l2: its diagonal) must reach other images."""
    lo, hi = attack.clip
    dim = int(np.prod(sub.x.shape[1:]))
    big = (hi - lo) * (1.0 if attack.norm == "linf" else math.sqrt(dim))
    big_steps = max(attack.steps, 10)
    _, r = _per_sample(
        model,
        sub,
        attack.replace(eps=big, alpha=2.5 * big / big_steps, steps=big_steps),
        batch_size,
    )
    acc_big = float(r.float().mean())
    problem = None
    if acc_big > max_acc:
        problem = (
            f"robust accuracy at eps={big:g} (the whole pixel range) is {acc_big:.4f} > "
            f"{max_acc:g}: the attack cannot even reach other images"
        )
    return (acc_big, big), problem


def _check_zero_gradient(model, sub: Split, attack: PGD, tol: float):
    """The attack's loss must have a non-zero input gradient at the samples (AutoAttack's
    ``check_zero_gradients``): a zero gradient leaves PGD nothing to follow."""
    device, dtype = _placement(model)
    x = sub.x.to(device=device, dtype=dtype)
    y = sub.y.to(device)
    with eval_mode(model):
        g = input_gradient(model, x, lambda logits: per_sample_loss(logits, y, attack.loss).sum())
    zero = float((g.flatten(1).abs().amax(1) == 0).float().mean())
    problem = None
    if zero > tol:
        problem = (
            f"the input gradient of the attack's loss is exactly zero at {zero:.1%} of the "
            "samples: PGD has no direction to follow there"
        )
    return (zero, tol), problem


def _masking_checks(
    model,
    sub: Split,
    attack: PGD,
    clean: torch.Tensor,
    robust: torch.Tensor,
    max_acc: float,
    bs: int,
    bar: _Progress,
):
    """Every gradient-masking check on ``sub`` (the first samples): ``(checks, problems)``,
    the tolerance ``0.02 + 1/m`` for ``m`` samples."""
    m = len(sub)
    tol = 0.02 + 1.0 / m
    acc = float(robust.float().mean())
    runs = {
        "eps0_equals_clean": lambda: _check_eps_zero(model, sub, attack, clean, bs),
        "half_eps": lambda: _check_half_eps(model, sub, attack, acc, tol, bs),
        "quarter_steps": lambda: _check_quarter_steps(model, sub, attack, acc, tol, bs),
        "large_eps": lambda: _check_large_eps(model, sub, attack, max_acc, bs),
        "zero_gradient": lambda: _check_zero_gradient(model, sub, attack, tol),
    }
    if attack.steps < 4:
        del runs["quarter_steps"]  # a quarter of fewer than 4 steps is no attack
    checks, problems = {}, []
    head = "gradient-masking checks"
    for i, (name, run) in enumerate(runs.items()):
        bar.update(head, i, len(runs), f"({name})")
        checks[name], problem = run()
        if problem is not None:
            problems.append(problem)
    bar.update(head, len(runs), len(runs), f"{len(problems)} failed", final=True)
    return checks, problems


def _describe_attack(attack) -> str:
    if isinstance(attack, PGD):
        return attack.describe()
    return "no attack" if attack is None else getattr(attack, "__name__", type(attack).__name__)


def evaluate(
    model: nn.Module,
    data: Data | Split | Iterable,
    *,
    attack: PGD | Callable | None = None,
    split: str = "test",
    batch_size: int = 256,
    checks: bool = True,
    check_samples: int = 256,
    large_eps_max_acc: float = 0.1,
    warn: bool = True,
    progress: bool = False,
) -> EvalResult:
    """Clean and robust accuracy of ``model``, with gradient-masking sanity checks.

    Parameters
    ----------
    data:
        a :class:`~tradeoff.torch.data.Data` (its ``split``), a
        :class:`~tradeoff.torch.data.Split`, or any iterable of ``(x, y)`` batches — a
        ``torch.utils.data.DataLoader`` of your own data (``batch_size`` is then the
        loader's; each batch is checked like a ``Split``, and a ``PGD``'s ``clip`` is
        taken as the data's pixel range).
    attack:
        a :class:`~tradeoff.torch.attacks.PGD` (or any ``attack(model, x, y) -> x_adv``;
        the checks need a ``PGD``). ``None``: clean accuracy only. ε in pixel units.
    checks:
        on the first ``check_samples`` samples, re-attack with ε = 0 (must equal the
        clean accuracy exactly), ε/2 and ``steps // 4`` (must not be lower than at the full
        budget, beyond a tolerance ``0.02 + 1/n``), and ε covering the whole pixel range
        (robust accuracy must fall to at most ``large_eps_max_acc``); and the input
        gradient of the attack's loss must be non-zero (at most a fraction ``0.02 + 1/n``
        of exactly zero gradients). A failed check — the classic symptoms of gradient
        masking (Athalye et al. 2018; AutoAttack's checks) — raises a
        :class:`GradientMaskingWarning` if ``warn``, and is reported in
        ``EvalResult.checks`` / ``.warnings`` either way.
    progress:
        a progress bar with an ETA on stderr over the main evaluation, then one over the
        gradient-masking checks.

    Notes
    -----
    Checked before any work: the arguments, a non-empty split with finite pixels, labels
    (``(n,)`` or ``(n, 1)``) that the model can output (for an iterable: each batch as it
    comes); then every batch's logits are finite (``ValueError`` otherwise: an accuracy
    over NaN logits means nothing).
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    _placement(model)  # an nn.Module (TypeError otherwise)
    if attack is not None and not callable(attack):
        raise TypeError(
            f"attack must be a PGD, a callable attack(model, x, y) or None, got {attack!r}"
        )
    checks = check_bool("checks", checks)
    warn = check_bool("warn", warn)
    progress = check_bool("progress", progress)
    check_samples = check_int("check_samples", check_samples, low=1)
    large_eps_max_acc = check_real("large_eps_max_acc", large_eps_max_acc, low=0.0, high=1.0)
    bar = _Progress(progress)
    if isinstance(data, (Data, Split)):
        s, rng = _split_of(data, split)
        _check_data(model, s, "data" if isinstance(data, Split) else f"data.{split}", None)
        if isinstance(attack, PGD) and rng is not None and tuple(attack.clip) != tuple(rng):
            raise ValueError(
                f"attack.clip={attack.clip} differs from the data's pixel range {rng}; "
                "build the attack with clip=data.pixel_range"
            )
        clean, robust = _per_sample(model, s, attack, batch_size, bar)
        first = s.take(min(check_samples, len(s)))
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, torch.Tensor)):
        clean, robust, first = _per_sample_of_loader(model, data, attack, check_samples, bar)
    else:
        raise TypeError(
            f"data must be a Data, a Split or an iterable of (x, y) batches, got "
            f"{type(data).__name__}"
        )
    result_checks: dict = {}
    problems: list[str] = []
    if checks and isinstance(attack, PGD) and attack.eps > 0:
        m = len(first)
        result_checks, problems = _masking_checks(
            model, first, attack, clean[:m], robust[:m], large_eps_max_acc, batch_size, bar
        )
        if warn:
            for p in problems:
                warnings.warn(
                    f"possible gradient masking: {p}", GradientMaskingWarning, stacklevel=2
                )
    return EvalResult(
        clean_acc=float(clean.float().mean()),
        robust_acc=None if robust is None else float(robust.float().mean()),
        n=len(clean),
        attack=_describe_attack(attack),
        checks=result_checks,
        warnings=tuple(problems),
    )
