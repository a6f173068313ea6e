"""Robust accuracy of one model under a float32 and a bf16-autocast PGD attack.

Trains the Madry MNIST CNN (``nets.build("madry_mnist")``) on Fashion-MNIST for one
epoch (Adam, batch 128, seed 0), then attacks the first ``--n`` test images with PGD-k
l∞ (default k = 10, ε = 0.03, α = 0.0075, one random start, seed 0) twice: with
``precision="float32"`` and with ``precision="bf16"`` (CPU autocast; CUDA with
``--device cuda``, where ``--precision fp16`` is also available). Prints both robust
accuracies with their binomial standard errors ``sqrt(p(1 − p)/n)``, the difference in
units of the standard error of a difference of two independent proportions, the number
of images on which the two attacks disagree, and the attack times (same process,
interleaved per batch). Run: ``python benchmarks/precision_accuracy.py [--n 2000]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from tradeoff.torch import attacks, data, nets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="test images attacked (>= 1000)")
    ap.add_argument("--train", type=int, default=60000, help="training images (one epoch)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--eps", type=float, default=0.03)
    ap.add_argument("--alpha", type=float, default=0.0075)
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp16"))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    d = data.load("fashion_mnist", subset=args.train, test_subset=args.n, seed=0)
    model = nets.build("madry_mnist", seed=0).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = d.train.x.to(dev), d.train.y.to(dev)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    model.train()
    for i in range(0, len(x), 128):
        idx = perm[i : i + 128]
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    model.eval()
    print(f"trained 1 epoch on {len(x)} images in {time.perf_counter() - t0:.0f} s")
    xt, yt = d.test.x.to(dev), d.test.y.to(dev)
    n = len(xt)
    fast = attacks.fast_model(model)
    hits = {"float32": [], args.precision: []}
    secs = {"float32": 0.0, args.precision: 0.0}
    clean = 0
    for i in range(0, n, 128):
        xb, yb = xt[i : i + 128], yt[i : i + 128]
        with torch.no_grad():
            clean += int((model(xb).argmax(1) == yb).sum())
        for prec in hits:
            t = time.perf_counter()
            adv = attacks.pgd(
                fast,
                xb,
                yb,
                eps=args.eps,
                alpha=args.alpha,
                steps=args.steps,
                seed=i,
                precision=prec,
            )
            secs[prec] += time.perf_counter() - t
            assert float((adv - xb).abs().max()) <= args.eps + 1e-6
            with torch.no_grad():  # robust accuracy judged by the float32 model
                hits[prec].append(model(adv).argmax(1) == yb)
    ok = {k: torch.cat(v) for k, v in hits.items()}
    p = {k: float(v.float().mean()) for k, v in ok.items()}
    se = {k: math.sqrt(v * (1 - v) / n) for k, v in p.items()}
    diff = p[args.precision] - p["float32"]
    se_diff = math.sqrt(se["float32"] ** 2 + se[args.precision] ** 2)
    disagree = int((ok["float32"] != ok[args.precision]).sum())
    print(
        f"{n} Fashion-MNIST test images, clean accuracy {clean / n:.4f}; "
        f"PGD-{args.steps} l∞ eps={args.eps} alpha={args.alpha}"
    )
    for k in p:
        print(f"  robust accuracy, {k:<8} attack: {p[k]:.4f} ± {se[k]:.4f} (binomial SE)")
    print(
        f"  difference {diff:+.4f} = {diff / se_diff:+.2f} SE of a difference; "
        f"{disagree} images judged differently; attack time float32 {secs['float32']:.1f} s, "
        f"{args.precision} {secs[args.precision]:.1f} s "
        f"({secs['float32'] / secs[args.precision]:.2f}x)"
    )


if __name__ == "__main__":
    main()
