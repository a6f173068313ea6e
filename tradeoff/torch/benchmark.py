"""``tradeoff bench attack``: PGD on the Madry MNIST CNN, ours against a torchattacks-style loop.

Measures, in one process and interleaved (A B C A B C ...) so that machine load hits every
variant alike:

* images/s of a whole PGD-k attack (default PGD-40, l∞, ε = 0.3, α = 0.01, batch 128,
  ``madry_mnist``) for

  - ``eager``: the loop as torchattacks writes it (mean CE, ``autograd.grad``, then
    ``x + α·sign(g)``, ``clamp(x − x0, −ε, ε)``, ``clamp(·, 0, 1)`` as separate tensor ops),
  - ``tradeoff``: :func:`tradeoff.torch.attacks.pgd` (fused :mod:`tradeoff.kernels` step),
  - ``tradeoff+fast``: the same on :func:`tradeoff.torch.attacks.fast_model` (a frozen
    channels-last copy of the network; see there for why),
  - optionally (``--compile``) on ``torch.compile(model)``;
  - in reduced precision (``pgd(precision=...)``: bf16 autocast on the CPU, bf16 and fp16
    on CUDA where supported), on the model and on ``fast_model``, each reported as a ratio
    against the same variant in float32 (``--no-amp`` leaves them out);

* where the time goes: one forward+backward (input gradient) of the network vs one
  step (the eager 4-op step vs one fused kernel call), and the torch eager step before
  and after the Numba kernel ran in the process (the thread-pool interplay described in
  :mod:`tradeoff.kernels._threads`).

Prints medians with the min–max spread and ratios against ``eager``; ``--json`` writes
them. Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F

from . import attacks, nets


def eager_pgd(model, x, y, *, eps, alpha, steps, gen):
    """PGD l∞ exactly as torchattacks' ``PGD.forward`` writes it."""
    adv = x + torch.empty_like(x).uniform_(-eps, eps, generator=gen)
    adv = torch.clamp(adv, 0, 1).detach()
    for _ in range(steps):
        adv.requires_grad = True
        cost = F.cross_entropy(model(adv), y)
        grad = torch.autograd.grad(cost, adv, retain_graph=False, create_graph=False)[0]
        adv = adv.detach() + alpha * grad.sign()
        delta = torch.clamp(adv - x, min=-eps, max=eps)
        adv = torch.clamp(x + delta, min=0, max=1).detach()
    return adv


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def _micro(fn: Callable[[], object], device: torch.device, reps: int) -> list[float]:
    fn()
    return [_time(fn, device) for _ in range(reps)]


def _stats(ts: list[float]) -> dict:
    return {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "n": len(ts)}


def _batch(n: int, device: torch.device):
    """The first ``n`` Fashion-MNIST test images if installed, else uniform noise."""
    try:
        from . import data

        d = data.load("fashion_mnist", subset=1, test_subset=n, seed=0)  # test images only
        x, y, src = d.test.x, d.test.y, "Fashion-MNIST test images"
    except (FileNotFoundError, ValueError):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (n,), generator=g)
        src = "uniform noise (Fashion-MNIST not installed)"
    return x.to(device).contiguous(), y.to(device), src


def _amp_precisions(device: torch.device) -> list[str]:
    """The reduced precisions ``pgd`` supports on ``device``."""
    if device.type == "cpu":
        return ["bf16"]
    if device.type == "cuda":
        return (["bf16"] if torch.cuda.is_bf16_supported() else []) + ["fp16"]
    return []


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tradeoff bench attack", description=__doc__.split("\n\n")[0])
    p.add_argument("--net", default="madry_mnist", choices=nets.NETS)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--repeats", type=int, default=5, help="timed attacks per variant (5)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--compile", action="store_true", help="also time torch.compile(model)")
    p.add_argument(
        "--no-amp", action="store_true", help="leave out the reduced-precision (autocast) rows"
    )
    p.add_argument("--json", type=Path, help="write the results here")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from tradeoff import kernels
    from tradeoff.kernels import _threads

    model = nets.build(args.net, seed=0).to(device).eval()
    x, y, src = _batch(args.batch, device)
    eps, alpha, steps = args.eps, args.alpha, args.steps
    print(
        f"PGD-{steps} l∞ eps={eps} alpha={alpha} on {args.net}, batch {args.batch} of {src}; "
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
        f"{platform.processor() or platform.machine()}"
    )

    # ---- where the time goes: forward+backward vs one step
    fast = attacks.fast_model(model)

    def fwd_bwd(m):  # the bare forward + backward (input_gradient without its checks)
        return lambda: attacks._input_gradient(
            m, x, lambda lg: F.cross_entropy(lg, y, reduction="sum")
        )

    g = attacks.input_gradient(model, x, lambda lg: F.cross_entropy(lg, y, reduction="sum"))
    xa = x.clone()

    def eager_step():
        adv = xa + alpha * g.sign()
        delta = torch.clamp(adv - x, min=-eps, max=eps)
        return torch.clamp(x + delta, min=0, max=1)

    def fused_step():
        kernels.linf_step(xa, x, g, alpha, eps)

    reps_micro = 200 if device.type == "cuda" else 400
    eager_before = _micro(eager_step, device, reps_micro)
    fused = _micro(fused_step, device, reps_micro)
    eager_after = _micro(eager_step, device, reps_micro)
    fb: dict[str, list[float]] = {"base": [], "fast": []}
    for _ in range(9):
        fb["base"].append(_time(fwd_bwd(model), device))
        fb["fast"].append(_time(fwd_bwd(fast), device))

    # ---- whole attacks, interleaved
    gen = torch.Generator(device=device).manual_seed(0)
    variants: dict[str, Callable[[], torch.Tensor]] = {
        "eager (torchattacks-style)": lambda: eager_pgd(
            model, x, y, eps=eps, alpha=alpha, steps=steps, gen=gen
        ),
        "tradeoff.pgd": lambda: attacks.pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, seed=0),
        "tradeoff.pgd + fast_model": lambda: attacks.pgd(
            fast, x, y, eps=eps, alpha=alpha, steps=steps, seed=0
        ),
    }
    amp_pairs: dict[str, str] = {}  # reduced-precision variant -> its float32 counterpart
    if not args.no_amp:
        for prec in _amp_precisions(device):
            for base_name, m in (("tradeoff.pgd", model), ("tradeoff.pgd + fast_model", fast)):
                name = f"{base_name}, {prec}"

                def reduced(m: torch.nn.Module = m, prec: str = prec) -> torch.Tensor:
                    return attacks.pgd(
                        m, x, y, eps=eps, alpha=alpha, steps=steps, seed=0, precision=prec
                    )

                variants[name] = reduced
                amp_pairs[name] = base_name
    compile_s = None
    if args.compile:
        # torch.compile is typed as returning a callable; given a module it returns one
        compiled = cast(torch.nn.Module, torch.compile(model))
        t = time.perf_counter()
        attacks.pgd(compiled, x, y, eps=eps, alpha=alpha, steps=1, seed=0)
        compile_s = time.perf_counter() - t
        variants["tradeoff.pgd + torch.compile"] = lambda: attacks.pgd(
            compiled, x, y, eps=eps, alpha=alpha, steps=steps, seed=0
        )
    for fn in variants.values():  # warm-up (JIT of the kernels, oneDNN primitive caches)
        out = fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}  # process CPU time: robust to
    # being descheduled on a shared machine (with one torch thread it is the work done)
    order = list(variants)
    t_start = time.perf_counter()
    for r in range(args.repeats):
        # rotate the order each repeat so that no variant always runs after the same one
        for name in order[r % len(order) :] + order[: r % len(order)]:
            c0 = time.process_time()
            times[name].append(_time(variants[name], device))
            cpu[name].append(time.process_time() - c0)
        elapsed = time.perf_counter() - t_start
        eta = elapsed / (r + 1) * (args.repeats - r - 1)
        print(
            f"  repeat {r + 1}/{args.repeats} done — {elapsed:.0f} s elapsed, ETA {eta:.0f} s",
            flush=True,
        )
    # sanity: our result is a valid PGD output
    out = attacks.pgd(model, x, y, eps=eps, alpha=alpha, steps=2, seed=0)
    if not float((out - x).abs().max()) <= eps + 1e-6:
        raise RuntimeError("tradeoff.pgd left the eps-ball: the benchmark is void")

    eager = "eager (torchattacks-style)"
    base, base_min = statistics.median(times[eager]), min(times[eager])
    base_cpu = statistics.median(cpu[eager])
    print()
    print(
        f"{'variant':<28} {'images/s':>8} {'median s':>8} {'min–max s':>13} {'vs eager':>8} "
        f"{'on mins':>7} {'CPU s':>6} {'on CPU':>7}"
    )
    rows = []
    for name, ts in times.items():
        s = _stats(ts)
        c = statistics.median(cpu[name])
        ips = args.batch / s["median"]
        print(
            f"{name:<28} {ips:>8.1f} {s['median']:>8.3f} {s['min']:>6.2f}–{s['max']:<6.2f} "
            f"{base / s['median']:>7.2f}x {base_min / s['min']:>6.2f}x {c:>6.2f} "
            f"{base_cpu / c:>6.2f}x"
        )
        rows.append(
            {
                "variant": name,
                "images_per_s": ips,
                **s,
                "cpu_s_median": c,
                "speedup_vs_eager": base / s["median"],
                "speedup_vs_eager_on_mins": base_min / s["min"],
                "speedup_vs_eager_on_cpu_time": base_cpu / c,
            }
        )
    if compile_s is not None:
        print(f"(torch.compile: first call took {compile_s:.1f} s, not counted above)")
    amp_rows = []
    if amp_pairs:
        print()
        print("reduced precision vs float32 (same process, interleaved; >1: faster)")
        for name, ref in amp_pairs.items():
            r_med = statistics.median(times[ref]) / statistics.median(times[name])
            r_min = min(times[ref]) / min(times[name])
            r_cpu = statistics.median(cpu[ref]) / statistics.median(cpu[name])
            print(
                f"  {name:<34} {r_med:5.2f}x on medians, {r_min:5.2f}x on mins, "
                f"{r_cpu:5.2f}x on CPU time"
            )
            amp_rows.append(
                {
                    "variant": name,
                    "float32_variant": ref,
                    "speedup_vs_float32": r_med,
                    "speedup_vs_float32_on_mins": r_min,
                    "speedup_vs_float32_on_cpu_time": r_cpu,
                }
            )

    fb_base, fb_fast = statistics.median(fb["base"]), statistics.median(fb["fast"])
    e_b, e_a, fu = (statistics.median(v) for v in (eager_before, eager_after, fused))
    attack_med = statistics.median(times["tradeoff.pgd"])
    print()
    print("where the time goes (medians)")
    print(
        f"  forward+backward, one step       {fb_base * 1e3:9.2f} ms"
        f"   (fast_model {fb_fast * 1e3:.2f} ms)"
    )
    print(
        f"  eager l∞ step (4 tensor ops)     {e_b * 1e6:9.1f} µs"
        f"   (after the kernel ran: {e_a * 1e6:.1f} µs)"
    )
    print(
        f"  fused kernel step                {fu * 1e6:9.1f} µs"
        f"   ({e_b / fu:.1f}x faster than eager)"
    )
    print(
        f"  tradeoff.pgd per step            {attack_med / steps * 1e3:9.2f} ms"
        f"   (of which the fused step {steps * fu / attack_med:.2%}; the rest is forward+backward)"
    )
    print(f"  {_threads.describe()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config": vars(args) | {"json": str(args.json), "device": str(device)},
                    "data": src,
                    "torch_threads": torch.get_num_threads(),
                    "attacks": rows,
                    "reduced_precision": amp_rows,
                    "forward_backward_s": {"base": _stats(fb["base"]), "fast": _stats(fb["fast"])},
                    "step_s": {
                        "eager_before_kernel": _stats(eager_before),
                        "fused": _stats(fused),
                        "eager_after_kernel": _stats(eager_after),
                    },
                    "compile_s": compile_s,
                },
                indent=2,
            )
        )
    return 0
