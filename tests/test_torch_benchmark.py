"""tradeoff bench attack runs end to end (a tiny configuration; timings are not asserted)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from tradeoff.torch import benchmark  # noqa: E402


def test_bench_attack_smoke(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = benchmark.main(["--batch", "4", "--steps", "2", "--repeats", "1", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    names = [row["variant"] for row in r["attacks"]]
    base = ["eager (torchattacks-style)", "tradeoff.pgd", "tradeoff.pgd + fast_model"]
    assert names[:3] == base
    # the reduced-precision rows (bf16 autocast on the CPU), each against its float32 row
    amp = {row["variant"]: row for row in r["reduced_precision"]}
    assert set(names[3:]) == set(amp) and {row["float32_variant"] for row in amp.values()} <= {
        *base[1:]
    }
    assert all(row["speedup_vs_float32"] > 0 for row in amp.values())
    assert all(row["images_per_s"] > 0 for row in r["attacks"])
    text = capsys.readouterr().out
    assert "where the time goes" in text and "fused kernel step" in text
    assert "reduced precision vs float32" in text
    assert "repeat 1/1 done" in text and "ETA 0 s" in text  # progress with an ETA


def test_eager_reference_stays_in_ball():
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x = torch.rand(5, 1, 4, 4, generator=g)
    y = torch.randint(0, 3, (5,), generator=g)
    adv = benchmark.eager_pgd(model, x, y, eps=0.1, alpha=0.05, steps=3, gen=g)
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(adv.min())
