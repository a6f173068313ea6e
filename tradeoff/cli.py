"""The ``tradeoff`` command line.

``tradeoff verify [--only PATTERN] [--json PATH] [--markdown PATH]``
    run the theorem checks; exit code 1 if any FAILs.
``tradeoff reproduce NAME [NAME ...] | all [--scale S] [--out DIR] [--render-only] ...``
    reproduce the papers' tables and figures (``tradeoff reproduce --list``).
``tradeoff bench TARGET [ARGS ...]``
    run a benchmark (``tradeoff bench --list``); each target parses its own arguments.
``tradeoff train [ARGS ...]``
    train a network (needs the ``torch`` extra); ``tradeoff train --help``.
``tradeoff cache [--clear]``
    show (or remove) the on-disk cache of compiled kernels.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

# Benchmarks and sub-CLIs own their argument parsing: name → "module:function(argv)".
BENCH_TARGETS = {
    "kernels": "tradeoff.kernels.benchmark:main",
    "attack": "tradeoff.torch.benchmark:main",
}
TRAIN_ENTRY = "tradeoff.torch.cli:main"


def _load_entry(spec: str):
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == "torch":
            raise SystemExit(
                "this command needs PyTorch: pip install 'tradeoff[torch]' "
                "(on a CPU-only machine: pip install torch==2.13.0 'tradeoff[torch]')"
            ) from exc
        raise
    return getattr(module, func)


def _verify(args: argparse.Namespace) -> int:
    from tradeoff import verify

    report = verify.run_checks(args.only)
    if not report.checks:
        what = f"matches {args.only!r}" if args.only else "is registered"
        print(f"no check {what}", file=sys.stderr)
        return 2
    verify.print_report(report, verbose=args.verbose)
    verify.write_outputs(report, args.json, args.markdown)
    return 1 if report.failed else 0


def _reproduce(args: argparse.Namespace) -> int:
    import json

    from tradeoff import experiments as ex

    entries = ex.registry()
    if args.list:
        width = max((len(n) for n in entries), default=0)
        for name, exp in entries.items():
            print(f"{name:<{width}}  {exp.paper}, {exp.item}: {exp.description}")
        return 0
    if not args.names:
        print(
            "reproduce needs NAME(s) or 'all' (tradeoff reproduce --list shows the entries)",
            file=sys.stderr,
        )
        return 2
    everything = args.names == ["all"]
    names = list(entries) if everything else args.names
    unknown = [n for n in names if n not in entries]
    if unknown:
        print(
            f"unknown experiment(s) {', '.join(unknown)}; choose from: all, {', '.join(entries)}",
            file=sys.stderr,
        )
        return 2
    if args.workers is not None and args.workers < 1:
        print(f"--workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    results = []
    for name in names:
        exp = entries[name]
        out = args.out / name
        if args.render_only:
            ex.render(exp, out, pdf=args.pdf)
            results.append(json.loads((out / f"{name}.json").read_text()))
            continue
        models = None
        if exp.needs_torch and not args.no_cache:
            from tradeoff.experiments.models import ModelCache

            models = ModelCache()
        ctx = ex.Context(
            scale=args.scale,
            seed=args.seed,
            models=models,
            workers=args.workers,
            progress=not args.quiet,
            data_dir=args.data_dir,
        )
        print(f"{name}: {exp.paper}, {exp.item} at scale {args.scale} ...", file=sys.stderr)
        results.append(ex.run(exp, ctx, out, pdf=args.pdf))
    print("\n".join(ex.summary_table(results)))
    for r in results:
        print(f"{r['name']}: {args.out / r['name'] / (r['name'] + '.md')}")
    if everything:
        print(f"report: {ex.report(results, args.out)}")
    return 0


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _cache(args: argparse.Namespace) -> int:
    from tradeoff import _jit_cache

    if args.clear:
        removed = _jit_cache.clear()
        print(f"removed {len(removed)} compiled-kernel folder(s) under {_jit_cache.cache_root()}")
        return 0
    current = _jit_cache.jit_cache_dir()
    print(f"cache root: {_jit_cache.cache_root()}  (TRADEOFF_CACHE overrides)")
    state = "on" if _jit_cache.enabled() else "off (TRADEOFF_JIT_CACHE=0)"
    print(f"compiled kernels: {current}  [disk cache {state}]")
    top = current.parent
    for folder in sorted(top.iterdir()) if top.is_dir() else []:
        mark = "this version" if folder == current else "another version"
        print(f"  {folder.name}  {_folder_size(folder) / 1e6:8.1f} MB  {mark}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradeoff", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("verify", help="check the papers' theorems exactly")
    p.add_argument(
        "--only",
        metavar="PATTERN",
        help="keep check ids matching a glob (tsipras.thm2_*) or containing a substring",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the checks as JSON")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="also write a Markdown table")
    p.add_argument("-v", "--verbose", action="store_true", help="wide table")
    p.set_defaults(func=_verify)

    p = sub.add_parser("reproduce", help="reproduce a table or figure of the papers")
    p.add_argument("names", nargs="*", metavar="NAME", help="entries (see --list), or 'all'")
    p.add_argument("--list", action="store_true", help="list the experiments")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (results/)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--scale",
        choices=("smoke", "reduced", "paper"),
        default="reduced",
        help="smoke: seconds; reduced (default): the real experiment within each entry's "
        "stated CPU budget; paper: the paper's data and budget (GPU)",
    )
    p.add_argument(
        "--render-only", action="store_true", help="re-render Markdown/figures from NAME.json"
    )
    p.add_argument("--pdf", action="store_true", help="also write the figures as PDF")
    p.add_argument("--no-cache", action="store_true", help="retrain, ignoring cached models")
    p.add_argument("--workers", type=int, help="parallel trainings of a sweep (default: cores)")
    p.add_argument("--data-dir", help="folder with full MNIST / CIFAR-10 (scale paper)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("cache", help="show or clear the on-disk cache of compiled kernels")
    p.add_argument("--clear", action="store_true", help="remove the caches of every version")
    p.set_defaults(func=_cache)

    # Parsed by their own modules (see main); listed here for --help.
    sub.add_parser("bench", help="run a benchmark: tradeoff bench --list", add_help=False)
    sub.add_parser(
        "train", help="train a network (needs torch): tradeoff train --help", add_help=False
    )
    return parser


def _bench(argv: list[str]) -> int:
    target = argv[0] if argv else None
    if target in (None, "--list", "-h", "--help"):
        print("benchmarks: " + ", ".join(BENCH_TARGETS) + "  (tradeoff bench TARGET --help)")
        return 0 if target else 2
    if target not in BENCH_TARGETS:
        print(
            f"unknown benchmark {target!r}; choose from {', '.join(BENCH_TARGETS)}", file=sys.stderr
        )
        return 2
    return int(_load_entry(BENCH_TARGETS[target])(argv[1:]) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    if argv and argv[0] == "train":
        return int(_load_entry(TRAIN_ENTRY)(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
