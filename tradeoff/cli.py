"""The ``tradeoff`` command line.

``tradeoff verify [--only PATTERN] [--json PATH] [--markdown PATH]``
    run the theorem checks; exit code 1 if any FAILs.
``tradeoff reproduce NAME [NAME ...] [--out DIR] [--seed S]`` / ``tradeoff reproduce --list``
    reproduce the papers' tables and figures.
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
    from tradeoff.experiments import registry

    experiments = registry()
    if args.list or not args.names:
        width = max((len(n) for n in experiments), default=0)
        for name, exp in experiments.items():
            print(f"{name:<{width}}  {exp.paper}: {exp.description}")
        return 0 if args.list else 2
    unknown = [n for n in args.names if n not in experiments]
    if unknown:
        print(
            f"unknown experiment(s) {', '.join(unknown)}; choose from: {', '.join(experiments)}",
            file=sys.stderr,
        )
        return 2
    for name in args.names:
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        paths = experiments[name].run(out, args.seed)
        print(f"{name}: wrote " + ", ".join(str(p) for p in paths))
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
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--list", action="store_true", help="list the experiments")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (results/)")
    p.add_argument("--seed", type=int, default=0)
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
