"""fit(method="fast") (Wong et al. 2020) and fit(method="free") (Shafahi et al. 2019):
the steps against hand-written references, pass counts, determinism, resume, the
overfitting guard, validation, the CLI and ``tradeoff bench training --quick``."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from tradeoff.torch import attacks, cli, data, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPS = 0.1
KW = dict(optimizer="adam", lr=3e-3, batch_size=64, progress=False, eps=EPS)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", val_size=100, seed=0)


@pytest.fixture(scope="module")
def small(digits):
    """300 training samples (5 batches of 64, the last one of 44)."""
    return dataclasses.replace(digits, train=digits.train.take(300), val=digits.val.take(64))


def linear(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).to(dtype)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def batch(digits, n=32, dtype=torch.float64):
    return digits.train.x[:n].to(dtype), digits.train.y[:n]


# --------------------------------------------------------------------------- fast


def test_fast_step_is_a_1p25_eps_sign_step_from_a_uniform_start(digits):
    x, y = batch(digits)
    recipe = train._resolve(None, "fast", {"eps": EPS, "optimizer": "sgd", "lr": 0.5})
    assert recipe.alpha == pytest.approx(1.25 * EPS) and recipe.steps == 1
    seed = 12345
    model = linear()
    w0 = weights(model)
    # the start: the attack with 0 steps from the same seed (uniform in the ball and box)
    start = attacks.pgd(model, x, y, eps=EPS, alpha=1.0, steps=0, seed=seed, clip=(0, 1))
    d = start - x
    assert float(d.abs().max()) <= EPS + 1e-12 and float(d.abs().max()) > 0.5 * EPS
    assert float(start.min()) >= 0 and float(start.max()) <= 1
    # hand-written FGSM step at the start, projected on the ball, then the box
    s = start.clone().requires_grad_(True)
    g = torch.autograd.grad(F.cross_entropy(model(s), y, reduction="sum"), s)[0]
    x_ref = torch.clamp(start + 1.25 * EPS * g.sign(), x - EPS, x + EPS).clamp(0, 1)
    assert not torch.equal(x_ref, start)
    # the weights' SGD step on mean CE at x_ref
    ref = linear()
    loss_ref = F.cross_entropy(ref(x_ref), y)
    loss_ref.backward()
    expected = {n: p.detach() - 0.5 * p.grad for n, p in ref.named_parameters()}

    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    guard = train._StepGuard(model, 0.5)
    loss, _, n_rob = train._train_step(model, opt, x, y, recipe, (0.0, 1.0), seed, guard, "t")
    assert loss == pytest.approx(float(loss_ref.detach()), abs=1e-12)
    got = dict(model.named_parameters())
    for n, w in expected.items():
        torch.testing.assert_close(got[n].detach(), w, rtol=0, atol=1e-12)
    assert not same(weights(model), w0)
    assert n_rob == int((ref(x_ref).argmax(1) == y).sum())


def test_cyclic_learning_rate_of_wong_et_al():
    f = train._cyclic(5, 10)  # 5 epochs of 10 batches: peak after 2 epochs
    assert f(0) == pytest.approx(0.1 / 2)  # lr of the first step: t = 1/10 epoch
    assert f(19) == pytest.approx(1.0)
    assert f(34) == pytest.approx((5 - 3.5) / 3)
    assert f(49) == 0.0


def test_fast_history_lr_and_fit_uses_cyclic_schedule(small):
    res = train.fit(linear(dtype=torch.float32), small, method="fast", epochs=5, **KW)
    lrs = [h["lr"] for h in res.history]
    b = 5  # batches per epoch
    f = train._cyclic(5, b)
    assert lrs == pytest.approx([3e-3 * f(b * (e + 1)) for e in range(5)])
    assert lrs[-1] == 0.0 and max(lrs) > lrs[0]
    assert res.config["alpha"] == pytest.approx(1.25 * EPS) and res.config["overfit_guard"] == 0.2


# --------------------------------------------------------------------------- free


def test_free_perturbation_carried_across_replays_and_batches_clipped(digits):
    x, y = batch(digits, 32)
    x[:, :5] = 0.0  # pixels at the box's edge: x + δ must be clipped there
    recipe = train._resolve(None, "free", {"eps": EPS, "replays": 3, "lr": 0.5})
    assert recipe.alpha == EPS and recipe.replays == 3
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    guard = train._StepGuard(model, 0.5)
    delta = torch.zeros((40, 1, 8, 8), dtype=torch.float64)  # the batch size is 40
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))

    def reference_step(ref, xb, d):
        xa = (xb + d).clamp(0, 1).requires_grad_(True)
        loss = F.cross_entropy(ref(xa), y[: len(xb)])
        g = torch.autograd.grad(loss, xa)[0]
        return xa.detach(), (d + EPS * g.sign()).clamp(-EPS, EPS)

    expected = torch.zeros_like(delta)
    for xb in (x, x, x, x[:20]):  # three replays of one batch, then a smaller batch
        ref = linear()
        ref.load_state_dict(model.state_dict())
        n = len(xb)
        xa_ref, expected[:n] = reference_step(ref, xb, expected[:n].clone())
        train._free_step(model, opt, xb, y[:n], delta, recipe, (0.0, 1.0), guard, "t")
        torch.testing.assert_close(seen[-1], xa_ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(delta, expected, rtol=0, atol=1e-12)
    assert float(delta.abs().max()) == pytest.approx(EPS)  # in the ball, and reaching it
    assert all(float(s.min()) >= 0 and float(s.max()) <= 1 for s in seen)
    assert torch.equal(delta[20:32], expected[20:32]) and not torch.equal(delta[:20], delta[20:40])
    # the inputs of the second and third replays carry the first ones' perturbation
    assert not torch.equal(seen[1], seen[0]) and not torch.equal(seen[2], seen[1])


def test_free_divides_epochs_by_replays(small):
    res = train.fit(linear(dtype=torch.float32), small, method="free", epochs=5, replays=2, **KW)
    assert len(res.history) == 3  # ceil(5 / 2) passes over the data
    assert res.passes == {"forward": 3 * 5 * 2, "backward": 3 * 5 * 2}
    assert res.config["replays"] == 2 and res.config["alpha"] == EPS


# --------------------------------------------------------------------------- pass counts


class _CountBackward(torch.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, t):
        return t.view_as(t)

    @staticmethod
    def backward(ctx, g):
        _CountBackward.calls += 1
        return g


class Counting(nn.Module):
    """Counts its own forward calls and the backward passes through its output."""

    def __init__(self):
        super().__init__()
        self.net = linear(dtype=torch.float32)
        self.forwards = 0

    def forward(self, x):
        self.forwards += 1
        out = self.net(x)
        return _CountBackward.apply(out) if torch.is_grad_enabled() else out


@pytest.mark.parametrize(
    ("method", "extra", "fwd", "bwd"),
    [
        # per batch (5 batches, 2 epochs): PGD-3 + clean forward + update
        ("madry", dict(alpha=0.03, steps=3), (3 + 2) * 10, (3 + 1) * 10),
        ("standard", dict(eps=None), 10, 10),
        # FGSM + update; with the guard, per epoch PGD-10 on the held-out batch + a forward
        ("fast", dict(overfit_guard=0.0), 2 * 10, 2 * 10),
        ("fast", {}, 2 * 10 + 2 * (train.GUARD_STEPS + 1), 2 * 10 + 2 * train.GUARD_STEPS),
        ("free", dict(replays=2), 5 * 2, 5 * 2),  # ceil(2/2) = 1 epoch of 2 replays
    ],
)
def test_pass_counts_are_exact(small, method, extra, fwd, bwd):
    model = Counting()
    _CountBackward.calls = 0
    kw = {**KW, **extra}
    if kw["eps"] is None:
        del kw["eps"]
    res = train.fit(model, small, method=method, epochs=2, **kw)
    # not training passes: fit's check of the train and val data (one sample each, before
    # training) and the validation accuracy after each epoch
    other_forwards = 2 + len(res.history)
    assert res.passes == {"forward": fwd, "backward": bwd}
    assert model.forwards - other_forwards == fwd
    assert _CountBackward.calls == bwd
    assert sum(h["forward"] for h in res.history) == fwd
    assert not model._forward_hooks  # fit removed its counting hook


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(("method", "extra"), [("fast", {}), ("free", dict(replays=2))])
def test_same_seed_same_weights(small, method, extra):
    runs = []
    for seed in (4, 4, 5):
        m = linear(dtype=torch.float32)
        train.fit(m, small, method=method, epochs=2, seed=seed, **KW, **extra)
        runs.append(weights(m))
    assert same(runs[0], runs[1]) and not same(runs[0], runs[2])


class Killed(Exception):
    pass


@pytest.mark.parametrize(("method", "extra"), [("fast", {}), ("free", dict(replays=2))])
def test_resume_after_crash_mid_epoch_gives_identical_weights(small, tmp_path, method, extra):
    kw = dict(method=method, epochs=4, seed=3, **KW, **extra)
    ref = linear(dtype=torch.float32)
    full = train.fit(ref, small, **kw)
    ckpt = tmp_path / "run.pt"

    def crash(epoch, b, loss):
        if (epoch, b) == (1, 3):
            raise Killed

    with pytest.raises(Killed):
        train.fit(linear(dtype=torch.float32), small, checkpoint=ckpt, checkpoint_every=2,
                  callback=crash, **kw)  # fmt: skip
    resumed = linear(seed=9, dtype=torch.float32)
    res = train.fit(resumed, small, checkpoint=ckpt, checkpoint_every=2, resume=True, **kw)
    assert res.resumed_from == (1, 2)
    assert same(weights(resumed), weights(ref))
    strip = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in strip} for h in res.history] == [
        {k: v for k, v in h.items() if k not in strip} for h in full.history
    ]
    assert res.passes == full.passes


def test_resume_refuses_other_replays(small, tmp_path):
    ckpt = tmp_path / "run.pt"
    kw = dict(method="free", epochs=2, **KW)
    train.fit(linear(dtype=torch.float32), small, replays=2, checkpoint=ckpt, **kw)
    with pytest.raises(ValueError, match="replays: 2 there, 1 now"):
        train.fit(linear(dtype=torch.float32), small, replays=1, checkpoint=ckpt, resume=True, **kw)


# --------------------------------------------------------------------------- the guard


def _stub(values, calls):
    def accuracy(model, x, y, eps, clip, seed):
        calls.append((x.shape[0], eps))
        return values[len(calls) - 1]

    return accuracy


def test_overfitting_guard_stops_on_a_collapse_and_restores(small, monkeypatch):
    calls = []
    monkeypatch.setattr(train, "_guard_accuracy", _stub([0.5, 0.6, 0.1, 0.9, 0.9], calls))
    at_epoch_end = {}

    def keep(epoch, b, loss):
        if b == 4:  # the last of 5 batches
            at_epoch_end[epoch] = weights(model)

    model = linear(dtype=torch.float32)
    with pytest.warns(RuntimeWarning, match="fell from 0.600 to 0.100 in epoch 3"):
        res = train.fit(model, small, method="fast", epochs=5, callback=keep, **KW)
    assert len(res.history) == 3 and res.history[-1]["stopped"] is True
    assert res.stopped == {"epoch": 3, "robust_acc": 0.1, "previous_robust_acc": 0.6}
    assert [h["guard_robust_acc"] for h in res.history] == [0.5, 0.6, 0.1]
    assert same(weights(model), at_epoch_end[1]) and not same(weights(model), at_epoch_end[2])
    assert calls == [(64, EPS)] * 3  # the held-out batch: batch_size samples of the val split


def test_overfitting_guard_keeps_training_on_small_drops(small, monkeypatch):
    calls = []
    monkeypatch.setattr(train, "_guard_accuracy", _stub([0.5, 0.31, 0.12, 0.9], calls))
    res = train.fit(linear(dtype=torch.float32), small, method="fast", epochs=4, **KW)
    assert res.stopped is None and len(res.history) == 4
    calls.clear()
    monkeypatch.setattr(train, "_guard_accuracy", _stub([0.5, 0.4], calls))
    with pytest.warns(RuntimeWarning, match="fell from 0.500 to 0.400"):
        res = train.fit(linear(dtype=torch.float32), small, method="fast", epochs=2,
                        overfit_guard=0.05, **KW)  # fmt: skip
    assert res.stopped is not None and res.stopped["epoch"] == 2
    res = train.fit(linear(dtype=torch.float32), small, method="fast", epochs=2,
                    overfit_guard=0.0, **KW)  # fmt: skip
    assert res.stopped is None and "guard_robust_acc" not in res.history[0]


def test_guard_stop_survives_resume(small, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(train, "_guard_accuracy", _stub([0.5, 0.0], calls))
    ckpt = tmp_path / "run.pt"
    kw = dict(method="fast", epochs=4, checkpoint=ckpt, **KW)
    model = linear(dtype=torch.float32)
    with pytest.warns(RuntimeWarning):
        train.fit(model, small, **kw)
    res = train.fit(linear(seed=7, dtype=torch.float32), small, resume=True, **kw)
    assert res.stopped is not None and len(res.history) == 2 and len(calls) == 2


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        (dict(method="free", replays=0), ValueError, "replays must be an integer in"),
        (dict(method="free", replays=1.5), TypeError, "replays must be an integer"),
        (dict(method="madry", replays=2, steps=2, alpha=0.1), ValueError, "replays=2 is only"),
        (dict(method="fast", eps=0.0), ValueError, "eps must be > 0 for method='fast'"),
        (dict(method="free", eps=0.0), ValueError, "eps must be > 0 for method='free'"),
        (dict(method="free", norm="l2"), ValueError, "norm='l2'"),
        (dict(method="fast", steps=5), ValueError, "steps=5: method='fast'"),
        (dict(method="fast", milestones=(2,)), ValueError, "milestones: method='fast'"),
        (dict(method="madry", steps=2, alpha=0.1, overfit_guard=0.1), ValueError, "overfit_guard"),
        (dict(method="fast", overfit_guard=1.5), ValueError, "overfit_guard must be"),
        (dict(method="fast", alpha=0.0), ValueError, "alpha must be > 0"),
    ],
)
def test_validation_names_the_parameter(small, kw, exc, match):
    kw = {**KW, "epochs": 1, **kw}
    model = linear(dtype=torch.float32)
    w0 = weights(model)
    with pytest.raises(exc, match=match):
        train.fit(model, small, **kw)
    assert same(weights(model), w0)


def test_preset_with_fast_drops_the_presets_pgd_step(small):
    res = train.fit(linear(dtype=torch.float32), small, preset="kim_mnist", method="fast",
                    epochs=1, progress=False)  # fmt: skip
    assert res.config["alpha"] == pytest.approx(1.25 * 0.1) and res.config["steps"] == 1


# --------------------------------------------------------------------------- CLI, bench

CLI = ["--data", "digits", "--net", "linear", "--quiet", "--epochs", "1", "--test-subset", "50"]


@pytest.mark.parametrize("extra", [["--method", "fast"], ["--method", "free", "--replays", "2"]])
def test_cli_trains_fast_and_free(extra, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = [*CLI, "--eps", "0.1", *extra, "--json", str(out)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    cfg = json.loads(out.read_text())
    text = json.dumps(cfg)
    assert extra[1] in text
    if "--replays" in extra:
        assert '"replays": 2' in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "madry", "--eps", "0.1", "--steps", "2", "--replays", "2"], "replays=2"),
        (["--method", "free", "--replays", "0", "--eps", "0.1"], "replays must be"),
        (["--method", "fast"], "eps must be > 0"),
    ],
)
def test_cli_refuses_bad_replays(extra, message, capsys):
    assert cli.main([*CLI, *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_help_lists_replays(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "--replays" in out and "fast" in out and "free" in out


def test_bench_training_quick(tmp_path, capsys):
    from tradeoff.torch import bench_training

    out = tmp_path / "b.json"
    assert bench_training.main(["--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pgd-3" in text and "fast" in text and "free" in text and "target" in text
    res = json.loads(out.read_text())
    rows = {r["method"]: r for r in res["rows"]}
    assert rows["pgd-3"]["ratio"] == 1.0
    # passes: digits train split / 64 per batch, 2 epochs
    n = len(data.load("digits", seed=0).train)
    b = math.ceil(n / 64)
    assert rows["pgd-3"]["forward"] == 5 * b * 2 and rows["pgd-3"]["backward"] == 4 * b * 2
    assert rows["free"]["forward"] == 2 * b  # ceil(2 / 2) = 1 epoch, 2 replays
    assert 0 <= rows["fast"]["robust_acc"] <= rows["fast"]["clean_acc"] <= 1


def test_checkpoint_of_an_earlier_version_without_replays_still_resumes(small, tmp_path):
    ckpt = tmp_path / "run.pt"
    kw = dict(method="madry", alpha=0.03, steps=2, **KW)
    ref = linear(dtype=torch.float32)
    train.fit(ref, small, epochs=2, **kw)
    train.fit(linear(dtype=torch.float32), small, epochs=1, checkpoint=ckpt, **kw)
    state = train.load_checkpoint(ckpt)
    del state["config"]["replays"]  # as written before free training existed
    for key in ("forward", "backward"):
        del state["sums"][key]
    del state["method_state"]
    train.save_checkpoint(ckpt, state)
    resumed = linear(seed=5, dtype=torch.float32)
    res = train.fit(resumed, small, epochs=2, checkpoint=ckpt, resume=True, **kw)
    assert res.resumed_from == (1, 0) and same(weights(resumed), weights(ref))


def _result(base, fast, free, num_classes=10):
    """A bench result of one repeat: (wall s, clean, robust) per method."""

    def run(wall, clean, robust):
        return {"wall_s": wall, "forward": 1, "backward": 1, "clean_acc": clean,
                "robust_acc": robust, "epochs_run": 1, "stopped": None}  # fmt: skip

    runs = {"pgd-10": [run(*base)], "fast": [run(*fast)], "free": [run(*free)]}
    return {"runs": runs, "num_classes": num_classes}


def test_bench_verdict():
    from tradeoff.torch.bench_training import summarise

    rows, v = summarise(_result((100, 0.9, 0.5), (25, 0.9, 0.481), (10, 0.9, 0.47)))
    assert [r["ratio"] for r in rows] == [1.0, 0.25, 0.1]
    assert v.endswith("met by fast") and "48.0 %" in v
    _, v = summarise(_result((100, 0.9, 0.5), (26, 0.9, 0.5), (10, 0.9, 0.47)))
    assert v.endswith("not met")
    _, v = summarise(_result((100, 0.1, 0.1), (20, 0.9, 0.05), (10, 0.9, 0.2)))
    assert "met by free; but pgd-10 stayed at chance" in v
