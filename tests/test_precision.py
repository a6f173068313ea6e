"""Reduced-precision attacks: ``pgd/fgsm/PGD(precision=...)`` (bf16 autocast on the CPU;
fp16 only on CUDA). The model runs under autocast; the loss, the input gradient, the
perturbation and the step kernels stay float32. Nothing here asserts a timing; the
robust-accuracy comparison on ≥ 1000 images is benchmarks/precision_accuracy.py (its
numbers are in the README)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from tradeoff.torch import attacks, data, nets  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup():
    d = data.load("digits")
    torch.manual_seed(0)
    m = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    x, y = d.train.x, d.train.y
    for _ in range(10):
        for i in range(0, len(x), 128):
            opt.zero_grad()
            F.cross_entropy(m(x[i : i + 128]), y[i : i + 128]).backward()
            opt.step()
    return m.eval(), d.test.x[:64].contiguous(), d.test.y[:64]


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(self.drop(F.relu(self.bn(self.conv(x)))).flatten(1))


def _in_threat_model(adv, x, eps, norm):
    assert adv.dtype == torch.float32 and adv.shape == x.shape
    assert bool(torch.isfinite(adv).all())
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    d = (adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5) + 1e-6


@pytest.mark.parametrize("norm,eps,alpha", [("linf", 0.1, 0.02), ("l2", 1.0, 0.25)])
def test_bf16_attack_in_ball_and_box_and_effective(setup, norm, eps, alpha):
    m, x, y = setup
    adv = attacks.pgd(m, x, y, eps=eps, alpha=alpha, steps=10, norm=norm, seed=0, precision="bf16")
    _in_threat_model(adv, x, eps, norm)
    with torch.no_grad():
        clean = float((m(x).argmax(1) == y).float().mean())
        robust = float((m(adv).argmax(1) == y).float().mean())
    assert robust < clean  # it attacks (the gradient is a usable ascent direction)
    f32 = attacks.pgd(m, x, y, eps=eps, alpha=alpha, steps=10, norm=norm, seed=0)
    # same random start (same seed): the bf16 and float32 attacks end near each other
    assert float((adv - f32).abs().max()) <= 2 * eps + 1e-6


def test_float32_path_is_the_plain_loop_bit_for_bit(setup):
    """precision='float32' (the default) is exactly the full-precision attack: the same
    random start and steps as a loop written here on _input_gradient and the kernels."""
    import numpy as np

    from tradeoff import kernels

    m, x, y = setup
    eps, alpha, steps = 0.1, 0.02, 5
    out = attacks.pgd(m, x, y, eps=eps, alpha=alpha, steps=steps, seed=3, precision="float32")
    rng = np.random.default_rng(3)
    xa = torch.as_tensor(
        kernels.random_start(x, eps, norm="linf", lo=0.0, hi=1.0, seed=int(rng.integers(0, 2**62)))
    ).contiguous()
    for _ in range(steps):
        g = attacks._input_gradient(m, xa, lambda lg: F.cross_entropy(lg, y, reduction="sum"))
        kernels.linf_step(xa, x, g, alpha, eps, 0.0, 1.0)
    assert torch.equal(out, xa)
    assert torch.equal(out, attacks.pgd(m, x, y, eps=eps, alpha=alpha, steps=steps, seed=3))


def test_mode_and_grads_untouched_and_restarts():
    torch.manual_seed(0)
    m = _CNN().train()
    m.fc.eval()  # a submodule's own mode is restored too
    m.conv.weight.grad = torch.full_like(m.conv.weight, 7.0)
    x = torch.rand(16, 1, 8, 8)
    y = torch.randint(0, 10, (16,))
    adv = attacks.pgd(m, x, y, eps=0.05, alpha=0.01, steps=3, restarts=2, seed=0, precision="bf16")
    _in_threat_model(adv, x, 0.05, "linf")
    assert m.training and not m.fc.training and m.conv.training
    assert torch.equal(m.conv.weight.grad, torch.full_like(m.conv.weight, 7.0))
    assert m.fc.weight.grad is None and m.bn.bias.grad is None
    assert m.conv.weight.dtype == torch.float32  # autocast casts, the weights stay


def test_half_inputs_and_bf16_models(setup):
    m, x, y = setup
    xb = x.bfloat16()
    adv = attacks.pgd(m, xb, y, eps=0.1, alpha=0.02, steps=3, seed=0, precision="bf16")
    _in_threat_model(adv, xb.float(), 0.1, "linf")
    with pytest.raises(TypeError, match="precision='bf16'"):
        attacks.pgd(m, xb, y, eps=0.1, alpha=0.02, steps=1)  # float32 attack, bf16 input
    mb = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0).bfloat16().eval()
    adv = attacks.pgd(mb, x, y, eps=0.1, alpha=0.02, steps=3, seed=0, precision="bf16")
    _in_threat_model(adv, x, 0.1, "linf")
    with pytest.raises(TypeError, match="dtype"):
        attacks.pgd(mb, x, y, eps=0.1, alpha=0.02, steps=1)


def test_fgsm_and_pgd_object(setup):
    m, x, y = setup
    adv = attacks.fgsm(m, x, y, eps=0.1, precision="bf16")
    _in_threat_model(adv, x, 0.1, "linf")
    atk = attacks.PGD(eps=0.1, alpha=0.02, steps=3, precision="bf16")
    assert "bf16" in atk.describe() and "autocast" not in attacks.PGD(0.1, 0.02, 3).describe()
    _in_threat_model(atk(m, x, y), x, 0.1, "linf")
    assert atk.replace(precision="float32").precision == "float32"


def test_validation(setup):
    m, x, y = setup
    with pytest.raises(ValueError, match=r"fp16.*CUDA only.*bf16"):
        attacks.pgd(m, x, y, eps=0.1, alpha=0.02, steps=1, precision="fp16")
    with pytest.raises(ValueError, match="precision"):
        attacks.pgd(m, x, y, eps=0.1, alpha=0.02, steps=1, precision="float16")
    with pytest.raises(ValueError, match="precision"):
        attacks.PGD(eps=0.1, alpha=0.02, steps=1, precision="int8")
    with pytest.raises(ValueError, match="fp16"):
        attacks.fgsm(m, x, y, eps=0.1, precision="fp16")
    m64 = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0).double()
    with pytest.raises(TypeError, match="float32 inputs"):
        attacks.pgd(m64, x.double(), y, eps=0.1, alpha=0.02, steps=1, precision="bf16")


def test_nan_model_still_raises_under_autocast(setup):
    _, x, y = setup
    bad = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0).eval()
    with torch.no_grad():
        next(bad.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or inf"):
        attacks.pgd(bad, x, y, eps=0.1, alpha=0.02, steps=2, precision="bf16")


def test_fp16_loss_scale_backs_off_on_overflow(setup):
    """The float16 loss-scale logic, run through CPU float16 autocast (which pgd itself
    refuses: fp16 attacks are for CUDA): a scale that overflows float16 is halved until
    the gradient is finite, and the unscaled gradient points where float32's does."""
    m, x, y = setup
    amp = attacks._Amp("cpu", torch.float16, 2.0**30)
    try:
        with amp.autocast():
            pass
    except RuntimeError as exc:  # pragma: no cover - a torch without CPU float16 autocast
        pytest.skip(str(exc))

    def obj(lg):
        return F.cross_entropy(lg, y, reduction="sum")

    g = attacks._amp_gradient(m, x, obj, amp)
    ref = attacks._input_gradient(m, x, obj)
    assert amp.scale < 2.0**30 and bool(torch.isfinite(g).all()) and g.dtype == torch.float32
    cos = float(F.cosine_similarity(g.flatten(), ref.flatten(), dim=0))
    assert cos > 0.98
