"""The learned image manifold of Kim et al. 2019 ("Bridging adversarial robustness and
gradient interpretability", §2.1, Fig. 1, App. A.3): a VAE-GAN whose reconstruction is the
projection of an image onto an approximate data manifold.

- :func:`build_manifold_model` — the VAE-GAN of the authors' reference code (Larsen et al.
  2016 with an ℓ1 reconstruction loss; ``vae_gans.py`` of
  github.com/1202kbs/Robustness-and-Interpretability, class ``MNIST_VAE_GAN``) for
  ``c × 28 × 28`` images, or the same encoder and decoder as a plain VAE (no
  discriminator), the cheaper option; a ``width`` multiplier scales every layer.
- :func:`train_manifold_model` — the reference training loop (``trainers.py``,
  ``TrainerForVAEGAN``): per mini-batch one encoder, one decoder and one discriminator
  update, in that order, each from a fresh forward pass.
- :class:`ManifoldModel` — :meth:`~ManifoldModel.encode`, :meth:`~ManifoldModel.decode`
  and the projection :meth:`~ManifoldModel.project` ``π(x) = dec(enc_μ(x))`` (§2.1: the
  decoder applied to the encoder's mean).
- :func:`project_latent` — footnote 2's alternative ``π(x) = dec(z*)``,
  ``z* = argmin_z ‖x − dec(z)‖₂``, by Adam or L-BFGS started from the encoder's mean.
- :func:`manifold_distance` — ``d_π(x) = ‖x − π(x)‖₂`` per image, over all pixels.
- :func:`reconstruction_report` — ``d_π`` of test images against the trivial baseline
  "predict the mean training image" (and the best linear manifold of the same dimension,
  PCA), so that a model that has not converged is detected.

Units. Images are in ``[−1, 1]`` (the decoder ends in tanh; load data with
``pixel_range=(-1.0, 1.0)``, Kim et al.'s range). Distances are Euclidean norms in these
pixel units over all ``c·h·w`` pixels; ℓ1 reconstruction numbers are per pixel unless
named a sum.

Architecture (reference code; every conv/deconv kernel 4×4; "SAME" is TensorFlow's
padding, reproduced exactly, including the odd extra row/column at the bottom/right of a
stride-2 convolution of a 7×7 map, so the flattened sizes are the reference's):

- encoder: conv 64 /2 (28→14), conv 128 /2 (→7), conv 256 /2 (→4), each ReLU then
  BatchNorm; flatten 4·4·256; dense 2·zdim then BatchNorm → (μ, log σ²).
- decoder: dense 2·2·256, ReLU, BatchNorm, reshape 256×2×2; deconv 256 ×2 SAME (→4),
  deconv 128 ×1 VALID (→7), deconv 32 ×2 SAME (→14), each ReLU then BatchNorm; deconv c
  ×2 SAME (→28), tanh.
- discriminator: conv 32 /2 ReLU (→14); conv 128 /2 (→7), conv 256 /2 (→4), conv 256 /2
  (→2), each ReLU then BatchNorm; flatten 2·2·256; dense 512, ReLU, BatchNorm; dense 1,
  a logit (the reference's sigmoid is folded into the losses: ``−log D = softplus(−l)``,
  ``−log(1 − D) = softplus(l)``, without the reference's ``+1e-8`` inside the logs).

``width`` multiplies every channel and unit count above (rounded, at least 1) except
``zdim``, the image channels and the discriminator's single output. As in the reference
(``layers.py``: the activation is applied, then batch normalisation), each block is
layer → activation → BatchNorm, not layer → BatchNorm → activation. Weights are
Glorot-uniform, biases zero (the reference's initialisers). BatchNorm uses TensorFlow's
ε = 1e-3 and PyTorch's momentum 0.1 (TensorFlow's default decay 0.99 is momentum 0.01,
which after a short reduced-scale run of ≈ 100 steps would leave ≈ 1/3 of the initial
running statistics in the eval-mode network that :meth:`ManifoldModel.project` uses).

Losses (reference, per image; ``x̃ = dec(μ + σ·ε)``, ``ε, z_p ~ N(0, I)``):
``r = Σ_pixels |x − x̃|``, ``KL = −½ Σ (1 + log σ² − μ² − σ²)``; encoder
``mean(r + KL)``; decoder ``mean(λ·r − log D(x̃) − log D(dec(z_p)))``; discriminator
``−mean(log D(x) + log(1 − D(x̃)) + log(1 − D(dec(z_p))))``. Three Adam optimisers,
lr 5e-4, betas (0.5, 0.9) as in the code (the paper states β₂ = 0.999), batch 100; 30
epochs for MNIST, 60 for Fashion-MNIST in the paper. ``λ`` defaults to 1, the class
default of ``vae_gans.py``; the reference notebooks that trained the paper's models pass
``lmda=5e-3`` (MNIST) and ``5e-4`` (Fashion-MNIST): :data:`REFERENCE_LAMBDA`. The plain
VAE minimises ``mean(r + KL)`` over encoder and decoder jointly.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tradeoff._validate import check_bool, check_choice, check_int, check_real, check_seed

from .attacks import _check_model_matches, eval_mode
from .train import DivergenceError, _placement, _Progress, _StepGuard

__all__ = [
    "CONVERGED_RATIO",
    "KINDS",
    "REFERENCE_LAMBDA",
    "DivergenceError",
    "ManifoldModel",
    "build_manifold_model",
    "manifold_distance",
    "project_latent",
    "reconstruction_report",
    "train_manifold_model",
]

KINDS = ("vaegan", "vae")
#: λ (weight of the ℓ1 reconstruction in the decoder's loss) in the reference notebooks
#: ``1.1 MNIST VAE-GAN Training`` and ``2.1 FMNIST VAE-GAN Training``
REFERENCE_LAMBDA = {"mnist": 5e-3, "fashion_mnist": 5e-4}
#: :func:`reconstruction_report` calls a model converged when its mean ``d_π`` of test
#: images is below this fraction of the mean-image baseline's (see there)
CONVERGED_RATIO = 0.5

_IMAGE_HW = (28, 28)
_MAX_CHANNELS = 64
_MAX_WIDTH = 16.0
_MAX_ZDIM = 4096
_BN_EPS = 1e-3  # TensorFlow's tf.layers.batch_normalization default
_BN_MOMENTUM = 0.1
#: float32's rounding of ±1: data stored in float32 may reach it after a rescaling
_RANGE_TOL = 1e-6


# --------------------------------------------------------------------------- layers


class _SameConv2d(nn.Module):
    """A convolution with TensorFlow's "SAME" padding: output ``ceil(n / stride)``, padded
    by ``max((out − 1)·stride + k − n, 0)`` zeros, the odd one at the bottom/right."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=0)

    def _pad(self, n: int) -> tuple[int, int]:
        out = -(-n // self.stride)
        total = max((out - 1) * self.stride + self.kernel - n, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self._pad(x.shape[-1])
        top, bottom = self._pad(x.shape[-2])
        return self.conv(F.pad(x, (left, right, top, bottom)))


def _tensor(t: torch.Tensor | None) -> torch.Tensor:
    """A BatchNorm buffer that tracking running statistics guarantees."""
    assert t is not None
    return t


def _bn1(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=_BN_EPS, momentum=_BN_MOMENTUM)


def _bn2(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS, momentum=_BN_MOMENTUM)


def _scaled(c: int, width: float) -> int:
    return max(1, round(c * width))


def _encoder(c_img: int, zdim: int, width: float) -> nn.Sequential:
    c1, c2, c3 = (_scaled(c, width) for c in (64, 128, 256))
    return nn.Sequential(
        _SameConv2d(c_img, c1, 4, 2), nn.ReLU(), _bn2(c1),  # 28 → 14
        _SameConv2d(c1, c2, 4, 2), nn.ReLU(), _bn2(c2),  # 14 → 7
        _SameConv2d(c2, c3, 4, 2), nn.ReLU(), _bn2(c3),  # 7 → 4 (TF SAME)
        nn.Flatten(),
        nn.Linear(c3 * 4 * 4, 2 * zdim),
        _bn1(2 * zdim),
    )  # fmt: skip


def _decoder(c_img: int, zdim: int, width: float) -> nn.Sequential:
    c0, c1, c2 = (_scaled(c, width) for c in (256, 128, 32))
    return nn.Sequential(
        nn.Linear(zdim, 2 * 2 * c0), nn.ReLU(), _bn1(2 * 2 * c0),
        nn.Unflatten(1, (c0, 2, 2)),
        nn.ConvTranspose2d(c0, c0, 4, 2, padding=1), nn.ReLU(), _bn2(c0),  # 2 → 4 (SAME)
        nn.ConvTranspose2d(c0, c1, 4, 1, padding=0), nn.ReLU(), _bn2(c1),  # 4 → 7 (VALID)
        nn.ConvTranspose2d(c1, c2, 4, 2, padding=1), nn.ReLU(), _bn2(c2),  # 7 → 14 (SAME)
        nn.ConvTranspose2d(c2, c_img, 4, 2, padding=1), nn.Tanh(),  # 14 → 28 (SAME)
    )  # fmt: skip


def _discriminator(c_img: int, width: float) -> nn.Sequential:
    c1, c2, c3, c4, c5 = (_scaled(c, width) for c in (32, 128, 256, 256, 512))
    return nn.Sequential(
        _SameConv2d(c_img, c1, 4, 2), nn.ReLU(),  # 28 → 14
        _SameConv2d(c1, c2, 4, 2), nn.ReLU(), _bn2(c2),  # → 7
        _SameConv2d(c2, c3, 4, 2), nn.ReLU(), _bn2(c3),  # → 4
        _SameConv2d(c3, c4, 4, 2), nn.ReLU(), _bn2(c4),  # → 2
        nn.Flatten(),
        nn.Linear(c4 * 2 * 2, c5), nn.ReLU(), _bn1(c5),
        nn.Linear(c5, 1),  # a logit: D = sigmoid(logit)
    )  # fmt: skip


def _glorot_init(module: nn.Module) -> None:
    # the reference's tf.glorot_uniform_initializer kernels and zero biases
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- the model


def _check_shape(input_shape: object) -> tuple[int, int, int]:
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple (channels, 28, 28), got {input_shape!r}")
    ok = len(input_shape) == 3 and all(
        isinstance(s, int) and not isinstance(s, bool) for s in input_shape
    )
    if not ok or tuple(input_shape[1:]) != _IMAGE_HW or not 1 <= input_shape[0] <= _MAX_CHANNELS:
        raise ValueError(
            f"input_shape must be (channels, 28, 28) with 1 <= channels <= {_MAX_CHANNELS} "
            f"(the reference VAE-GAN is made for 28×28 images), got {input_shape!r}"
        )
    return (int(input_shape[0]), 28, 28)


def _check_images(
    x: object, shape: tuple[int, ...], name: str = "x", *, unit_range: bool = False
) -> torch.Tensor:
    """``x`` after checking: a float32/float64 tensor ``(n, *shape)``, n ≥ 1, finite, and
    (``unit_range``) inside ``[−1, 1]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be a float32 or float64 tensor, got dtype {x.dtype}")
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape) or x.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n, {', '.join(map(str, shape))}) with n >= 1, got "
            f"{tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name} contains NaN or inf")
    if unit_range:
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.0 - _RANGE_TOL or hi > 1.0 + _RANGE_TOL:
            raise ValueError(
                f"{name} has values in [{lo:.6g}, {hi:.6g}], outside [-1, 1] (the decoder's "
                "tanh range); load the data with pixel_range=(-1.0, 1.0)"
            )
    return x


class ManifoldModel(nn.Module):
    """An encoder, a decoder and (VAE-GAN) a discriminator; see the module docstring.

    Parameters
    ----------
    encoder:
        maps images ``(n, *input_shape)`` to ``(n, 2·zdim)``: μ, then log σ².
    decoder:
        maps latents ``(n, zdim)`` to images ``(n, *input_shape)`` in ``[−1, 1]``.
    discriminator:
        maps images to one logit per image, ``(n, 1)`` or ``(n,)``; None for a plain VAE.
    zdim:
        the latent dimension.
    input_shape:
        the shape of one image.
    width:
        the width multiplier the networks were built with (recorded, not applied).

    Notes
    -----
    ``model(x)`` is ``decode(μ(x))`` in the model's current train/eval mode;
    :meth:`project` is the same in eval mode (BatchNorm's running statistics), the
    manifold projection π of Kim et al. §2.1.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        discriminator: nn.Module | None = None,
        *,
        zdim: int,
        input_shape: Sequence[int] = (1, 28, 28),
        width: float = 1.0,
    ) -> None:
        super().__init__()
        for name, m in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(m, nn.Module):
                raise TypeError(f"{name} must be an nn.Module, got {type(m).__name__}")
        if discriminator is not None and not isinstance(discriminator, nn.Module):
            raise TypeError(
                f"discriminator must be an nn.Module or None, got {type(discriminator).__name__}"
            )
        if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in input_shape
        ):
            raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        self.zdim = check_int("zdim", zdim, low=1, high=_MAX_ZDIM)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.width = check_real("width", width, low=0.0, low_open=True, high=_MAX_WIDTH)

    @property
    def gan(self) -> bool:
        """Whether the model has a discriminator (VAE-GAN) or not (plain VAE)."""
        return self.discriminator is not None

    @property
    def kind(self) -> str:
        """``"vaegan"`` or ``"vae"``."""
        return "vaegan" if self.gan else "vae"

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, zdim={self.zdim}, width={self.width:g}"

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, log σ²)``, each ``(n, zdim)``, of the approximate posterior of images
        ``x`` ``(n, *input_shape)`` (current train/eval mode)."""
        h = self.encoder(x)
        if h.ndim != 2 or h.shape[1] != 2 * self.zdim:
            raise ValueError(
                f"the encoder must output (n, 2·zdim) = (n, {2 * self.zdim}), got {tuple(h.shape)}"
            )
        return h[:, : self.zdim], h[:, self.zdim :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(n, *input_shape)`` in ``[−1, 1]`` from latents ``z`` ``(n, zdim)``
        (current train/eval mode)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(μ(x))`` in the current train/eval mode (see :meth:`project`)."""
        return self.decode(self.encode(x)[0])

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """π(x) = dec(μ(x)) (Kim et al. §2.1), in eval mode; the train/eval mode of every
        submodule is restored afterwards. Differentiable in ``x`` (wrap the call in
        ``torch.no_grad()`` when no gradient is needed). ``x``: ``(n, *input_shape)``,
        finite, on the model's device and dtype; the result has ``x``'s shape."""
        x = _check_images(x, self.input_shape, "x")
        _check_model_matches(self, x)
        with eval_mode(self):
            return self(x)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's logits ``(n,)`` (``D(x) = sigmoid(logit)``)."""
        if self.discriminator is None:
            raise ValueError("this model is a plain VAE: it has no discriminator")
        return self.discriminator(x).reshape(x.shape[0])


def build_manifold_model(
    kind: str = "vaegan",
    *,
    zdim: int = 10,
    width: float = 1.0,
    input_shape: Sequence[int] = (1, 28, 28),
    seed: int | None = 0,
) -> ManifoldModel:
    """The reference VAE-GAN (``kind="vaegan"``) or its encoder and decoder alone
    (``kind="vae"``), as described in the module docstring.

    Parameters
    ----------
    kind:
        one of ``KINDS``.
    zdim:
        latent dimension (10 for MNIST / Fashion-MNIST in the reference), 1 to 4096.
    width:
        multiplier of every channel and unit count (see the module docstring), in
        ``(0, 16]``; 1 is the reference.
    input_shape:
        ``(channels, 28, 28)``; the architecture is made for 28×28 images.
    seed:
        the weights are initialised from this seed without touching torch's global random
        state; None: from the global state.
    """
    check_choice("kind", kind, KINDS)
    zdim = check_int("zdim", zdim, low=1, high=_MAX_ZDIM)
    width = check_real("width", width, low=0.0, low_open=True, high=_MAX_WIDTH)
    shape = _check_shape(input_shape)
    if seed is None:
        return _build(kind, zdim, width, shape)
    seed = check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(kind, zdim, width, shape)


def _build(kind: str, zdim: int, width: float, shape: tuple[int, int, int]) -> ManifoldModel:
    c = shape[0]
    disc = _discriminator(c, width) if kind == "vaegan" else None
    model = ManifoldModel(
        _encoder(c, zdim, width),
        _decoder(c, zdim, width),
        disc,
        zdim=zdim,
        input_shape=shape,
        width=width,
    )
    _glorot_init(model)
    return model


# --------------------------------------------------------------------------- training


@contextlib.contextmanager
def _frozen_statistics(*modules: nn.Module | None) -> Iterator[None]:
    """Forward passes in train mode (batch statistics) that leave the BatchNorm running
    statistics unchanged: in the reference each optimiser step runs only the BatchNorm
    updates of its own network (``tf.GraphKeys.UPDATE_OPS`` of its scope)."""
    bns = [
        m
        for mod in modules
        if mod is not None
        for m in mod.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    # momentum 0 makes BatchNorm's own in-place update an exact no-op on the running mean
    # and variance (restoring them afterwards would change tensors autograd saved); the
    # batch counter is restored
    saved = [(m, m.momentum, _tensor(m.num_batches_tracked).clone()) for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, count in saved:
            m.momentum = momentum
            _tensor(m.num_batches_tracked).copy_(count)


def _l1_sum(x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
    return (x - x_rec).abs().flatten(1).sum(1)


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (1.0 + logvar - mu.square() - logvar.exp()).sum(1)


def _sample(mu: torch.Tensor, logvar: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def _prior(model: ManifoldModel, n: int, like: torch.Tensor, gen: torch.Generator):
    return torch.randn((n, model.zdim), generator=gen, device=like.device, dtype=like.dtype)


class _Stepper:
    """Applies one loss to one parameter group (gradients of that loss only: other
    networks' ``.grad`` are untouched), after checking the loss is finite."""

    def __init__(self, guard: _StepGuard) -> None:
        self.guard = guard
        self.where = ""

    def __call__(self, loss: torch.Tensor, opt: torch.optim.Optimizer, what: str) -> float:
        value = float(loss.detach())
        if not math.isfinite(value):
            self.guard.restore()
            raise self.guard.error(self.where, f"the {what} loss became {value}")
        params = [p for group in opt.param_groups for p in group["params"]]
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        for p in params:
            p.grad = None
        return value


def _vaegan_step(model, x, gen, lam, opts, step) -> dict[str, float]:
    """The reference's three updates (``TrainerForVAEGAN.train_step``), each from a fresh
    forward pass with fresh ε and z_p."""
    enc, dec, disc = model.encoder, model.decoder, model.discriminator
    n = x.shape[0]
    # 1. encoder: mean(r + KL); only the encoder's BatchNorm statistics move
    mu, logvar = model.encode(x)
    with _frozen_statistics(dec):
        x_rec = dec(_sample(mu, logvar, gen))
    r, kl = _l1_sum(x, x_rec), _kl(mu, logvar)
    enc_loss = step((r + kl).mean(), opts[0], "encoder")
    r_mean, kl_mean = float(r.detach().mean()), float(kl.detach().mean())
    # 2. decoder: mean(λ·r − log D(x̃) − log D(dec(z_p)))
    with torch.no_grad(), _frozen_statistics(enc):
        mu, logvar = model.encode(x)
    x_rec = dec(_sample(mu, logvar, gen))
    x_fake = dec(_prior(model, n, mu, gen))
    with _frozen_statistics(disc):
        l_rec, l_fake = model.discriminate(x_rec), model.discriminate(x_fake)
    dec_loss = lam * _l1_sum(x, x_rec) + F.softplus(-l_rec) + F.softplus(-l_fake)
    dec_value = step(dec_loss.mean(), opts[1], "decoder")
    # 3. discriminator: −mean(log D(x) + log(1 − D(x̃)) + log(1 − D(dec(z_p))))
    with torch.no_grad(), _frozen_statistics(enc, dec):
        mu, logvar = model.encode(x)
        x_rec = dec(_sample(mu, logvar, gen))
        x_fake = dec(_prior(model, n, mu, gen))
    l_real = model.discriminate(x)
    l_fake, l_rec = model.discriminate(x_fake), model.discriminate(x_rec)
    disc_loss = F.softplus(-l_real) + F.softplus(l_rec) + F.softplus(l_fake)
    disc_value = step(disc_loss.mean(), opts[2], "discriminator")
    return {
        "enc_loss": enc_loss,
        "dec_loss": dec_value,
        "disc_loss": disc_value,
        "reconstruction_l1": r_mean,
        "kl": kl_mean,
    }


def _vae_step(model, x, gen, opt, step) -> dict[str, float]:
    mu, logvar = model.encode(x)
    x_rec = model.decode(_sample(mu, logvar, gen))
    r, kl = _l1_sum(x, x_rec), _kl(mu, logvar)
    loss = step((r + kl).mean(), opt, "VAE")
    return {
        "enc_loss": loss,
        "dec_loss": None,
        "disc_loss": None,
        "reconstruction_l1": float(r.detach().mean()),
        "kl": float(kl.detach().mean()),
    }


def _check_betas(betas: object) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b1 = check_real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True)
    b2 = check_real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True)
    return b1, b2


def train_manifold_model(
    model: ManifoldModel,
    x_train: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 100,
    lr: float = 5e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    lam: float = 1.0,
    seed: int = 0,
    progress: bool = False,
    callback: Callable[[dict], object] | None = None,
) -> dict:
    """Train ``model`` in place on images ``x_train`` (the reference loop; see the module
    docstring for the losses).

    Parameters
    ----------
    model:
        from :func:`build_manifold_model` (or a :class:`ManifoldModel` of your own).
    x_train:
        images ``(n, *model.input_shape)`` in ``[−1, 1]``, n ≥ 2, on any device (each
        batch is moved and cast to the model's device and dtype).
    epochs:
        passes over the data (Kim et al.: 30 for MNIST, 60 for Fashion-MNIST).
    batch_size:
        images per update (100 in the reference); ``min(batch_size, n)`` is used. Each
        epoch runs ``n // batch_size`` full batches of a fresh random order (the reference
        runs ``round(n / 100)`` batches in a fixed order); the left-over images of one
        epoch are in other batches of the next.
    lr, betas:
        Adam's, the same for the two or three optimisers (encoder, decoder,
        discriminator); the reference code's 5e-4 and (0.5, 0.9).
    lam:
        λ, the weight of the ℓ1 reconstruction in the decoder's loss (VAE-GAN only; the
        notebooks' values are :data:`REFERENCE_LAMBDA`).
    seed:
        seeds the data order and the draws of ε and z_p (torch generators of their own;
        torch's global random state is neither used nor changed). With the same seed,
        model and data the weights are bit-identical on the same machine (CPU, one
        thread; GPU kernels may not be deterministic).
    progress:
        a progress bar on stderr.
    callback:
        called after each epoch with that epoch's history record; if it returns
        ``True`` training stops there.

    Returns
    -------
    dict
        ``history``: one record per epoch, ``{"epoch", "enc_loss", "dec_loss",
        "disc_loss", "reconstruction_l1", "kl", "seconds"}`` (means over the epoch's
        batches, from the encoder update's forward pass: ``reconstruction_l1`` is the sum
        over pixels of ``|x − x̃|`` per image, in pixel units; for a plain VAE
        ``enc_loss`` is the joint loss and ``dec_loss``/``disc_loss`` are None);
        ``seconds``: the total wall time; ``config``: the settings.

    Raises
    ------
    DivergenceError
        a loss or a weight became NaN or inf; the model keeps its weights from before
        that mini-batch (the optimisers' moments are not rolled back).

    Notes
    -----
    The model is trained in train mode and left in the train/eval mode each submodule was
    in.
    """
    if not isinstance(model, ManifoldModel):
        raise TypeError(f"model must be a ManifoldModel, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=2)
    lr = check_real("lr", lr, low=0.0, low_open=True, high=1e30)
    betas = _check_betas(betas)
    lam = check_real("lam", lam, low=0.0, high=1e30)
    seed = check_seed(seed)
    progress = check_bool("progress", progress)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    x_train = _check_images(x_train, model.input_shape, "x_train", unit_range=True).detach()
    n = int(x_train.shape[0])
    if n < 2:
        raise ValueError(f"x_train must hold at least 2 images (batch statistics), got {n}")
    device, dtype = _placement(model)
    b = min(batch_size, n)
    batches = n // b

    def adam(module: nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(module.parameters(), lr=lr, betas=betas)

    opts: tuple[torch.optim.Adam, ...]
    if model.discriminator is not None:
        opts = (adam(model.encoder), adam(model.decoder), adam(model.discriminator))
    else:
        both = [*model.encoder.parameters(), *model.decoder.parameters()]
        opts = (torch.optim.Adam(both, lr=lr, betas=betas),)
    # two independent streams from one seed: the data order and the Gaussian draws
    seeds = np.random.default_rng([seed, 0x4D414E]).integers(0, 2**62, size=2)
    order_gen = torch.Generator().manual_seed(int(seeds[0]))
    noise_gen = torch.Generator(device=device).manual_seed(int(seeds[1]))
    guard = _StepGuard(model, lr)
    step = _Stepper(guard)
    config = {
        "kind": model.kind,
        "zdim": model.zdim,
        "width": model.width,
        "epochs": epochs,
        "batch_size": b,
        "batches_per_epoch": batches,
        "n_train": n,
        "lr": lr,
        "betas": list(betas),
        "lam": lam,
        "seed": seed,
    }
    history: list[dict] = []
    bar = _Progress(progress)
    modes = [(m, m.training) for m in model.modules()]
    t_start = time.perf_counter()
    model.train()
    try:
        for epoch in range(epochs):
            t_epoch = time.perf_counter()
            perm = torch.randperm(n, generator=order_gen)
            sums: dict[str, float] = {}
            head = f"manifold {model.kind} epoch {epoch + 1}/{epochs}"
            for i in range(batches):
                x = x_train[perm[i * b : (i + 1) * b]].to(device=device, dtype=dtype)
                step.where = f"epoch {epoch + 1}, batch {i + 1}"
                guard.save()
                if model.gan:
                    out = _vaegan_step(model, x, noise_gen, lam, opts, step)
                else:
                    out = _vae_step(model, x, noise_gen, opts[0], step)
                if not guard.finite():
                    guard.restore()
                    raise guard.error(step.where, "a weight became NaN or inf in an update")
                for k, v in out.items():
                    if v is not None:
                        sums[k] = sums.get(k, 0.0) + v
                bar.update(head, i + 1, batches, f"rec {sums['reconstruction_l1'] / (i + 1):.2f}")
            record: dict[str, float | None] = {"epoch": epoch + 1}
            for k in ("enc_loss", "dec_loss", "disc_loss", "reconstruction_l1", "kl"):
                record[k] = sums[k] / batches if k in sums else None
            record["seconds"] = time.perf_counter() - t_epoch
            history.append(record)
            bar.update(
                head,
                batches,
                batches,
                f"rec {record['reconstruction_l1']:.2f} kl {record['kl']:.2f} "
                f"({record['seconds']:.1f} s)",
                final=True,
            )
            if callback is not None and callback(dict(record)) is True:
                break
    finally:
        for m, mode in modes:
            m.training = mode
    return {"history": history, "seconds": time.perf_counter() - t_start, "config": config}


# --------------------------------------------------------------------------- projections


def project_latent(
    model: ManifoldModel,
    x: torch.Tensor,
    *,
    steps: int = 200,
    lr: float | None = None,
    init: str | torch.Tensor = "encoder",
    optimizer: str = "adam",
    return_latent: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Footnote 2 of Kim et al.: π(x) = dec(z*), z* = argmin_z ‖x − dec(z)‖₂, per image.

    The summed squared error over the batch (separable: each image's z is optimised for
    that image alone) is minimised in ``z`` with the model in eval mode (its train/eval
    modes are restored, its weights and their ``.grad`` untouched). The best iterate of
    each image is kept, so the result is never further from ``x`` than the start (with
    ``init="encoder"``: never further than :meth:`ManifoldModel.project`).

    Parameters
    ----------
    x:
        images ``(n, *model.input_shape)``, finite, on the model's device and dtype.
    steps:
        optimiser iterations (L-BFGS: at most this many, 1.25× as many evaluations).
    lr:
        step size; None: 0.05 for Adam (latents are of unit scale), 1 for L-BFGS (with a
        strong-Wolfe line search).
    init:
        ``"encoder"`` (the encoder's mean, eval mode), ``"zeros"`` (the prior's mean), or
        a tensor ``(n, zdim)``.
    optimizer:
        ``"adam"`` or ``"lbfgs"``.
    return_latent:
        also return ``z*`` ``(n, zdim)``.
    """
    if not isinstance(model, ManifoldModel):
        raise TypeError(f"model must be a ManifoldModel, got {type(model).__name__}")
    x = _check_images(x, model.input_shape, "x").detach()
    _check_model_matches(model, x)
    steps = check_int("steps", steps, low=1, high=10**7)
    check_choice("optimizer", optimizer, ("adam", "lbfgs"))
    if lr is None:
        lr = 0.05 if optimizer == "adam" else 1.0
    lr = check_real("lr", lr, low=0.0, low_open=True, high=1e30)
    return_latent = check_bool("return_latent", return_latent)
    n = x.shape[0]
    with eval_mode(model):
        if isinstance(init, torch.Tensor):
            if tuple(init.shape) != (n, model.zdim):
                raise ValueError(
                    f"init must have shape ({n}, {model.zdim}), got {tuple(init.shape)}"
                )
            if not init.is_floating_point() or not bool(torch.isfinite(init).all()):
                raise ValueError("init must be a finite floating tensor")
            z0 = init.detach().to(device=x.device, dtype=x.dtype)
        else:
            check_choice("init", init, ("encoder", "zeros"))
            if init == "encoder":
                with torch.no_grad():
                    z0 = model.encode(x)[0]
            else:
                z0 = torch.zeros((n, model.zdim), device=x.device, dtype=x.dtype)
        z = z0.clone().requires_grad_(True)
        best_z = z0.clone()
        best = torch.full((n,), math.inf, device=x.device, dtype=x.dtype)

        def objective() -> torch.Tensor:
            nonlocal best
            with torch.enable_grad():
                per = (model.decode(z) - x).square().flatten(1).sum(1)
                loss = per.sum()
                (z.grad,) = torch.autograd.grad(loss, z)
            d = per.detach()
            better = d < best  # NaN never is: a diverging iterate is not kept
            best = torch.where(better, d, best)
            best_z.copy_(torch.where(better[:, None], z.detach(), best_z))
            return loss.detach()

        opt: torch.optim.Optimizer
        if optimizer == "adam":
            opt = torch.optim.Adam([z], lr=lr)
            for _ in range(steps):
                objective()
                opt.step()
        else:
            opt = torch.optim.LBFGS(
                [z],
                lr=lr,
                max_iter=steps,
                tolerance_grad=0.0,
                tolerance_change=0.0,
                history_size=20,
                line_search_fn="strong_wolfe",
            )
            opt.step(objective)
        z.grad = None
        with torch.no_grad():
            objective_last = (model.decode(z) - x).square().flatten(1).sum(1)
            better = objective_last < best
            best_z = torch.where(better[:, None], z.detach(), best_z)
            out = model.decode(best_z)
    if return_latent:
        return out, best_z
    return out


def _as_projection(x: torch.Tensor, projection: object, batch_size: int) -> torch.Tensor:
    if isinstance(projection, torch.Tensor):
        if tuple(projection.shape) != tuple(x.shape):
            raise ValueError(
                f"projection must have x's shape {tuple(x.shape)}, got {tuple(projection.shape)}"
            )
        if not projection.is_floating_point() or not bool(torch.isfinite(projection).all()):
            raise ValueError("projection must be a finite floating tensor")
        return projection.detach()
    if isinstance(projection, ManifoldModel):
        fn = projection.project
    elif callable(projection):
        fn = projection
    else:
        raise TypeError(
            "projection must be a callable x ↦ π(x), a ManifoldModel or a tensor π(x), got "
            f"{type(projection).__name__}"
        )
    parts = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            chunk = x[i : i + batch_size]
            p = fn(chunk)
            if not isinstance(p, torch.Tensor) or tuple(p.shape) != tuple(chunk.shape):
                got = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
                raise ValueError(
                    f"projection must return a tensor of its input's shape {tuple(chunk.shape)}, "
                    f"got {got}"
                )
            if not p.is_floating_point() or not bool(torch.isfinite(p).all()):
                raise ValueError("projection returned a non-floating tensor or NaN / inf")
            parts.append(p.detach())
    return torch.cat(parts)


def _check_any_images(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (n, ...), got shape {tuple(x.shape)}")
    return _check_images(x, tuple(x.shape[1:]), name).detach()


def manifold_distance(
    x: torch.Tensor,
    projection: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor,
    *,
    batch_size: int = 1000,
) -> np.ndarray:
    """``d_π(x) = ‖x − π(x)‖₂`` per image, over all its pixels, in pixel units (float64,
    shape ``(n,)``; Kim et al. §2.1).

    ``projection``: a tensor π(x) of ``x``'s shape, a :class:`ManifoldModel` (its
    :meth:`~ManifoldModel.project`), or any callable ``x ↦ π(x)`` (applied without
    gradients to chunks of ``batch_size`` images, e.g. a lambda around
    :func:`project_latent`). The difference is taken in float64.
    """
    x = _check_any_images(x, "x")
    batch_size = check_int("batch_size", batch_size, low=1)
    p = _as_projection(x, projection, batch_size)
    diff = x.to(torch.float64) - p.to(device=x.device, dtype=torch.float64)
    return diff.flatten(1).norm(dim=1).cpu().numpy()


def reconstruction_report(
    model: ManifoldModel,
    x_test: torch.Tensor,
    x_train: torch.Tensor | None = None,
    *,
    batch_size: int = 1000,
) -> dict:
    """How well π = :meth:`ManifoldModel.project` reconstructs test images, against
    baselines that need no training.

    Returns a dict (distances ℓ2 over all pixels, in pixel units; ℓ1 per pixel):

    - ``n``; ``d_mean``, ``d_median``: mean and median of ``d_π`` over ``x_test``;
      ``l1_mean``: mean ``|x − π(x)|`` per pixel.
    - ``baseline_d_mean``, ``baseline_d_median``, ``baseline_l1_mean``: the same for
      the trivial projection "predict the mean image" of ``x_train`` (of ``x_test`` when
      ``x_train`` is None: a baseline fitted on the test set itself, harder to beat).
    - ``pca_d_mean``: mean ``d`` of the best linear manifold of the model's dimension,
      the mean image plus the top ``zdim`` principal components of the same images;
      ``beats_pca = d_mean < pca_d_mean``.
    - ``ratio = d_mean / baseline_d_mean``; ``converged = ratio < CONVERGED_RATIO`` (0.5);
      ``baseline``: ``"train mean"`` or ``"test mean"``.

    The criterion. The mean image is the best constant predictor: an untrained or
    collapsed decoder (about one image for every input) scores a ratio near 1 or above.
    PCA with 10 components scores ≈ 0.7 on MNIST (it keeps about half of the pixel
    variance), so ``converged`` asks for clearly more than the best 10-dimensional linear
    projection gives; ``beats_pca`` is the weaker bar (a nonlinear manifold that does not
    beat PCA of its own dimension is of little use). On MNIST a VAE at width 0.5 still
    improves steadily at ratio ≈ 0.6 (several hundred updates), i.e. is not converged.
    """
    if not isinstance(model, ManifoldModel):
        raise TypeError(f"model must be a ManifoldModel, got {type(model).__name__}")
    batch_size = check_int("batch_size", batch_size, low=1)
    x_test = _check_images(x_test, model.input_shape, "x_test").detach()
    _check_model_matches(model, x_test, "x_test")
    if x_train is not None:
        ref = _check_images(x_train, model.input_shape, "x_train")
    else:
        ref = x_test
    proj = _as_projection(x_test, model, batch_size)
    d = manifold_distance(x_test, proj)
    # float64 on the CPU, in torch (its thread setting; numpy's BLAS threads spin against
    # other processes on a loaded machine: 8 s instead of 0.1 s for this eigh)
    xt = x_test.detach().to("cpu", torch.float64).flatten(1)
    l1 = float((xt - proj.to("cpu", torch.float64).flatten(1)).abs().mean())
    r = ref.detach().to("cpu", torch.float64).flatten(1)
    mean = r.mean(0)
    base = xt - mean
    base_d = base.norm(dim=1).numpy()
    # PCA from the Gram matrix of the centred images (pixels × pixels)
    rc = r - mean
    _, evecs = torch.linalg.eigh(rc.T @ rc)  # ascending eigenvalues
    k = min(model.zdim, evecs.shape[1])
    top = evecs[:, -k:]
    pca_d = (base - (base @ top) @ top.T).norm(dim=1).numpy()
    d_mean, b_mean = float(d.mean()), float(base_d.mean())
    ratio = d_mean / b_mean if b_mean > 0 else math.inf
    return {
        "n": int(xt.shape[0]),
        "d_mean": d_mean,
        "d_median": float(np.median(d)),
        "l1_mean": l1,
        "baseline": "train mean" if x_train is not None else "test mean",
        "baseline_d_mean": b_mean,
        "baseline_d_median": float(np.median(base_d)),
        "baseline_l1_mean": float(base.abs().mean()),
        "pca_d_mean": float(pca_d.mean()),
        "beats_pca": bool(d_mean < float(pca_d.mean())),
        "ratio": ratio,
        "converged": bool(ratio < CONVERGED_RATIO),
    }
