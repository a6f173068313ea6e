"""Generated bad input over the public API (issue 18): every public function of the theory
modules and of the torch layer, every argument replaced in turn by every bad value.

A table lists each entry point with valid baseline arguments (a factory: a fresh copy per
case, since ``fit`` trains its model in place) and the kind of each argument. The bad
values are generic (NaN, ±inf, 0, −1, ±1e308, the smallest subnormal, ±2**70, a bool, a
string, ``None``, ``[]``, a complex number, an object) plus values derived from the
baseline for its kind (arrays and tensors with a NaN, an inf, empty, an extra axis, the
wrong dtype, huge or subnormal entries; strings in the wrong case; seeds out of range).
The outcome of every case must be

* a ``ValueError`` / ``TypeError`` whose message names the parameter, or
* a result whose every number is finite (documented infinities aside, see ``allow_inf``)
  and that passes the entry's own validity check (attacks: in the ball and the pixel box),

never another exception type (a ``RuntimeWarning`` from the package is an error under
pytest's configuration), never NaN or inf, never a case that runs past ``CASE_SECONDS``.
The counts of outcomes are printed at the end of the module (``-s`` not needed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import signal
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeoff import bernoulli as bern
from tradeoff import calibration as cal
from tradeoff import gaussian as gauss
from tradeoff import intervals as iv
from tradeoff import svm

#: wall-clock limit of one case (a case that runs longer is a hang: the work of every
#: case here is small, the slowest valid one takes well under a second)
CASE_SECONDS = 20.0

OUTCOMES: Counter = Counter()
CLI_OUTCOMES: Counter = Counter()
#: kind -> baseline -> extra bad values (filled by the torch part below)
TORCH_KINDS: dict[str, Callable[[object], list[tuple[str, object]]]] = {}


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise CaseTimeout(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- bad values

GENERIC: list[tuple[str, object]] = [
    ("nan", math.nan),
    ("+inf", math.inf),
    ("-inf", -math.inf),
    ("0", 0),
    ("0.0", 0.0),
    ("-1", -1),
    ("-0.5", -0.5),
    ("1e308", 1e308),
    ("-1e308", -1e308),
    ("subnormal", 5e-324),
    ("2**70", 2**70),
    ("-2**70", -(2**70)),
    ("True", True),
    ("str", "x"),
    ("None", None),
    ("[]", []),
    ("complex", 1 + 2j),
    ("object", object()),
    ("np.nan64", np.float64("nan")),
    ("np.int64", np.int64(3)),
]


def _array_variants(a: np.ndarray) -> list[tuple[str, object]]:
    a = np.asarray(a, dtype=np.float64)
    out = []
    if a.size:
        for name, v in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf)):
            b = a.copy()
            b.flat[0] = v
            out.append((f"array with {name}", b))
        out += [
            ("array huge", np.full_like(a, 1e308)),
            ("array -huge", np.full_like(a, -1e308)),
            ("array subnormal", np.full_like(a, 5e-324)),
            ("array zeros", np.zeros_like(a)),
            ("array negative", -np.abs(a) - 1.0),
            ("array complex", a.astype(complex)),
            ("array bool", a.astype(bool)),
            ("array str", a.astype(str)),
            ("array object", a.astype(object)),
            ("array extra axis", a[None]),
            ("array first entry", a.flat[0]),
            ("array one short", a.ravel()[:-1].reshape(-1) if a.ndim == 1 else a[:-1]),
            ("array list", a.tolist()),
        ]
    out += [("array empty", np.empty((0,) * max(a.ndim, 1)))]
    return out


def _tensor_variants(t) -> list[tuple[str, object]]:
    import torch

    out = []
    for name, v in (("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf)):
        b = t.clone()
        b.view(-1)[0] = v
        out.append((f"tensor with {name}", b))
    out += [
        ("tensor empty", t[:0]),
        ("tensor float16", t.half()),
        ("tensor int64", t.long()),
        ("tensor bool", t.bool()),
        ("tensor complex", t.to(torch.complex64)),
        ("tensor extra axis", t[None]),
        ("tensor flat", t.reshape(-1)),
        ("tensor one short", t[:-1]),
        ("tensor huge", torch.full_like(t, 1e30)),
        ("tensor negative", -t.abs() - 1),
        ("numpy", t.numpy()),
        ("tensor needs grad", t.clone().requires_grad_(True)),
    ]
    return out


def _label_variants(y) -> list[tuple[str, object]]:
    import torch

    n = y.shape[0]
    out = [
        ("labels (n, 1)", y[:, None]),
        ("labels (1, n)", y[None, :]),
        ("labels float", y.float()),
        ("labels float nan", torch.full((n,), math.nan)),
        ("labels bool", y.bool()),
        ("labels out of range", torch.full_like(y, 10)),
        ("labels negative", torch.full_like(y, -1)),
        ("labels huge", torch.full_like(y, 2**40)),
        ("labels int8", y.to(torch.int8)),
        ("labels one short", y[:-1]),
        ("labels empty", y[:0]),
        ("labels list", y.tolist()),
        ("labels numpy", y.numpy()),
    ]
    return out


STRING_BAD = [("empty str", ""), ("upper", "LINF"), ("bytes", b"linf"), ("unknown", "mse")]
SEED_BAD = [("seed 2**63", 2**63), ("seed 2**64", 2**64), ("seed float", 1.5), ("seed -1", -1)]
LOSS_BAD = [
    ("phi nan", lambda a: np.full_like(a, np.nan)),
    ("phi negative", lambda a: -np.ones_like(a)),
    ("phi inf", lambda a: np.full_like(a, np.inf)),
    ("phi huge", lambda a: np.full_like(a, 1e308)),
    ("phi wrong shape", lambda a: np.ones(3)),
    ("phi oscillating", np.sin),
    ("phi complex", lambda a: a + 0j),
    ("phi constant", lambda a: np.ones_like(a)),
    ("phi zero", lambda a: np.zeros_like(a)),
    ("phi str", lambda a: "x"),
    ("phi exp(-1000 a)", lambda a: np.exp(-1000.0 * a)),
    ("phi 1e-300 hinge", lambda a: 1e-300 * np.maximum(0.0, 1.0 - a)),
    ("unknown name", "mse"),
]
BOOL_BAD = [("int 1", 1), ("str yes", "yes"), ("np.bool_", np.bool_(True))]


def bad_values(kind: str, baseline: object) -> list[tuple[str, object]]:
    vals = list(GENERIC)
    if kind in TORCH_KINDS:
        vals += TORCH_KINDS[kind](baseline)
    elif kind == "array":
        vals += _array_variants(np.asarray(baseline))
    elif kind == "tensor":
        vals += _tensor_variants(baseline)
    elif kind == "labels":
        vals += _label_variants(baseline)
    elif kind == "str":
        vals += STRING_BAD
    elif kind == "seed":
        vals += SEED_BAD
    elif kind == "bool":
        vals += BOOL_BAD
    elif kind == "pair":
        vals += [
            ("pair reversed", tuple(reversed(baseline))),
            ("pair nan", (math.nan, 1.0)),
            ("pair inf", (0.0, math.inf)),
            ("pair equal", (baseline[0], baseline[0])),
            ("triple", (*baseline, 1.0)),
            ("pair of str", ("0", "1")),
        ]
    elif kind == "gmodel":
        vals += GMODEL_BAD
    elif kind == "gmodel5":  # models of the baseline's d (the weights have d + 1 entries)
        vals += [(k, m) for k, m in GMODEL_BAD if m.d == baseline.d]
    elif kind == "bmodel":
        vals += BMODEL_BAD
    elif kind == "f":
        vals += F_BAD
    elif kind == "example":
        vals += [
            ("example eps 1e-4", iv.IntervalExample(1e-4)),
            ("example eps 7", iv.IntervalExample(7)),
        ]
    elif kind == "loss":
        vals += LOSS_BAD
    elif kind == "seq":
        seq = tuple(baseline)
        vals += [
            ("seq with nan", (*seq[:-1], math.nan)),
            ("seq with inf", (math.inf, *seq[1:])),
            ("seq empty", ()),
            ("seq reversed", tuple(reversed(seq))),
            ("seq one short", seq[:-1]),
            ("seq huge", tuple(1e308 for _ in seq)),
            ("seq of str", tuple(str(v) for v in seq)),
        ]
    elif kind == "exact":
        vals += [("fraction 0", Fraction(0)), ("fraction -1/3", Fraction(-1, 3))]
        vals += [("fraction tiny", Fraction(1, 10**12)), ("fraction 7/3", Fraction(7, 3))]
    return vals


# --------------------------------------------------------------------------- result checks


def non_finite(value: object, path: str = "result", seen=None) -> list[tuple[str, bool]]:
    """``(path, is_nan)`` of every NaN / ±inf number inside ``value`` (dataclasses,
    containers, arrays, tensors and modules are searched)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, (bool, np.bool_, Fraction, numbers.Integral, str, bytes)):
        return []
    if isinstance(value, numbers.Real):
        x = float(value)
        return [] if math.isfinite(x) else [(path, math.isnan(x))]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            return [(path, bool(np.isnan(value).any()))]
        return []
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                return [(path, bool(torch.isnan(value).any()))]
            return []
        if isinstance(value, torch.nn.Module):
            bad = []
            for k, t in value.state_dict().items():
                bad += non_finite(t, f"{path}.{k}", seen)
            return bad
    bad = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            bad += non_finite(getattr(value, f.name), f"{path}.{f.name}", seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            bad += non_finite(v, f"{path}[{k!r}]", seen)
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            bad += non_finite(v, f"{path}[{i}]", seen)
    return bad


@dataclass
class Entry:
    """One public entry point: ``call(**args())`` with valid ``args``; ``kinds`` names the
    kind of each argument that is varied; ``check(args, result)`` returns a problem or
    None; ``allow_inf`` lists result paths that may be infinite by documentation."""

    name: str
    call: Callable
    args: Callable[[], dict]
    kinds: dict[str, str]
    check: Callable[[dict, object], str | None] | None = None
    allow_inf: tuple[str, ...] = ()
    #: ``after(args)``: a problem or None, checked whatever the outcome (fit: the model
    #: keeps finite weights even when training raises); a problem the arguments had
    #: before the call (a model given with NaN weights) is not the call's
    after: Callable[[dict], str | None] | None = None
    #: other exception types that are documented outcomes (a missing file)
    ok_errors: tuple[type[BaseException], ...] = ()


def run_case(entry: Entry, param: str, label: str, value: object) -> tuple[str, str]:
    """(outcome, detail): outcome in {"ValueError", "TypeError", "finite result"} on
    success, else "FAIL"."""
    args = entry.args()
    args[param] = value
    args = _resolve_fresh(args)
    before = entry.after(args) if entry.after is not None else None
    outcome, detail = _outcome(entry, param, args)
    problem = entry.after(args) if entry.after is not None and before is None else None
    if problem and outcome != "FAIL":
        return "FAIL", problem
    return outcome, detail


def _outcome(entry: Entry, param: str, args: dict) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # UserWarnings (notices) are allowed
            warnings.filterwarnings("error", category=RuntimeWarning)
            with time_limit(CASE_SECONDS):
                result = entry.call(**args)
    except (ValueError, TypeError) as exc:
        kind = "ValueError" if isinstance(exc, ValueError) else "TypeError"
        msg = str(exc)
        if param.split("[")[0] not in msg:
            return "FAIL", f"{kind} not naming {param!r}: {msg[:200]}"
        return kind, msg
    except CaseTimeout as exc:
        return "FAIL", f"hang: {exc}"
    except entry.ok_errors as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # every other type is a failure
        return "FAIL", f"{type(exc).__name__}: {str(exc)[:200]}"
    bad = [(p, nan) for p, nan in non_finite(result) if nan or p not in entry.allow_inf]
    if bad:
        where = ", ".join(f"{'NaN' if nan else 'inf'} at {p}" for p, nan in bad[:4])
        return "FAIL", f"non-finite result: {where}"
    if entry.check is not None:
        problem = entry.check(args, result)
        if problem:
            return "FAIL", problem
    return "finite result", ""


def run_entry(entry: Entry) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    failures = []
    base = entry.args()
    for param, kind in entry.kinds.items():
        for label, value in bad_values(kind, base[param]):
            outcome, detail = run_case(entry, param, label, value)
            counts[outcome] += 1
            if outcome == "FAIL":
                failures.append(f"{entry.name}({param}={label}): {detail}")
    return counts, failures


# --------------------------------------------------------------------------- the table: theory

GM = gauss.GaussianModel(5, 0.3)
BM = bern.BernoulliModel(np.linspace(0.0, 0.25, 5))
_X, _Y = BM.sample(200, 0)
EX = iv.IntervalExample(Fraction(1, 5))
F_MIX = iv.mixed_classifier(EX, Fraction(1, 2))
F_AFF = iv.PiecewiseAffine.continuous((0, Fraction(1, 2), 1), (1, -1, 1))


def _inf_only_at_infinite_alpha(args: dict, result: object) -> str | None:
    """conditional_risk: +inf only where alpha is ±inf (the documented limit)."""
    alpha = np.broadcast_to(np.asarray(args["alpha"], dtype=np.float64), np.shape(result))
    bad = ~np.isfinite(np.asarray(result)) & np.isfinite(alpha)
    return f"inf at finite alpha {alpha[bad].tolist()}" if bad.any() else None


def E(label, call, kinds, /, allow_inf=(), check=None, fresh=(), after=None, ok=(), **args):
    """An entry; ``fresh`` names arguments given as factories (called for every case)."""

    def factory():
        return {k: (v() if k in fresh else v) for k, v in args.items()}

    return Entry(label, call, factory, kinds, check, tuple(allow_inf), after, tuple(ok))


THEORY: list[Entry] = [
    # gaussian
    E(
        "GaussianModel",
        gauss.GaussianModel,
        {"d": "int", "eta": "real", "p": "real"},
        d=5,
        eta=0.3,
        p=0.7,
    ),
    E("GaussianModel.sample", GM.sample, {"n": "int", "rng": "seed"}, n=3, rng=0),
    E(
        "GaussianModel.accuracy",
        GM.accuracy,
        {"w": "array", "eps": "real", "b": "real"},
        w=GM.averaging_weights(),
        eps=0.1,
        b=0.0,
    ),
    E(
        "GaussianModel.error",
        GM.error,
        {"w": "array", "eps": "real", "b": "real"},
        w=GM.averaging_weights(),
        eps=0.1,
        b=0.0,
    ),
    E(
        "GaussianModel.log_accuracy",
        GM.log_accuracy,
        {"w": "array", "eps": "real", "b": "real"},
        allow_inf=("result",),  # documented: -inf exactly when the accuracy is 0
        w=GM.averaging_weights(),
        eps=0.1,
        b=0.0,
    ),
    E("GaussianModel.averaging_accuracy", GM.averaging_accuracy, {"eps": "real"}, eps=0.1),
    E("averaging_weights", gauss.averaging_weights, {"d": "int"}, d=5),
    E("frontier_bound", gauss.frontier_bound, {"p": "real", "delta": "real"}, p=0.7, delta=0.1),
    E("frontier", gauss.frontier, {"p": "real", "delta": "real"}, p=0.7, delta=0.1),
    # svm
    E(
        "reduced_hinge",
        svm.reduced_hinge,
        {"model": "gmodel", "w1": "real", "v": "real", "eps": "real"},
        model=GM,
        w1=0.5,
        v=0.5,
        eps=0.1,
    ),
    E(
        "reduced_objective",
        svm.reduced_objective,
        {"model": "gmodel", "w1": "real", "v": "real", "eps": "real", "lam": "real"},
        model=GM,
        w1=0.5,
        v=0.5,
        eps=0.1,
        lam=1.0,
    ),
    E(
        "expected_hinge",
        svm.expected_hinge,
        {"model": "gmodel5", "w": "array", "eps": "real"},
        model=GM,
        w=GM.averaging_weights(),
        eps=0.1,
    ),
    E(
        "objective",
        svm.objective,
        {"model": "gmodel5", "w": "array", "eps": "real", "lam": "real"},
        model=GM,
        w=GM.averaging_weights(),
        eps=0.1,
        lam=1.0,
    ),
    E(
        "svm_optimum",
        svm.svm_optimum,
        {"model": "gmodel", "lam": "real", "eps": "real"},
        model=GM,
        lam=None,
        eps=0.1,
    ),
    E(
        "svm_optimum(lam)",
        svm.svm_optimum,
        {"lam": "real", "eps": "real"},
        model=GM,
        lam=1.0,
        eps=0.1,
    ),
    E(
        "nonrobust_threshold",
        svm.nonrobust_threshold,
        {"model": "gmodel", "lam": "real"},
        # documented: value = inf ("never"), v_at = None then
        allow_inf=("result.value",),
        model=GM,
        lam=None,
    ),
    E("SVMOptimum.accuracy", svm.svm_optimum(GM).accuracy, {"eps": "real"}, eps=0.1),
    # calibration
    E("get_loss", cal.get_loss, {"name": "str"}, name="hinge"),
    E(
        "phi_limits",
        cal.phi_limits,
        {"loss": "loss"},
        allow_inf=("result[0]", "result[1]"),  # documented: +inf where phi is unbounded
        loss="logistic",
    ),
    E(
        "conditional_risk",
        cal.conditional_risk,
        {"loss": "loss", "eta": "array", "alpha": "array"},
        allow_inf=("result",),
        check=_inf_only_at_infinite_alpha,
        loss="logistic",
        eta=np.array([0.2, 0.7]),
        alpha=np.array([0.5, -1.0]),
    ),
    E("H", cal.H, {"loss": "loss", "eta": "array"}, loss="logistic", eta=np.array([0.2, 0.9])),
    E("H_minus", cal.H_minus, {"loss": "loss", "eta": "array"}, loss="hinge", eta=np.array([0.3])),
    E(
        "psi_tilde",
        cal.psi_tilde,
        {"loss": "loss", "theta": "array"},
        loss="exponential",
        theta=np.array([0.1, 0.5]),
    ),
    E(
        "psi",
        cal.psi,
        {"loss": "loss", "theta": "array", "method": "str"},
        loss="logistic",
        theta=np.array([0.1, 0.5]),
        method="auto",
    ),
    E(
        "psi_inverse",
        cal.psi_inverse,
        {"loss": "loss", "value": "array", "method": "str", "saturate": "bool"},
        loss="logistic",
        value=np.array([0.1, 0.2]),
        method="auto",
        saturate=False,
    ),
    E(
        "calibration_report",
        cal.calibration_report,
        {"loss": "loss", "theta_min": "real", "tol": "real"},
        loss="hinge",
        theta_min=2.0**-8,
        tol=1e-12,
    ),
    E("is_calibrated", cal.is_calibrated, {"loss": "loss"}, loss="sigmoid"),
    E(
        "MarginLoss",
        cal.MarginLoss,
        {"name": "str", "phi": "callable", "psi_closed": "callable"},
        name="sq",
        phi=np.exp,
        psi_closed=None,
    ),
    # intervals
    E("IntervalExample", iv.IntervalExample, {"eps": "exact"}, eps=Fraction(1, 5)),
    E(
        "IntervalExample.risks",
        lambda eps, f: iv.IntervalExample(eps).risks(f),
        {"eps": "exact", "f": "f"},
        eps=Fraction(1, 5),
        f=F_MIX,
    ),
    E("table1", iv.table1, {"eps": "exact"}, eps=0.2),
    E("IntervalExample.bayes", EX.bayes, {"scale": "exact"}, scale=2),
    E("IntervalExample.all_one", EX.all_one, {"scale": "exact"}, scale=2),
    E("IntervalExample.constant_score", EX.constant_score, {"value": "exact"}, value=-1),
    E("IntervalExample.eta", EX.eta, {"x": "array"}, x=np.array([0.1, 0.5])),
    E(
        "IntervalExample.surrogate_risk",
        EX.surrogate_risk,
        {"f": "f", "loss": "loss"},
        f=F_AFF,
        loss="hinge",
    ),
    E(
        "IntervalExample.optimal_surrogate_risk",
        EX.optimal_surrogate_risk,
        {"loss": "loss"},
        loss="exponential",
    ),
    E(
        "IntervalExample.boundary_surrogate",
        EX.boundary_surrogate,
        {"f": "f", "loss": "loss", "lam": "real"},
        f=F_MIX,
        loss="hinge",
        lam=1.0,
    ),
    E(
        "mixed_classifier",
        iv.mixed_classifier,
        {"example": "example", "c": "exact", "scale": "exact"},
        example=EX,
        c=Fraction(1, 2),
        scale=1,
    ),
    E(
        "PiecewiseAffine.constant",
        iv.PiecewiseAffine.constant,
        {"breaks": "seq", "values": "seq"},
        breaks=(0, Fraction(1, 3), 1),
        values=(1, -1),
    ),
    E(
        "PiecewiseAffine.continuous",
        iv.PiecewiseAffine.continuous,
        {"breaks": "seq", "values": "seq"},
        breaks=(0, 0.5, 1),
        values=(1.0, -1.0, 2.0),
    ),
    E("PiecewiseAffine.scaled", F_AFF.scaled, {"factor": "exact"}, factor=3),
    E("PiecewiseAffine.__call__", F_AFF, {"x": "array"}, x=np.array([0.0, 0.3, 1.0])),
    E(
        "theorem_3_1_terms",
        iv.theorem_3_1_terms,
        {"example": "example", "f": "f", "loss": "loss", "lam": "real"},
        example=EX,
        f=F_MIX,
        loss="hinge",
        lam=1.0,
    ),
    E(
        "theorem_3_2_construction",
        iv.theorem_3_2_construction,
        {"loss": "loss", "theta": "real", "xi": "real", "eps": "real"},
        loss="logistic",
        theta=0.5,
        xi=0.01,
        eps=0.5,
    ),
    # bernoulli
    E(
        "BernoulliModel",
        bern.BernoulliModel,
        {"tau": "array", "theta": "array"},
        tau=BM.tau,
        theta=np.ones(5),
    ),
    E("BernoulliModel.sample", BM.sample, {"n": "int", "rng": "seed"}, n=3, rng=0),
    E(
        "BernoulliModel.accuracy_bracket",
        BM.accuracy_bracket,
        {"w": "array", "eps": "real", "b": "real", "tol": "real"},
        w=np.array([0.3, 0.1, 0.7, 0.2, 0.5]),
        eps=0.1,
        b=0.05,
        tol=1e-3,
    ),
    E(
        "BernoulliModel.accuracy",
        BM.accuracy,
        {"w": "array", "eps": "real", "b": "real", "tol": "real"},
        w=np.array([1.0, 2.0, 1.0, 3.0, 1.0]),
        eps=0.1,
        b=0.0,
        tol=1e-3,
    ),
    E(
        "expected_logistic",
        bern.expected_logistic,
        {"model": "bmodel", "w": "array", "shift": "real", "order": "int"},
        model=BM,
        w=np.ones(5),
        shift=0.5,
        order=1,
    ),
    E(
        "population_loss",
        bern.population_loss,
        {"model": "bmodel", "w": "array", "eps": "real", "adversarial_fraction": "real"},
        model=BM,
        w=np.ones(5),
        eps=0.1,
        adversarial_fraction=0.5,
    ),
    E(
        "robust_logistic",
        bern.robust_logistic,
        {"model": "bmodel", "eps": "real", "adversarial_fraction": "real", "tol": "real"},
        model=BM,
        eps=0.2,
        adversarial_fraction=0.5,
        tol=1e-12,
    ),
    E(
        "threshold_at",
        bern.threshold_at,
        {"model": "bmodel", "w": "array", "eps": "real", "adversarial_fraction": "real"},
        model=BM,
        w=np.ones(5),
        eps=0.2,
        adversarial_fraction=0.5,
    ),
    E(
        "weight_threshold",
        bern.weight_threshold,
        {"model": "bmodel", "eps": "real", "adversarial_fraction": "real"},
        model=BM,
        eps=0.5,
        adversarial_fraction=0.5,
    ),
    E(
        "empirical_robust_logistic",
        bern.empirical_robust_logistic,
        {
            "x": "array",
            "y": "array",
            "eps": "real",
            "adversarial_fraction": "real",
            "theta": "array",
        },
        x=_X,
        y=_Y,
        eps=0.1,
        adversarial_fraction=0.5,
        theta=np.ones(5),
    ),
    E(
        "collins_procedure",
        bern.collins_procedure,
        {
            "model": "bmodel",
            "rng": "seed",
            "n": "int",
            "eps": "real",
            "robust": "bool",
            "iterations": "int",
            "lr": "real",
            "init": "str",
            "data": "obj",
        },
        model=BM,
        rng=0,
        n=50,
        eps=0.1,
        robust=True,
        iterations=5,
        lr=0.01,
        init="zeros",
        data=None,
    ),
    E("theorem1_estimator", bern.theorem1_estimator, {"x": "array", "y": "array"}, x=_X, y=_Y),
    E("theorem1_bound", bern.theorem1_bound, {"model": "bmodel", "n": "int"}, model=BM, n=100),
    E(
        "theorem1_error",
        bern.theorem1_error,
        {"model": "bmodel", "x": "array", "y": "array"},
        model=BM,
        x=_X,
        y=_Y,
    ),
]


GMODEL_BAD = [
    (f"GaussianModel({d}, {eta:g}, {p})", gauss.GaussianModel(d, eta, p))
    for d, eta, p in [
        (5, 1e308, 0.7),
        (5, 5e-324, 0.7),
        (5, 1e154, 0.7),
        (5, 1e-160, 0.7),
        (2**62, 1.0, 0.7),
        (2**62, 1e-300, 0.7),
        (1, 0.3, 0.5 + 1e-16),
        (1, 0.3, 1 - 1e-16),
        (5, 36.0, 0.7),
        (5, 3e8, 0.7),
    ]
]
BMODEL_BAD = [
    ("Bernoulli tau zeros", bern.BernoulliModel(np.zeros(5))),
    ("Bernoulli tau halves", bern.BernoulliModel(np.full(5, 0.5))),
    ("Bernoulli tau subnormal", bern.BernoulliModel(np.full(5, 5e-324))),
    ("Bernoulli tau 0.5 - 1e-16", bern.BernoulliModel(np.full(5, 0.5 - 1e-16))),
]
F_BAD = [
    ("f huge", iv.PiecewiseAffine.constant((0, 0.5, 1), (1e308, -1e308))),
    ("f subnormal", iv.PiecewiseAffine.constant((0, 0.5, 1), (5e-324, -5e-324))),
    ("f affine huge", iv.PiecewiseAffine.continuous((0, 1), (-1e308, 1e308))),
    ("f tiny piece", iv.PiecewiseAffine.constant((0, 5e-324, 1), (-1, 1))),
    ("f zero", iv.PiecewiseAffine.constant((0, 1), (0,))),
    ("f many pieces", iv.PiecewiseAffine.constant(tuple(np.linspace(0, 1, 2001)), (1, -1) * 1000)),
]


def _summary(counts: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


@pytest.mark.parametrize("entry", THEORY, ids=lambda e: e.name)
def test_theory_bad_input(entry):
    counts, failures = run_entry(entry)
    OUTCOMES.update(counts)
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------- the table: torch


def torch_entries(tmp: str) -> list[Entry]:
    """The torch layer's entry points on a tiny problem (8×8 images, 16 samples)."""
    import torch
    from torch import nn

    from tradeoff.torch import attacks, data, nets, train

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (16,), generator=gen)
    logits = torch.randn(16, 10, generator=gen)

    def net(scale: float = 1.0, dtype=torch.float32):
        m = nets.build("linear", input_shape=(1, 8, 8), num_classes=10, seed=0).to(dtype)
        with torch.no_grad():
            for p_ in m.parameters():
                p_.mul_(scale)
        return m

    def filled(value: float):
        m = net()
        with torch.no_grad():
            m[-1].weight.fill_(value)
        return m

    class Confident(nn.Module):
        """Logits with a margin of ~95 (float32 CE gradients are denormal or 0)."""

        def forward(self, t):
            z = torch.zeros(t.shape[0], 10, dtype=t.dtype)
            z[:, 0] = 95.0 + t.flatten(1).sum(1) * 1e-3
            return z

    model_bad = [
        ("net NaN weights", lambda: filled(math.nan)),
        ("net inf weights", lambda: filled(math.inf)),
        ("net 1e30 weights", lambda: net(1e30)),
        ("net 1e36 weights", lambda: net(1e36)),
        ("net over-confident", lambda: Confident()),
        ("net float64", lambda: net(dtype=torch.float64)),
        ("net half", lambda: net().half()),
        ("identity (wrong output)", lambda: nn.Identity()),
        ("flatten (no parameters)", lambda: nn.Flatten()),
        ("callable NaN", lambda: lambda t: torch.full((t.shape[0], 10), math.nan)),
    ]

    def model_variants(_):
        return [(k, _Fresh(f)) for k, f in model_bad]

    TORCH_KINDS["tmodel"] = model_variants
    TORCH_KINDS["tloss"] = lambda _: [
        ("loss mse", "mse"),
        ("loss callable reduced", lambda z, t: z.sum()),
        ("loss callable NaN", lambda z, t: torch.full((z.shape[0],), math.nan)),
    ]

    def split(n=64):
        return data.Split(x[:16].repeat(n // 16, 1, 1, 1), y[:16].repeat(n // 16))

    def in_ball(args: dict, xa) -> str | None:
        x0, eps = args["x"], args["eps"]
        lo, hi = args.get("clip", (0.0, 1.0))
        if not isinstance(xa, torch.Tensor) or xa.shape != x0.shape or xa.dtype != x0.dtype:
            return f"result {type(xa).__name__} is not a tensor like x"
        if float(xa.min()) < lo or float(xa.max()) > hi:
            return f"result outside clip: [{float(xa.min())}, {float(xa.max())}]"
        d = (xa.detach().double() - x0.detach().double()).flatten(1)
        if args.get("norm", "linf") == "linf":
            out = float(d.abs().max()) - eps
            slack = eps * 1e-6 + 1e-7
        else:
            out = float(d.norm(dim=1).max()) - eps
            slack = eps * 1e-5 + 1e-6
        return f"result {out:g} outside the eps-ball" if out > slack else None

    def finite_model(args: dict) -> str | None:
        m = args.get("model")
        if isinstance(m, nn.Module) and any(
            not bool(torch.isfinite(t).all())
            for t in m.state_dict().values()
            if t.is_floating_point()
        ):
            return "the model holds NaN or inf after the call"
        return None

    ckpt = f"{tmp}/c.pt"
    trained = net()
    train.fit(trained, split(), epochs=1, checkpoint=ckpt, progress=False, batch_size=32)
    state = train.load_checkpoint(ckpt)

    attack = {
        "model": "tmodel",
        "x": "tensor",
        "y": "labels",
        "eps": "real",
        "alpha": "real",
        "steps": "int",
        "norm": "str",
        "random_start": "bool",
        "restarts": "int",
        "loss": "tloss",
        "targeted": "bool",
        "seed": "seed",
        "clip": "pair",
    }
    base = dict(eps=0.1, alpha=0.03, steps=2, random_start=True, restarts=2, loss="ce")
    base.update(targeted=False, seed=0, clip=(0.0, 1.0))
    fit_kinds = {
        "model": "tmodel",
        "data": "obj",
        "method": "str",
        "epochs": "int",
        "preset": "str",
        "batch_size": "int",
        "optimizer": "str",
        "lr": "real",
        "momentum": "real",
        "weight_decay": "real",
        "milestones": "seq",
        "gamma": "real",
        "eps": "real",
        "alpha": "real",
        "steps": "int",
        "norm": "str",
        "beta": "real",
        "clip": "pair",
        "seed": "seed",
        "checkpoint": "obj",
        "checkpoint_every": "int",
        "resume": "bool",
        "progress": "bool",
        "callback": "callable",
    }
    return [
        E(
            "pgd linf",
            attacks.pgd,
            attack,
            check=in_ball,
            fresh=("model",),
            model=net,
            x=x,
            y=y,
            norm="linf",
            **base,
        ),
        E(
            "pgd l2",
            attacks.pgd,
            attack,
            check=in_ball,
            fresh=("model",),
            model=net,
            x=x,
            y=y,
            norm="l2",
            **{**base, "eps": 0.5, "alpha": 0.2},
        ),
        E(
            "fgsm",
            attacks.fgsm,
            {k: attack[k] for k in ("model", "x", "y", "eps", "norm", "loss", "targeted", "clip")},
            check=in_ball,
            fresh=("model",),
            model=net,
            x=x,
            y=y,
            eps=0.1,
            norm="l2",
            loss="cw",
            targeted=False,
            clip=(0.0, 1.0),
        ),
        E(
            "trades_inner_max",
            attacks.trades_inner_max,
            {
                "model": "tmodel",
                "x": "tensor",
                "eps": "real",
                "alpha": "real",
                "steps": "int",
                "norm": "str",
                "seed": "seed",
                "clip": "pair",
                "loss": "callable",
                "init_std": "real",
            },
            check=in_ball,
            fresh=("model",),
            model=net,
            x=x,
            eps=0.1,
            alpha=0.03,
            steps=2,
            norm="linf",
            seed=0,
            clip=(0.0, 1.0),
            loss=None,
            init_std=0.001,
        ),
        E(
            "PGD",
            attacks.PGD,
            {
                k: attack[k]
                for k in (
                    "eps",
                    "alpha",
                    "steps",
                    "norm",
                    "random_start",
                    "restarts",
                    "loss",
                    "seed",
                    "clip",
                )
            },
            eps=0.1,
            alpha=0.02,
            steps=3,
            norm="linf",
            random_start=True,
            restarts=1,
            loss="ce",
            seed=0,
            clip=(0.0, 1.0),
        ),
        E(
            "per_sample_loss",
            attacks.per_sample_loss,
            {"logits": "tensor", "y": "labels", "loss": "tloss"},
            logits=logits,
            y=y,
            loss="ce",
        ),
        E("correct", attacks.correct, {"logits": "tensor", "y": "labels"}, logits=logits, y=y),
        E(
            "trades_kl",
            attacks.trades_kl,
            {"logits_adv": "tensor", "logits_nat": "tensor"},
            logits_adv=logits,
            logits_nat=logits.flip(0),
        ),
        E(
            "input_gradient",
            attacks.input_gradient,
            {"model": "tmodel", "x": "tensor", "objective": "callable"},
            fresh=("model",),
            model=net,
            x=x,
            objective=lambda z: z.sum(),
        ),
        E("fast_model", attacks.fast_model, {"model": "tmodel"}, fresh=("model",), model=net),
        E("Split", data.Split, {"x": "tensor", "y": "labels"}, x=x, y=y),
        E(
            "load",
            data.load,
            {
                "name": "str",
                "root": "obj",
                "binary": "pair",
                "val_size": "real",
                "subset": "int",
                "test_subset": "int",
                "pixel_range": "pair",
                "seed": "seed",
            },
            name="digits",
            root=None,
            binary=(5, 7),
            val_size=0.1,
            subset=50,
            test_subset=20,
            pixel_range=(0.0, 1.0),
            seed=0,
        ),
        E(
            "build",
            nets.build,
            {"name": "str", "input_shape": "seq", "num_classes": "int", "seed": "seed"},
            name="toy_mlp",
            input_shape=(1, 8, 8),
            num_classes=10,
            seed=0,
        ),
        E(
            "fit",
            train.fit,
            fit_kinds,
            after=finite_model,
            fresh=("model", "data"),
            model=net,
            data=split,
            method="madry",
            epochs=1,
            preset=None,
            batch_size=32,
            optimizer="sgd",
            lr=0.05,
            momentum=0.5,
            weight_decay=0.0,
            milestones=(1,),
            gamma=0.5,
            eps=0.1,
            alpha=0.05,
            steps=1,
            norm="linf",
            beta=1.0,
            clip=(0.0, 1.0),
            seed=0,
            checkpoint=None,
            checkpoint_every=None,
            resume=False,
            progress=False,
            callback=None,
        ),
        E(
            "evaluate",
            train.evaluate,
            {
                "model": "tmodel",
                "data": "obj",
                "attack": "callable",
                "split": "str",
                "batch_size": "int",
                "checks": "bool",
                "check_samples": "int",
                "large_eps_max_acc": "real",
                "warn": "bool",
                "progress": "bool",
            },
            fresh=("model", "data"),
            model=net,
            data=split,
            attack=attacks.PGD(eps=0.1, alpha=0.05, steps=2),
            split="test",
            batch_size=32,
            checks=True,
            check_samples=16,
            large_eps_max_acc=0.1,
            warn=False,
            progress=False,
        ),
        E(
            "save_checkpoint",
            train.save_checkpoint,
            {"path": "obj", "state": "obj"},
            path=f"{tmp}/s.pt",
            state=state,
        ),
        # a path that names no file: FileNotFoundError (documented), like open()
        E(
            "load_checkpoint",
            train.load_checkpoint,
            {"path": "obj"},
            ok=(FileNotFoundError,),
            path=ckpt,
        ),
    ]


class _Fresh:
    """A bad value built anew for each case (a model that a call may change)."""

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def _resolve_fresh(args: dict) -> dict:
    return {k: (v.make() if isinstance(v, _Fresh) else v) for k, v in args.items()}


@pytest.fixture(scope="module")
def torch_table(tmp_path_factory):
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch_entries(str(tmp_path_factory.mktemp("reliability")))
    torch.set_num_threads(n)


TORCH_NAMES = [
    "pgd linf",
    "pgd l2",
    "fgsm",
    "trades_inner_max",
    "PGD",
    "per_sample_loss",
    "correct",
    "trades_kl",
    "input_gradient",
    "fast_model",
    "Split",
    "load",
    "build",
    "fit",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_bad_input(torch_table, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a path argument "x" is a valid file name: written here
    (entry,) = [e for e in torch_table if e.name == name]
    counts, failures = run_entry(entry)
    OUTCOMES.update(counts)
    assert not failures, "\n".join(failures)


if __name__ == "__main__":  # discovery: python tests/test_reliability.py [torch]
    import tempfile

    table = THEORY
    if sys.argv[1:] == ["torch"]:
        import torch

        torch.set_num_threads(1)
        table = torch_entries(tempfile.mkdtemp())
        os.chdir(tempfile.mkdtemp())  # a path argument "x" is a valid file name
    total: Counter = Counter()
    for entry in table:
        counts, failures = run_entry(entry)
        total.update(counts)
        for f in failures:
            print(f)
        sys.stdout.flush()
    print(_summary(total))


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    """Print the outcome counts of the generated cases when the module is done."""
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for label, counts in (("bad-input", OUTCOMES), ("CLI", CLI_OUTCOMES)):
            if counts:
                reporter.write_line(
                    f"\ntest_reliability: {sum(counts.values())} generated {label} cases: "
                    + _summary(counts)
                )


# --------------------------------------------------------------------------- numeric extremes


def _ok_or_named_error(
    call: Callable[[], object], names: tuple[str, ...], allow_inf: tuple[str, ...] = ()
) -> object:
    """``call()`` returns a finite result (±inf only at ``allow_inf``) or raises a
    ValueError/TypeError naming one of ``names``; anything else fails the test. Returns
    the result (or None)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with time_limit(CASE_SECONDS):
                result = call()
    except (ValueError, TypeError) as exc:
        assert any(n in str(exc) for n in names), (
            f"{type(exc).__name__} naming none of {names}: {exc}"
        )
        return None
    bad = [(p, nan) for p, nan in non_finite(result) if nan or p not in allow_inf]
    assert not bad, f"non-finite result {bad}: {result!r:.300}"
    return result


log_uniform = st.floats(-320, 308).map(lambda e: 10.0**e)


@given(
    eta=log_uniform,
    d=st.integers(1, 2**62),
    p=st.floats(0.5, 1.0, exclude_min=True, exclude_max=True),
    eps=st.one_of(st.just(0.0), log_uniform),
    lam=st.one_of(st.none(), log_uniform),
)
def test_svm_optimum_at_extreme_arguments(eta, d, p, eps, lam):
    """The issue's svm_optimum(GaussianModel(5, 1e308)).hinge was NaN: over the whole float
    range the optimum is finite or refused naming what is out of range."""
    model = gauss.GaussianModel(d, eta, p)
    opt = _ok_or_named_error(
        lambda: svm.svm_optimum(model, lam=lam, eps=eps), ("eta", "eps", "lam", "model")
    )
    if opt is not None:
        assert 0.0 <= opt.standard_accuracy <= 1.0 and opt.hinge >= 0.0


@given(
    eta=log_uniform,
    d=st.integers(1, 50),
    scale=log_uniform,
    eps=st.one_of(st.just(0.0), log_uniform),
    b=st.floats(-1e308, 1e308),
)
def test_gaussian_accuracy_at_extreme_arguments(eta, d, scale, eps, b):
    model = gauss.GaussianModel(d, eta)
    w = np.linspace(-1.0, 1.0, d + 1) * scale
    acc = _ok_or_named_error(lambda: model.accuracy(w, eps, b), ("w", "eps", "b"))
    if acc is not None:
        assert 0.0 <= acc <= 1.0


@given(eps=st.one_of(log_uniform, st.fractions(min_value=0, max_value=3)))
def test_intervals_never_hang(eps):
    """Work grows as 1/eps: below 1e-4 the example is refused at once (issue: 1e-7 never
    returned); every accepted eps gives exact risks in [0, 1]."""
    t = _ok_or_named_error(lambda: iv.table1(eps), ("eps",))
    if t is not None:
        for r in (t.bayes, t.all_one, t.all_minus_one):
            assert 0 <= r.natural <= 1 and r.robust == r.natural + r.boundary


def test_intervals_refuse_tiny_eps_at_once():
    import time

    for eps in (1e-7, Fraction(1, 10**9), 5e-324):
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=r"eps must be >= 0\.0001"):
            iv.IntervalExample(eps).risks(iv.IntervalExample(0.2).all_one())
        with pytest.raises(ValueError, match="eps"):
            iv.table1(eps)
        assert time.perf_counter() - t0 < 0.1


@given(
    shift=st.floats(-1e308, 1e308),
    scale=log_uniform,
    order=st.integers(0, 2),
)
def test_expected_logistic_resolved_or_refused(shift, scale, order):
    """Far in the tail the line integral cancels beyond float64 (shift 1000 gave -2e28
    with an error bound 3e30): the result is resolved, or refused naming w/shift."""
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0]) * min(scale, 1e300)
    out = _ok_or_named_error(
        lambda: bern.expected_logistic(BM, w, shift=shift, order=order), ("w", "shift")
    )
    if out is not None:
        value, err = out
        assert err <= 1e-6 * max(1.0, abs(value))


@given(
    eta=log_uniform,
    d=st.integers(1, 2**62),
    p=st.floats(0.5, 1.0, exclude_min=True, exclude_max=True),
    lam=st.one_of(st.none(), log_uniform),
)
def test_nonrobust_threshold_at_extreme_arguments(eta, d, p, lam):
    model = gauss.GaussianModel(d, eta, p)
    thr = _ok_or_named_error(
        lambda: svm.nonrobust_threshold(model, lam=lam),
        ("eta", "lam", "model"),
        allow_inf=("result.value",),  # documented: inf where the threshold is never reached
    )
    if thr is not None:
        assert thr.value >= 0.0


# --------------------------------------------------------------------------- attacks (item 1)


@pytest.fixture(scope="module")
def tiny_linear():
    torch = pytest.importorskip("torch")
    from tradeoff.torch import nets

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    model = nets.build("linear", input_shape=(1, 8, 8), num_classes=10, seed=0).eval()
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    yield model, x, y
    torch.set_num_threads(n)


@given(
    margin=st.floats(0.0, 300.0),
    alpha=st.floats(-8, 30).map(lambda e: 10.0**e),
    eps=st.floats(0.0, 20.0),
    norm=st.sampled_from(["linf", "l2"]),
    which=st.sampled_from(["pgd", "fgsm", "trades"]),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_attacks_never_nan_and_stay_in_the_ball(
    tiny_linear, margin, alpha, eps, norm, which, dtype
):
    """Issue item 1: an over-confident model (logit margins up to 300: float32 gradients
    denormal or exactly 0) and step sizes up to 1e30 gave NaN and results up to 7.5 eps
    outside the l2 ball. Every attack's result is finite, in the ball and in the box."""
    import torch

    base, x, y = tiny_linear
    model = copy_scaled(base, margin, x, dtype)
    x = x.to(getattr(torch, dtype))
    if which == "pgd":
        xa = attacks_mod().pgd(model, x, y, eps=eps, alpha=alpha, steps=3, norm=norm, seed=0)
    elif which == "fgsm":
        eps = min(alpha, 1e30)
        xa = attacks_mod().fgsm(model, x, y, eps=eps, norm=norm)
    else:
        xa = attacks_mod().trades_inner_max(
            model, x, eps=eps, alpha=alpha, steps=3, norm=norm, seed=0
        )
    assert torch.isfinite(xa).all() and xa.dtype == x.dtype
    assert float(xa.min()) >= 0.0 and float(xa.max()) <= 1.0
    d = (xa.double() - x.double()).flatten(1)
    if norm == "linf":
        assert float(d.abs().max()) <= eps * (1 + 1e-6) + 1e-7
    else:
        assert float(d.norm(dim=1).max()) <= eps * (1 + 1e-5) + 1e-6


def attacks_mod():
    from tradeoff.torch import attacks

    return attacks


def copy_scaled(model, margin: float, x, dtype: str):
    """A copy of ``model`` whose smallest top-1 logit margin on ``x`` is ``margin``."""
    import copy

    import torch

    m = copy.deepcopy(model)
    with torch.no_grad():
        top2 = m(x).topk(2, dim=1).values
        gap = float((top2[:, 0] - top2[:, 1]).min())
        for p in m.parameters():
            p.mul_(margin / max(gap, 1e-12))
    return m.to(getattr(torch, dtype))


# --------------------------------------------------------------------------- fit (item 2)


def test_fit_raises_when_the_step_itself_overflows_and_keeps_the_weights():
    """lr 1e308 ended with inf weights and exit code 0: the loss of the only step was
    finite, the step made the weights inf. Now every step is checked (the loss before it,
    the parameters after it) and a diverging step is undone: the model keeps its initial
    weights here, bit for bit."""
    torch = pytest.importorskip("torch")
    from tradeoff.torch import data, nets, train

    d = data.load("digits", subset=64, seed=0)
    net = nets.build("linear", input_shape=d.input_shape, seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(train.DivergenceError, match=r"epoch 1, batch 1.*lr=1e\+30") as info:
        train.fit(net, d, epochs=1, optimizer="sgd", lr=1e30, weight_decay=1e30, progress=False)
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, ValueError)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match=r"lr must be in \(0, 1e\+30\]"):
        train.fit(net, d, epochs=1, lr=1e308, progress=False)


@given(lr=st.floats(-2, 38).map(lambda e: 10.0**e), optimizer=st.sampled_from(["sgd", "adam"]))
def test_fit_never_ends_with_non_finite_weights(lr, optimizer):
    torch = pytest.importorskip("torch")
    from tradeoff.torch import data, nets, train

    d = data.Split(*_digits_batch())
    net = nets.build("linear", input_shape=(1, 8, 8), seed=0)
    try:
        train.fit(net, d, epochs=2, batch_size=16, optimizer=optimizer, lr=lr, progress=False)
    except ValueError as exc:
        assert "lr" in str(exc)
    assert all(bool(torch.isfinite(t).all()) for t in net.state_dict().values())


def _digits_batch():
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.rand(48, 1, 8, 8, generator=g), torch.randint(0, 10, (48,), generator=g)


def test_evaluate_labels_of_shape_n_1_and_out_of_range():
    """evaluate(model, Split(x, y[:, None])) compared (n, 1) with (n,) labels: an (n, n)
    broadcast, a wrong accuracy and a crash above the batch size. Labels (n, 1) now
    mean the same as (n,), everywhere; labels the network cannot output are refused."""
    torch = pytest.importorskip("torch")
    from tradeoff.torch import attacks, data, nets, train

    d = data.load("digits", seed=0)
    net = nets.build("linear", input_shape=d.input_shape, seed=0)
    train.fit(net, d, epochs=2, lr=0.01, optimizer="adam", batch_size=64, progress=False)
    x, y = d.test.x, d.test.y
    flat = train.evaluate(net, data.Split(x, y), batch_size=100)
    column = train.evaluate(net, data.Split(x, y[:, None]), batch_size=100)
    assert column.clean_acc == flat.clean_acc > 0.5
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 9\]"):
        train.evaluate(net, data.Split(x, torch.where(y == 3, 10, y)))
    with pytest.raises(ValueError, match=r"class indices in \[0, 9\]"):
        attacks.pgd(net, x[:8], torch.full((8,), 10), eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(ValueError, match="loss must be one of 'ce', 'cw'; got 'mse'"):
        attacks.per_sample_loss(net(x[:4]), y[:4], loss="mse")
    with pytest.raises(ValueError, match=r"data.train.y must hold class indices"):
        train.fit(net, data.Split(x, torch.where(y == 3, -1, y)), epochs=1, progress=False)


# --------------------------------------------------------------------------- CLI (item 6)

_INT = ["-1", "1.5", "nan", "x", "", "1180591620717411303424"]
_REAL = ["-1", "nan", "inf", "-inf", "1e400", "1e308", "x", ""]
CLI_BAD: dict[str, list[str]] = {
    "--data": ["nope", "", "."],
    "--data-dir": ["/nonexistent-folder"],
    "--binary": ["5", "5,5", "-1,3", "a,b", "5,7,9"],
    "--subset": [*_INT, "0"],
    "--test-subset": _INT,
    "--val": [*_REAL, "1"],
    "--pixel-range": ["1,0", "0,nan", "a,b", "0", "0,1,2", "-inf,0"],
    "--net": ["nope", "kim_cifar"],
    "--preset": ["nope", "trades_cifar10"],
    "--method": ["nope"],
    "--epochs": _INT,
    "--batch-size": [*_INT, "0"],
    "--optimizer": ["nope"],
    "--lr": [*_REAL, "0"],
    "--momentum": [*_REAL, "1"],
    "--weight-decay": _REAL,
    "--eps": _REAL,
    "--alpha": _REAL,
    "--steps": _INT,
    "--norm": ["l3"],
    "--beta": _REAL,
    "--seed": _INT,
    "--threads": [*_INT, "0", "100000"],
    "--checkpoint": ["/proc/c.pt", "/", ""],
    "--checkpoint-every": [*_INT, "0"],
    "--save": ["/proc/m.pt", "/", ""],
    "--json": ["/proc/r.json", "/", ""],
    "--eval-eps": _REAL,
    "--eval-steps": _INT,
    "--eval-alpha": _REAL,
}
CLI_FLAGS_BAD = [["--resume"], ["--checkpoint-every", "2"], ["--no-such-option"], ["--lr"]]


class _Reached(BaseException):
    """Raised by the stand-in for data loading: the arguments were accepted."""


def _cli_case(argv: list[str], monkeypatch, capsys) -> tuple[str, str]:
    import torch

    from tradeoff.torch import cli

    def reached(*args, **kwargs):
        raise _Reached

    monkeypatch.setattr(cli.data_mod, "load", reached)
    threads = torch.get_num_threads()
    try:
        rc = cli.main(argv)
    except _Reached:
        return "accepted", ""
    except SystemExit as exc:  # argparse: usage line + "error: ...", status 2
        err = capsys.readouterr().err
        if exc.code == 2 and "error:" in err and "Traceback" not in err:
            return "usage error", err
        return "FAIL", f"SystemExit({exc.code}): {err[-300:]}"
    except Exception as exc:  # a traceback is the failure
        return "FAIL", f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err.strip()
    if rc == 2 and err.startswith("error:") and "\n" not in err:
        return "refused", err
    return "FAIL", f"exit {rc}: {err[-300:]}"


def test_cli_bad_invocations_fail_before_any_work(monkeypatch, capsys, tmp_path):
    """Every bad value of every option of ``tradeoff train`` ends before the data are
    loaded, with one line ``error: ...`` naming the option and exit status 2 (or
    argparse's usage error); a value that passes is a valid one (the data loading is
    reached). 48 of 86 bad invocations used to end in a traceback, and --eval-steps -1
    or an unwritable --json were caught after training."""
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    base = ["--data", "digits", "--net", "linear", "--quiet"]
    cases = [[opt, v] for opt, values in CLI_BAD.items() for v in values] + CLI_FLAGS_BAD
    failures, accepted = [], []
    for extra in cases:
        argv = [*base, *extra]
        if extra[0] == "--data":
            argv = [a for a in base if a not in ("--data", "digits")] + extra
        outcome, detail = _cli_case(argv, monkeypatch, capsys)
        CLI_OUTCOMES[outcome] += 1
        name = extra[0].lstrip("-")
        if outcome == "FAIL":
            failures.append(f"{extra}: {detail}")
        elif outcome == "refused" and not any(
            n in detail for n in (name, name.replace("-", "_"), "data")
        ):
            failures.append(f"{extra}: error not naming {name}: {detail}")
        elif outcome == "accepted":
            accepted.append(" ".join(extra))
    assert not failures, "\n".join(failures)
    # the values that pass are valid ones: a folder as --data (its IDX files are checked
    # when loading), a huge TRADES weight (a diverging run is stopped by fit)
    assert sorted(accepted) == ["--beta 1e308", "--data ."], accepted


# --------------------------------------------------------------------------- the validators


def test_one_seed_rule_everywhere():
    """seed=-1 and seed=2**70 leaked numpy's ("expected non-negative integer") and
    torch's ("Overflow when unpacking long") messages; one validator now names the
    parameter and the range, for numpy generators, torch and the kernels alike."""
    from tradeoff._validate import check_rng, check_seed

    assert check_seed(0) == 0 and check_seed(np.int64(2**63 - 1)) == 2**63 - 1
    for bad in (-1, 2**63, 2**70):
        with pytest.raises(ValueError, match=r"seed must be an integer seed in \[0, 2\*\*63 - 1\]"):
            check_seed(bad)
        with pytest.raises(ValueError, match=r"rng must be an integer seed"):
            check_rng(bad)
        with pytest.raises(ValueError, match="rng must be"):
            gauss.GaussianModel(3, 0.2).sample(2, bad)
    for bad in (1.0, True, "1", None):
        with pytest.raises(TypeError, match="seed"):
            check_seed(bad)


def test_finite_output_names_every_argument_and_allows_only_listed_infinities():
    from tradeoff._validate import finite_output

    @finite_output(allow_inf=("result[1]",))
    def f(a, b=2.0):
        return (a * b, math.inf, np.array([a]))

    assert f(1.0)[0] == 2.0
    with pytest.raises(ValueError, match=r"f\(a=1e\+308, b=10\.0\): the result is not finite"):
        f(1e308, b=10.0)
    with pytest.raises(ValueError, match=r"NaN in result\[2\]"):
        f(math.nan)

    @finite_output()
    def g(x):
        return math.exp(x)

    with pytest.raises(ValueError, match=r"g\(x=1000\): float arithmetic failed"):
        g(1000)
