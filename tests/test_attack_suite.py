"""tradeoff.torch.attack_suite against closed forms (a linear model's exact minimal distance)
and hand-written reference loops."""

from __future__ import annotations

import functools
import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from _torch_probes import ModeProbe  # noqa: E402
from torch import nn  # noqa: E402

from tradeoff.torch import attack_suite as S  # noqa: E402
from tradeoff.torch import attacks, data, nets  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train_plain(model, x, y, epochs=10, lr=3e-3, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p in model.parameters():
        p.grad = None
    return model.eval()


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", seed=0)


@pytest.fixture(scope="module")
def mlp(digits):
    m = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    return train_plain(m, digits.train.x, digits.train.y)


@pytest.fixture(scope="module")
def linear_digits(digits):
    m = nets.build("linear", input_shape=(1, 8, 8), num_classes=10, seed=1)
    return train_plain(m, digits.train.x, digits.train.y, seed=1)


def affine(k, d=16, dtype=torch.float64, seed=0, scale=3.0):
    """A k-class affine model on (1, 4, 4) images and test points in [0.4, 0.6] (far from
    the box: the minimal perturbations below stay inside [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).to(dtype)
    with torch.no_grad():
        m[1].weight.copy_(scale * torch.randn(k, d, generator=g))
        m[1].bias.copy_(torch.randn(k, generator=g))
    x = (0.4 + 0.2 * torch.rand(12, 1, 4, 4, generator=g)).to(dtype)
    with torch.no_grad():
        y = m(x).argmax(1)
    return m.eval(), x, y


def exact_distance(model, x, y, q):
    """min_{j≠y} |(w_y − w_j)·x + b_y − b_j| / ‖w_y − w_j‖_q (the dual norm q)."""
    W, b = model[1].weight.detach(), model[1].bias.detach()
    xf = x.flatten(1)
    out = []
    for i in range(len(x)):
        yi = int(y[i])
        best = math.inf
        for j in range(W.shape[0]):
            if j != yi:
                w = W[yi] - W[j]
                f = float(w @ xf[i] + b[yi] - b[j])
                best = min(best, abs(f) / float(w.norm(p=q)))
        out.append(best)
    return torch.tensor(out, dtype=torch.float64)


# --------------------------------------------------------------------------- DeepFool


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("norm", "q"), [("l2", 2), ("linf", 1)])
def test_deepfool_linear_reaches_the_exact_minimal_distance(norm, q, dtype):
    model, x, y = affine(5, dtype=dtype)
    r = S.deepfool(model, x, y, norm=norm, overshoot=0.0)
    exact = exact_distance(model, x, y, q)
    rel = (r.distance.double() / exact - 1).abs().max().item()
    assert rel < (1e-10 if dtype == torch.float64 else 1e-4)  # measured: 4e-15 / ~1e-6
    assert r.norm == norm


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_overshoot_crosses_and_scales_the_distance(norm):
    model, x, y = affine(5)
    r = S.deepfool(model, x, y, norm=norm, overshoot=0.02)
    exact = exact_distance(model, x, y, 2 if norm == "l2" else 1)
    torch.testing.assert_close(r.distance, 1.02 * exact, rtol=1e-9, atol=0)
    assert r.success.all()
    assert (model(r.x_adv).argmax(1) != y).all()


def test_deepfool_binary_one_output_closed_form():
    """f(x) = w·x + b with one output and ±1 labels: |f(x)| / ‖w‖₂ and |f(x)| / ‖w‖₁."""
    g = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(1, 16, generator=g))
        model[1].bias.fill_(-0.5 * float(model[1].weight.sum()))  # f = w·(x − 0.5): both signs
    x = (0.45 + 0.1 * torch.rand(10, 1, 4, 4, generator=g)).double()
    with torch.no_grad():
        f = model(x).squeeze(1)
    y = torch.where(f > 0, 1, -1)
    assert (y == 1).any() and (y == -1).any()
    w = model[1].weight.detach()[0]
    for norm, q in (("l2", 2), ("linf", 1)):
        r = S.deepfool(model, x, y, norm=norm, overshoot=0.0)
        torch.testing.assert_close(r.distance, f.abs() / w.norm(p=q), rtol=1e-10, atol=0)


def test_deepfool_fools_the_mlp_and_skips_misclassified(mlp, digits):
    x, y = digits.test.x[:64], digits.test.y[:64]
    r = S.deepfool(mlp, x, y)
    assert r.success.float().mean() > 0.95
    wrong = mlp(x).argmax(1) != y
    assert wrong.any()
    assert torch.equal(r.x_adv[wrong], x[wrong]) and (r.distance[wrong] == 0).all()
    assert 0 < r.median_distance() < 2.0


# --------------------------------------------------------------------------- C&W


def test_carlini_wagner_linear_approaches_the_exact_minimal_distance():
    model, x, y = affine(5)
    r = S.carlini_wagner_l2(model, x, y, steps=500, lr=5e-3)
    exact = exact_distance(model, x, y, 2)
    rel = r.distance / exact - 1
    assert r.success.all()
    assert rel.min() >= -1e-9  # no closer than the minimum
    assert rel.max() < 0.02  # measured: 0.55 %
    assert (model(r.x_adv).argmax(1) != y).all()


def test_carlini_wagner_targeted_and_kappa(linear_digits, digits):
    x = digits.test.x[:16]
    t = (linear_digits(x).argmax(1) + 1) % 10
    r = S.carlini_wagner_l2(linear_digits, x, t, targeted=True, steps=100, lr=5e-2)
    assert r.success.float().mean() >= 0.9
    assert (linear_digits(r.x_adv).argmax(1)[r.success] == t[r.success]).all()
    # a confidence margin κ costs distance
    y = linear_digits(x).argmax(1)
    r0 = S.carlini_wagner_l2(linear_digits, x, y, steps=100, lr=5e-2, binary_steps=5)
    r1 = S.carlini_wagner_l2(linear_digits, x, y, steps=100, lr=5e-2, binary_steps=5, kappa=2.0)
    both = r0.success & r1.success
    assert both.sum() >= 12
    assert (r1.distance[both] > r0.distance[both]).all()
    z = linear_digits(r1.x_adv[both])
    margin = z.gather(1, y[both].view(-1, 1)).squeeze(1) - z.scatter(
        1, y[both].view(-1, 1), -math.inf
    ).amax(1)
    assert (margin < -2.0 + 1e-4).all()


# --------------------------------------------------------------------------- L-BFGS


def test_lbfgs_linear_targeted_distance_close_to_exact():
    model, x, y = affine(2)
    t = 1 - y  # two classes: the target region is the half-space of the other class
    r = S.lbfgs(model, x, t)
    exact = exact_distance(model, x, y, 2)
    rel = r.distance / exact - 1
    assert r.success.all()
    assert (model(r.x_adv).argmax(1) == t).all()
    assert rel.min() >= -1e-9 and rel.max() < 0.01  # measured: 0.1 %
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1


def test_lbfgs_box_active(linear_digits, digits):
    """Digits have many pixels at 0: the box constraint binds and is respected."""
    x = digits.test.x[:4]
    t = (linear_digits(x).argmax(1) + 3) % 10
    r = S.lbfgs(linear_digits, x, t, search_steps=8, maxiter=50)
    assert r.success.all()
    assert (linear_digits(r.x_adv).argmax(1) == t).all()
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1


def test_one_output_network_cw_and_lbfgs_closed_form():
    """One output f(x) = w·x + b and ±1 labels: both reach |f(x)| / ‖w‖₂ from above."""
    g = torch.Generator().manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        model[1].weight.copy_(2 * torch.randn(1, 16, generator=g))
        model[1].bias.fill_(-0.5 * float(model[1].weight.sum()))  # f = w·(x − 0.5): both signs
    x = (0.45 + 0.1 * torch.rand(6, 1, 4, 4, generator=g)).double()
    with torch.no_grad():
        f = model(x).squeeze(1)
    y = torch.where(f > 0, 1, -1)
    assert (y == 1).any() and (y == -1).any()
    exact = f.abs() / model[1].weight.detach()[0].norm()
    cw = S.carlini_wagner_l2(model, x, y, steps=500, lr=5e-3)
    lb = S.lbfgs(model, x, -y)  # targeted: the other sign
    for r in (cw, lb):
        assert r.success.all() and (r.distance >= exact * (1 - 1e-9)).all()
        # 2 % or, for the points next to the boundary (exact 8e-4), 5e-5 in absolute terms
        assert (r.distance - exact <= 0.02 * exact + 5e-5).all()
        assert (torch.sign(model(r.x_adv).squeeze(1)) == -y).all()


def test_deepfool_candidates_restricts_the_classes():
    model, x, y = affine(6)
    full = S.deepfool(model, x, y, overshoot=0.0)
    one = S.deepfool(model, x, y, overshoot=0.0, candidates=1)  # the runner-up class only
    assert (one.distance >= full.distance - 1e-12).all()
    assert torch.equal(S.deepfool(model, x, y, overshoot=0.0, candidates=5).x_adv, full.x_adv)


# --------------------------------------------------------------------------- MI-FGSM


def reference_mi_fgsm(model, x, y, eps, steps, decay, guard=True, momentum=False):
    """MI-FGSM as torchattacks' MIFGSM writes it: mean CE, ∇ / mean|∇| per sample, sign
    step, clamp to the ball and [0, 1] (scale-equivalent to ∇ / ‖∇‖₁ of the paper)."""
    alpha = eps / steps
    xa, mom = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        xa.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
        scale = g.abs().mean(dim=(1, 2, 3), keepdim=True)
        if guard:
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        mom = decay * mom + g / scale
        with torch.no_grad():
            xa = xa + alpha * mom.sign()
            xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)
    return (xa.detach(), mom) if momentum else xa.detach()


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_mi_fgsm_matches_reference_loop(mlp, digits, decay):
    x, y = digits.test.x[:128], digits.test.y[:128]
    ours = S.mi_fgsm(mlp, x, y, eps=0.1, steps=10, decay=decay)
    ref = reference_mi_fgsm(mlp, x, y, 0.1, 10, decay)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    acc = (mlp(ours).argmax(1) == y).float().mean()
    assert acc < (mlp(x).argmax(1) == y).float().mean() - 0.2


class Gated(nn.Module):
    """Logits that are constant (zero input gradient) for samples of mean pixel < 0.3."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        gate = (x.flatten(1).mean(1, keepdim=True) >= 0.3).to(x.dtype)
        return self.inner(x) * gate


def test_mi_fgsm_zero_gradient_guard(mlp):
    g = torch.Generator().manual_seed(0)
    x = torch.cat(
        [0.1 * torch.rand(4, 1, 8, 8, generator=g), 0.4 + 0.2 * torch.rand(4, 1, 8, 8, generator=g)]
    )
    y = torch.arange(8) % 10
    model = Gated(mlp)
    _, mom = reference_mi_fgsm(model, x, y, 0.1, 3, 1.0, guard=False, momentum=True)
    assert torch.isnan(mom[:4]).all()  # what dividing by a zero ‖∇‖₁ does
    xa = S.mi_fgsm(model, x, y, eps=0.1, steps=3)
    assert torch.isfinite(xa).all()
    assert torch.equal(xa[:4], x[:4])  # a zero gradient: no move
    assert not torch.equal(xa[4:], x[4:])
    torch.testing.assert_close(xa, reference_mi_fgsm(model, x, y, 0.1, 3, 1.0), atol=1e-6, rtol=0)


class DeadFirstCall(nn.Module):
    """Constant logits on the first call (a zero gradient at step 1), the net afterwards."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x) * (0.0 if self.calls == 1 else 1.0)


def test_mi_fgsm_zero_gradient_once_does_not_stall_the_attack(mlp, digits):
    """Without the guard the momentum is NaN for good after one zero gradient, and the
    sample never moves again (torch's sign(NaN) is 0); with it the attack goes on."""
    x, y = digits.test.x[:32], digits.test.y[:32]
    naive, mom = reference_mi_fgsm(
        DeadFirstCall(mlp), x, y, 0.1, 5, 1.0, guard=False, momentum=True
    )
    assert torch.isnan(mom).all()
    assert torch.equal(naive, x) or torch.isnan(naive).all()
    ours = S.mi_fgsm(DeadFirstCall(mlp), x, y, eps=0.1, steps=5)
    ref = reference_mi_fgsm(DeadFirstCall(mlp), x, y, 0.1, 5, 1.0)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    assert (mlp(ours).argmax(1) == y).float().mean() < (mlp(x).argmax(1) == y).float().mean()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_mi_fgsm_in_ball_targeted(mlp, digits, norm):
    x, y = digits.test.x[:64], digits.test.y[:64]
    eps = 0.3 if norm == "linf" else 1.0
    t = (y + 1) % 10
    xa = S.mi_fgsm(mlp, x, t, eps=eps, steps=10, norm=norm, targeted=True)
    d = (xa - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5)
    assert (mlp(xa).argmax(1) == t).float().mean() > 0.2
    assert torch.equal(S.mi_fgsm(mlp, x, y, eps=0.0, steps=5, norm=norm), x)


# --------------------------------------------------------------------------- the contract


ATTACKS = {
    "mi_fgsm": lambda m, x, y: S.mi_fgsm(m, x, y, eps=0.1, steps=3),
    "deepfool_l2": lambda m, x, y: S.deepfool(m, x, y, steps=10),
    "deepfool_linf": lambda m, x, y: S.deepfool(m, x, y, norm="linf", steps=10),
    "cw": lambda m, x, y: S.carlini_wagner_l2(m, x, y, steps=20, binary_steps=3, lr=5e-2),
    "lbfgs": lambda m, x, y: S.lbfgs(m, x, y, search_steps=3, maxiter=20),
}


def _x(out):
    return out.x_adv if isinstance(out, S.AdversarialResult) else out


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_contract(mlp, digits, name):
    attack = ATTACKS[name]
    x, y = digits.test.x[:12], digits.test.y[:12]
    if name == "lbfgs":
        y = (y + 1) % 10  # targeted
    probe = ModeProbe(mlp)
    probe.train()
    probe.inner.eval()
    for p in probe.parameters():
        p.grad = torch.full_like(p, 0.5)
    out = attack(probe, x, y)
    xa = _x(out)
    assert probe.seen and not any(probe.seen)
    assert probe.training and probe.drop.training and not probe.inner.training
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in probe.parameters())
    assert xa.shape == x.shape and xa.dtype == x.dtype and not xa.requires_grad
    assert torch.isfinite(xa).all() and xa.min() >= 0 and xa.max() <= 1
    if name == "mi_fgsm":
        assert float((xa - x).abs().max()) <= 0.1 * (1 + 1e-6)
    else:
        dist = (xa - x).flatten(1)
        dist = dist.abs().amax(1) if out.norm == "linf" else dist.norm(dim=1)
        torch.testing.assert_close(out.distance, dist)
        assert out.success.dtype == torch.bool and out.success.shape == (12,)
    # batch independence: the first half attacked alone gives the same result
    half = _x(attack(mlp.eval(), x[:6], y[:6]))
    torch.testing.assert_close(half, xa[:6], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_mode_restored_when_model_raises(name):
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(64, 10)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("boom")
            return self.lin(x.flatten(1))

    m = Boom().train()
    x = torch.rand(3, 1, 8, 8)
    with pytest.raises((RuntimeError, ValueError), match="boom"):
        ATTACKS[name](m, x, torch.zeros(3, dtype=torch.long))
    assert m.training


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_zero_gradient_model_gives_no_nan_and_no_move(name):
    """Zero weights: the logits (the bias) do not depend on x, every input gradient is 0."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.arange(10, 0, -1.0))  # class 0 first, no ties
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.full((5,), 3 if name == "lbfgs" else 0)  # lbfgs: an unreachable target
    out = ATTACKS[name](model, x, y)
    assert torch.equal(_x(out), x)
    if name != "mi_fgsm":
        assert not out.success.any() and (out.distance == 0).all()


def test_nan_model_raises(mlp, digits):
    class NaN(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10] * math.nan

    x, y = digits.test.x[:4], digits.test.y[:4]
    for name in ("mi_fgsm", "deepfool_l2", "cw"):
        with pytest.raises(ValueError, match="NaN"):
            ATTACKS[name](NaN(), x, y)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda m, x, y: S.mi_fgsm(m, x, y, eps=-0.1), ValueError, "eps"),
        (lambda m, x, y: S.mi_fgsm(m, x, y, eps=0.1, decay=-1), ValueError, "decay"),
        (lambda m, x, y: S.mi_fgsm(m, x, y, eps=0.1, norm="l1"), ValueError, "norm"),
        (lambda m, x, y: S.mi_fgsm(m, x, y, eps=0.1, steps=1.5), TypeError, "steps"),
        (lambda m, x, y: S.deepfool(m, x, y, overshoot=-1), ValueError, "overshoot"),
        (lambda m, x, y: S.deepfool(m, x, y, candidates=0), ValueError, "candidates"),
        (lambda m, x, y: S.deepfool(m, x * 2, y), ValueError, "clip"),
        (lambda m, x, y: S.carlini_wagner_l2(m, x, y, c=0), ValueError, "c must"),
        (lambda m, x, y: S.carlini_wagner_l2(m, x, y, kappa=-1), ValueError, "kappa"),
        (lambda m, x, y: S.carlini_wagner_l2(m, x, y, lr="a"), TypeError, "lr"),
        (lambda m, x, y: S.lbfgs(m, x, y, search_steps=0), ValueError, "search_steps"),
        (lambda m, x, y: S.lbfgs(m, x, y[:2]), ValueError, "y must have shape"),
        (lambda m, x, y: S.deepfool(m, x, y + 10), ValueError, "class indices"),
        (lambda m, x, y: S.deepfool(m, x.double(), y), TypeError, "dtype"),
    ],
)
def test_validation(mlp, digits, call, exc, match):
    with pytest.raises(exc, match=match):
        call(mlp, digits.test.x[:3], digits.test.y[:3])


# --------------------------------------------------------------------------- transfer


def test_transfer_to_itself_is_white_box_robust_accuracy(mlp, digits):
    x, y = digits.test.x[:200], digits.test.y[:200]
    pgd = attacks.PGD(eps=0.1, alpha=0.02, steps=5, seed=0)
    res = S.transfer_accuracy(mlp, mlp, (x, y), pgd)
    white = mlp(pgd(mlp, x, y)).argmax(1) == y
    assert torch.equal(res.correct, white)
    assert res.accuracy == res.source_accuracy == pytest.approx(float(white.float().mean()))
    assert res.n == 200
    assert res.clean_accuracy == pytest.approx(float((mlp(x).argmax(1) == y).float().mean()))


def test_transfer_to_an_independent_target(mlp, linear_digits, digits):
    x, y = digits.test.x[:200], digits.test.y[:200]
    pgd = attacks.PGD(eps=0.1, alpha=0.02, steps=5, seed=0)
    res = S.transfer_accuracy(mlp, linear_digits, (x, y), pgd)
    expect = linear_digits(pgd(mlp, x, y)).argmax(1) == y
    assert torch.equal(res.correct, expect)
    # black-box transfer is weaker than the white-box attack on the target
    white = S.transfer_accuracy(linear_digits, linear_digits, (x, y), pgd)
    assert white.accuracy < res.accuracy <= res.clean_accuracy + 0.05
    # batches, a Split and a minimal-norm attack returning an AdversarialResult
    fixed = pgd.replace(random_start=False)  # the same examples batch by batch
    batches = [(x[:100], y[:100]), (x[100:], y[100:])]
    assert torch.equal(
        S.transfer_accuracy(mlp, linear_digits, batches, fixed).correct,
        S.transfer_accuracy(mlp, linear_digits, (x, y), fixed).correct,
    )
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    assert torch.equal(
        S.transfer_accuracy(mlp, linear_digits, loader, fixed).correct,
        S.transfer_accuracy(mlp, linear_digits, (x, y), fixed).correct,
    )
    whole = S.transfer_accuracy(mlp, linear_digits, digits, fixed)  # a Data: its test split
    assert whole.n == len(digits.test.y)
    split = data.Split(x, y)
    df = functools.partial(S.deepfool, steps=20)
    r = S.transfer_accuracy(mlp, linear_digits, split, df)
    assert r.n == 200 and r.source_accuracy < 0.1


def test_transfer_validation(mlp, digits):
    x, y = digits.test.x[:4], digits.test.y[:4]
    with pytest.raises(TypeError, match="attack"):
        S.transfer_accuracy(mlp, mlp, (x, y), "pgd")
    with pytest.raises(TypeError, match="data"):
        S.transfer_accuracy(mlp, mlp, 3, attacks.PGD(eps=0.1, alpha=0.1, steps=1))
    with pytest.raises(ValueError, match="shape"):
        S.transfer_accuracy(mlp, mlp, (x, y), lambda m, a, b: a[:2])


# --------------------------------------------------------------------------- torchattacks
# An independent implementation where one exists (torchattacks is not a test dependency
# of the package: these run where it is installed, `pip install --no-deps torchattacks`).


def test_mi_fgsm_matches_torchattacks(mlp, digits):
    ta = pytest.importorskip("torchattacks")
    x, y = digits.test.x[:128], digits.test.y[:128]
    ref = ta.MIFGSM(mlp, eps=0.1, alpha=0.01, steps=10, decay=1.0)(x, y)
    ours = S.mi_fgsm(mlp, x, y, eps=0.1, steps=10)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)  # measured: 6e-9


def test_deepfool_matches_torchattacks_on_an_affine_model():
    ta = pytest.importorskip("torchattacks")
    model, x, y = affine(5, dtype=torch.float32)
    model = model.float()
    ref = ta.DeepFool(model, steps=50, overshoot=0.02)(x, y)
    ours = S.deepfool(model, x, y, overshoot=0.02)
    torch.testing.assert_close(ours.distance, (ref - x).flatten(1).norm(dim=1), rtol=1e-5, atol=0)


def test_carlini_wagner_one_round_matches_torchattacks():
    """torchattacks' CW is one round at a fixed c (no binary search) with Adam; its f6
    reads the logits through a one-hot product, right only for positive logits — hence
    the bias + 100 (it changes no margin)."""
    ta = pytest.importorskip("torchattacks")
    model, x, y = affine(5, dtype=torch.float32)
    model = model.float()
    with torch.no_grad():
        model[1].bias.add_(100.0)
    ref = ta.CW(model, c=1.0, kappa=0, steps=100, lr=1e-2)(x, y)
    ok = model(ref).argmax(1) != y
    assert ok.all()
    ours = S.carlini_wagner_l2(
        model, x, y, c=1.0, binary_steps=1, steps=100, lr=1e-2, abort_early=False
    )
    assert ours.success.all()
    d_ref = (ref - x).flatten(1).norm(dim=1)
    torch.testing.assert_close(ours.distance, d_ref, rtol=1e-4, atol=0)  # measured: 2e-7
