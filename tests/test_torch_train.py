"""tradeoff.torch.train: fit (standard / Madry / TRADES), exact resume, evaluate's checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tradeoff.torch import attacks, data, nets, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", val_size=100, seed=0)


def small_net(seed=0):
    """An MLP with dropout, so that resuming must also restore the global torch RNG."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Dropout(0.2), nn.Linear(48, 10)
    )


# Adam on the digits MLP (8 epochs) and SGD with momentum on small_net (short runs):
# the settings the tests below share; each test adds method, epochs and attack.
ADAM = dict(optimizer="adam", lr=3e-3, batch_size=64, progress=False)
SGD = dict(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=50, progress=False)
SGD_ATTACK = dict(eps=0.1, alpha=0.03, steps=3)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def plain_accuracy(model, split):
    with torch.no_grad():
        return float((model(split.x).argmax(1) == split.y).float().mean())


@pytest.fixture(scope="module")
def trained(digits):
    std = nets.build("toy_mlp", input_shape=(1, 8, 8), seed=0)
    train.fit(std, digits, method="standard", epochs=8, **ADAM)
    rob = nets.build("toy_mlp", input_shape=(1, 8, 8), seed=0)
    res = train.fit(rob, digits, method="madry", epochs=8, eps=0.1, alpha=0.025, steps=7, **ADAM)
    return std.eval(), rob.eval(), res


def test_fit_learns_and_madry_is_more_robust(digits, trained):
    std, rob, res = trained
    assert len(res.history) == 8 and res.history[-1]["loss"] < res.history[0]["loss"]
    ev_std = train.evaluate(std, digits)
    assert ev_std.robust_acc is None
    assert abs(ev_std.clean_acc - plain_accuracy(std, digits.test)) < 1e-12
    assert ev_std.clean_acc > 0.9
    atk = attacks.PGD(eps=0.1, alpha=0.01, steps=20, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", train.GradientMaskingWarning)
        r_std = train.evaluate(std, digits, attack=atk)
        r_rob = train.evaluate(rob, digits, attack=atk, batch_size=512)
    # robust accuracy recomputed here from the attack output, independently of evaluate
    xa = atk(rob, digits.test.x, digits.test.y)
    assert abs(r_rob.robust_acc - plain_accuracy(rob, data.Split(xa, digits.test.y))) < 1e-12
    assert r_rob.robust_acc > r_std.robust_acc + 0.05
    assert r_rob.clean_acc > 0.8
    assert set(r_rob.checks) == {
        "eps0_equals_clean",
        "half_eps",
        "quarter_steps",
        "large_eps",
        "zero_gradient",
    }
    assert r_rob.checks["large_eps"][0] <= 0.1


def test_trades_training_runs_and_beats_standard_robustness(digits, trained):
    std, _, _ = trained
    m = nets.build("toy_mlp", input_shape=(1, 8, 8), seed=0)
    res = train.fit(
        m, digits, method="trades", epochs=8, eps=0.1, alpha=0.025, steps=5, beta=3.0, **ADAM
    )
    assert res.history[-1]["robust_acc"] is not None
    atk = attacks.PGD(eps=0.1, alpha=0.01, steps=20, seed=0)
    r = train.evaluate(m, digits, attack=atk, checks=False)
    r_std = train.evaluate(std, digits, attack=atk, checks=False)
    assert r.robust_acc > r_std.robust_acc + 0.05 and r.clean_acc > 0.8


def test_gradient_masking_is_flagged(digits, trained):
    _, rob, _ = trained

    class Quantised(nn.Module):
        """Rounds the input: zero gradient everywhere, so PGD cannot move (masking)."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(torch.round(x * 4) / 4)

    atk = attacks.PGD(eps=0.1, alpha=0.01, steps=8, seed=0)
    with pytest.warns(train.GradientMaskingWarning, match="whole pixel range"):
        r = train.evaluate(Quantised(rob), digits, attack=atk, check_samples=64)
    assert r.warnings and r.checks["large_eps"][0] > 0.1


def test_seeded_fit_is_reproducible(digits):
    kw = dict(method="madry", epochs=1, **SGD, **SGD_ATTACK)
    a, b, c = small_net(), small_net(), small_net()
    state = torch.get_rng_state()
    train.fit(a, digits, seed=5, **kw)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone
    train.fit(b, digits, seed=5, **kw)
    train.fit(c, digits, seed=6, **kw)
    assert same_weights(weights(a), weights(b))
    assert not same_weights(weights(a), weights(c))


class Killed(Exception):
    pass


@pytest.mark.parametrize("method", ["madry", "trades"])
def test_resume_after_crash_mid_epoch_gives_identical_weights(digits, tmp_path, method):
    kw = dict(method=method, epochs=3, milestones=(2,), seed=3, **SGD, **SGD_ATTACK)
    ref = small_net()
    full = train.fit(ref, digits, **kw)

    ckpt = tmp_path / "run.pt"

    def crash(epoch, batch, loss):
        if (epoch, batch) == (1, 12):  # after 12 batches of the second epoch, 10 saved
            raise Killed

    first = small_net()
    with pytest.raises(Killed):
        train.fit(first, digits, checkpoint=ckpt, checkpoint_every=5, callback=crash, **kw)
    saved = train.load_checkpoint(ckpt)
    assert (saved["epoch"], saved["batch"]) == (1, 10)
    assert not [p for p in tmp_path.iterdir() if p.name != "run.pt"]  # no temp files left
    resumed = small_net(seed=99)  # different initial weights: all must come from the file
    res = train.fit(resumed, digits, checkpoint=ckpt, checkpoint_every=5, resume=True, **kw)
    assert res.resumed_from == (1, 10)
    assert same_weights(weights(resumed), weights(ref))
    assert [h["loss"] for h in res.history] == [h["loss"] for h in full.history]


CHILD = textwrap.dedent(
    """
    import os, signal, sys, torch
    from torch import nn
    from tradeoff.torch import data, train
    torch.set_num_threads({threads})
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(48, 10))
    d = data.load("digits", val_size=100, seed=0)

    def die(epoch, batch, loss):
        if (epoch, batch) == (0, 15):
            os.kill(os.getpid(), signal.SIGKILL)

    train.fit(net, d, checkpoint=sys.argv[1], checkpoint_every=4, callback=die, **{kw})
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_resume_after_sigkill_gives_identical_weights(digits, tmp_path):
    kw = dict(
        method="madry",
        epochs=2,
        optimizer="adam",
        lr=3e-3,
        batch_size=50,
        eps=0.1,
        alpha=0.03,
        steps=2,
        seed=1,
        progress=False,
    )
    ckpt = tmp_path / "killed.pt"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(threads=torch.get_num_threads(), kw=repr(kw)))
    proc = subprocess.run(
        [sys.executable, str(script), str(ckpt)], capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    saved = train.load_checkpoint(ckpt)
    assert (saved["epoch"], saved["batch"]) == (0, 12)
    resumed = small_net(seed=42)
    train.fit(resumed, digits, checkpoint=ckpt, checkpoint_every=4, resume=True, **kw)
    ref = small_net()
    train.fit(ref, digits, **kw)
    assert same_weights(weights(resumed), weights(ref))


def test_checkpoint_is_weights_only_and_checked(digits, tmp_path):
    ckpt = tmp_path / "c.pt"
    train.fit(
        small_net(), digits, method="standard", epochs=1, lr=0.1, checkpoint=ckpt, progress=False
    )
    state = torch.load(ckpt, weights_only=True)  # loads under the safe unpickler
    assert state["epoch"] == 1 and set(state["rng"]) >= {"torch", "numpy", "python", "data"}
    with pytest.raises(ValueError, match="other settings"):
        train.fit(
            small_net(),
            digits,
            method="standard",
            epochs=2,
            lr=0.2,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not a tradeoff training checkpoint"):
        train.load_checkpoint(foreign)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": train.CHECKPOINT_FORMAT, "x": Evil()}, evil)
    with pytest.raises(ValueError, match=r"(?i)weights_only|unsupported|global"):
        train.load_checkpoint(evil)
    raw = ckpt.read_bytes()
    for cut in (0, len(raw) // 2):  # empty or truncated: an error naming the file
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=rf"{bad.name}: not a readable checkpoint"):
            train.load_checkpoint(bad)
    # resuming with more epochs continues the same run
    res = train.fit(
        small_net(),
        digits,
        method="standard",
        epochs=2,
        lr=0.1,
        checkpoint=ckpt,
        resume=True,
        progress=False,
    )
    assert res.resumed_from == (1, 0) and len(res.history) == 2


def test_presets_and_bad_arguments(digits):
    for name, r in train.PRESETS.items():
        assert r.source, name
    assert train.PRESETS["trades_mnist"].beta == 6.0 and train.PRESETS["madry_mnist"].steps == 40
    with pytest.raises(ValueError, match="method"):
        train.fit(small_net(), digits, method="fgsm", epochs=1)
    with pytest.raises(ValueError, match="preset"):
        train.fit(small_net(), digits, preset="nope", epochs=1)
    with pytest.raises(ValueError, match="checkpoint path"):
        train.fit(small_net(), digits, epochs=1, resume=True)
    with pytest.raises(ValueError, match="alpha"):
        train.fit(small_net(), digits, method="madry", epochs=1, eps=0.1, steps=3, alpha=0.0)
    with pytest.raises(TypeError, match="data"):
        train.fit(small_net(), digits.train.x, epochs=1)
    with pytest.raises(ValueError, match="clip"):
        train.evaluate(
            small_net(), digits, attack=attacks.PGD(eps=0.1, alpha=0.1, steps=1, clip=(-1.0, 1.0))
        )


def test_progress_bar_prints_epoch_lines(digits, capsys):
    train.fit(small_net(), digits, method="standard", epochs=2, lr=0.1, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss" in err and "val" in err


def test_cli_trains_on_digits(tmp_path):
    from tradeoff.torch import cli

    out = tmp_path / "r.json"
    rc = cli.main(
        [
            "--data",
            "digits",
            "--net",
            "toy_mlp",
            "--method",
            "madry",
            "--epochs",
            "4",
            "--eps",
            "0.1",
            "--steps",
            "5",
            "--optimizer",  # the default is fit's, sgd
            "adam",
            "--lr",
            "0.003",
            "--batch-size",
            "64",
            "--eval-steps",
            "10",
            "--quiet",
            "--json",
            str(out),
            "--test-subset",
            "0",
        ]
    )
    assert rc == 0
    import json

    r = json.loads(out.read_text())
    assert r["clean_acc"] > 0.5 and r["robust_acc"] > 0.3 and r["n_test"] == 449


def test_cli_missing_dataset(tmp_path, monkeypatch, capsys):
    from tradeoff.torch import cli

    monkeypatch.setenv("TRADEOFF_DATA", str(tmp_path))
    assert cli.main(["--data", "mnist", "--quiet"]) == 2
    assert "TRADEOFF_DATA" in capsys.readouterr().err
    # a class the dataset does not have, a corrupt file: one error line, exit status 2
    assert cli.main(["--data", "digits", "--binary", "5,11", "--quiet"]) == 2
    assert "binary class 11" in capsys.readouterr().err
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / stem).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    assert cli.main(["--data", "mnist", "--quiet"]) == 2
    assert "too short for an IDX header" in capsys.readouterr().err
    assert Path(tmp_path).exists()


def bn_net(seed=0):
    """BatchNorm makes train-mode and eval-mode forwards differ, so the test below sees
    which mode each forward of a training step runs in."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)
    )


@pytest.mark.parametrize("method", ["trades", "madry"])
def test_one_step_equals_reference_loss(digits, method):
    """One SGD step of fit (one batch, one epoch) equals a step on the reference loss
    written out here: TRADES (trades.py) CE mean + β·KL batchmean, clean forward in train
    mode, KL target not detached; Madry CE mean on the adversarial batch in train mode.
    The adversarial batch itself comes from the attack (tested against eager loops in
    test_torch_attacks) with the batch seed fit documents."""
    import torch.nn.functional as F

    n, seed, beta, lr = 64, 4, 6.0, 0.5
    split = data.Split(digits.train.x[:n], digits.train.y[:n])
    kw = dict(eps=0.1, alpha=0.03, steps=3)
    ours = bn_net()
    train.fit(
        ours,
        split,
        method=method,
        epochs=1,
        batch_size=n,
        lr=lr,
        beta=beta,
        seed=seed,
        progress=False,
        **kw,
    )

    def reference(detach_target: bool):
        ref = bn_net()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        x, y = split.x[perm], split.y[perm]
        bseed = train._batch_seed(seed, 0, 0)
        if method == "trades":
            xa = attacks.trades_inner_max(ref, x, seed=bseed, **kw)
        else:
            xa = attacks.pgd(ref, x, y, seed=bseed, **kw)
        ref.train()
        if method == "trades":
            target = F.softmax(ref(x), dim=1)
            target = target.detach() if detach_target else target
            kl = F.kl_div(F.log_softmax(ref(xa), dim=1), target, reduction="batchmean")
            loss = F.cross_entropy(ref(x), y) + beta * kl
        else:
            loss = F.cross_entropy(ref(xa), y)
        opt = torch.optim.SGD(ref.parameters(), lr=lr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return dict(ref.named_parameters())

    got = dict(ours.named_parameters())
    want = reference(detach_target=False)
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=2e-6, rtol=1e-5)
    if method == "trades":  # the test can tell a detached KL target apart
        other = reference(detach_target=True)
        assert max(float((got[k] - other[k]).detach().abs().max()) for k in got) > 1e-4


def test_non_finite_loss_raises_before_the_step(digits):
    """A huge learning rate blows the loss up: fit raises FloatingPointError and the model
    keeps the finite weights of its last step (no NaN written into the caller's model)."""
    net = small_net()
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.fit(net, digits, method="standard", epochs=3, lr=1e30, batch_size=50, progress=False)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_monotonicity_checks_fire(digits, trained):
    """Attacks that get weaker as ε grows (radius 0.1 − ε up to ε = 0.1) or as steps grow
    (40 // steps steps) must trip the ε = 0 and ε/2 checks, resp. the steps/4 check."""
    std, _, _ = trained

    class BackwardsInEps(attacks.PGD):
        def __call__(self, model, x, y):
            eps = round(0.1 - self.eps, 12) if self.eps <= 0.1 else self.eps
            return attacks.PGD.__call__(self.replace(eps=eps), model, x, y)

    class BackwardsInSteps(attacks.PGD):
        def __call__(self, model, x, y):
            steps = max(1, 40 // self.steps) if self.steps <= 40 else self.steps
            return attacks.PGD.__call__(self.replace(steps=steps), model, x, y)

    kw = dict(eps=0.1, alpha=0.02, steps=20, seed=0)
    r = train.evaluate(std, digits, attack=BackwardsInEps(**kw), check_samples=128, warn=False)
    text = " ".join(r.warnings)
    assert "at eps=0" in text and "not monotone in eps" in text
    assert "more steps" not in text
    with pytest.warns(train.GradientMaskingWarning, match="more steps made the attack weaker"):
        r = train.evaluate(std, digits, attack=BackwardsInSteps(**kw), check_samples=128)
    assert "at eps=0" not in " ".join(r.warnings)


def test_evaluate_parameter_free_model(digits):
    """A model without parameters (a fixed classifier) evaluates on the CPU; accuracy
    recomputed here."""

    class Fixed(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]  # "class" = brightest of the first ten pixels

    want = float((digits.test.x.flatten(1)[:, :10].argmax(1) == digits.test.y).float().mean())
    assert train.evaluate(Fixed(), digits).clean_acc == want
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        train.evaluate(lambda x: x, digits)


def test_float64_model_trains_and_evaluates(digits):
    """fit / evaluate cast the float32 batches to the model's dtype; the clean accuracy is
    recomputed here in float64, and the float64 run tracks the float32 one."""
    d = data.load("digits", val_size=100, seed=0, pixel_range=(0.0, 0.1))  # not exact in f32
    kw = dict(method="madry", epochs=1, eps=0.01, alpha=0.003, steps=3, seed=2, **SGD)
    kw["lr"] = 0.5  # pixels 10x smaller than in [0, 1]
    m32, m64 = small_net(), small_net().double()
    train.fit(m32, d, **kw)
    train.fit(m64, d, **kw)
    assert all(p.dtype == torch.float64 for p in m64.parameters())
    for p32, p64 in zip(m32.parameters(), m64.parameters()):
        torch.testing.assert_close(p64.float(), p32, atol=1e-3, rtol=1e-3)
    atk = attacks.PGD(eps=0.01, alpha=0.003, steps=5, clip=(0.0, 0.1))
    r = train.evaluate(m64, d, attack=atk, checks=False)
    with torch.no_grad():
        want = float((m64.eval()(d.test.x.double()).argmax(1) == d.test.y).float().mean())
    assert r.clean_acc == want and r.robust_acc <= r.clean_acc


def test_cli_negative_pixel_range(tmp_path):
    """``--pixel-range -1,1`` (Kim et al.'s range, as the help text writes it) parses."""
    from tradeoff.torch import cli

    out = tmp_path / "k.json"
    argv = ["--data", "digits", "--net", "toy_mlp", "--method", "standard", "--epochs", "1"]
    argv += ["--pixel-range", "-1,1", "--quiet", "--json", str(out), "--eval-eps", "0"]
    assert cli.main(argv) == 0
    import json

    assert json.loads(out.read_text())["config"]["clip"] == [-1.0, 1.0]


def test_progress_bar_shows_an_eta_per_phase_and_evaluation_reports(capsys):
    import io

    from tradeoff.torch.train import _Progress

    stream = io.StringIO()
    bar = _Progress(True, stream)
    bar.update("epoch 1/2", 0, 4, "")
    bar.update("epoch 1/2", 2, 4, "loss 1")  # not a tty: only final lines are written
    bar.update("epoch 1/2", 4, 4, "loss 1", final=True)
    assert stream.getvalue().splitlines() == ["epoch 1/2 [########################] 4/4 loss 1"]
    stream.isatty = lambda: True
    bar = _Progress(True, stream)
    bar.update("phase", 0, 10, "")
    bar._last = 0.0
    bar.update("phase", 5, 10, "m")
    assert "5/10 m ETA" in stream.getvalue()
    d = data.load("digits", seed=0, subset=64, test_subset=64)
    model = nets.build("toy_mlp", input_shape=d.input_shape, seed=0)
    train.evaluate(model, d, progress=True)
    err = capsys.readouterr().err
    assert "evaluate [########################] 1/1 clean" in err
