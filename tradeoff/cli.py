"""The ``tradeoff`` command line.

``tradeoff verify [--only PATTERN] [--json PATH] [--markdown PATH]``
    run the theorem checks; exit code 1 if any FAILs.
``tradeoff reproduce NAME [NAME ...] | all [--scale S] [--out DIR] [--render-only] ...``
    reproduce the papers' tables and figures (``tradeoff reproduce --list``).
``tradeoff bench TARGET [ARGS ...]``
    run a benchmark (``tradeoff bench --list``); each target parses its own arguments.
``tradeoff train [ARGS ...]``
    train a network (needs the ``torch`` extra); ``tradeoff train --help``.
``tradeoff eval MODEL [ARGS ...]``
    clean and robust accuracy of a saved model (needs ``torch``); ``tradeoff eval --help``.
``tradeoff cache [--clear]``
    show (or remove) the on-disk cache of compiled kernels.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Benchmarks and sub-CLIs own their argument parsing: name → "module:function(argv)".
BENCH_TARGETS = {
    "kernels": "tradeoff.kernels.benchmark:main",
    "attack": "tradeoff.torch.benchmark:main",
    "training": "tradeoff.torch.bench_training:main",
}
#: the sub-CLIs that need torch and parse their own arguments
TORCH_ENTRIES = {"train": "tradeoff.torch.cli:main", "eval": "tradeoff.torch.cli:eval_main"}
TRAIN_ENTRY = TORCH_ENTRIES["train"]

EXAMPLES = """\
examples:
  tradeoff verify --only tsipras          the theorem checks of one paper (exit 1 on a FAIL)
  tradeoff reproduce --list               the papers' tables and figures
  tradeoff reproduce collins-table1 --scale smoke
  tradeoff train --data digits --net linear --method madry --eps 0.1 --steps 10 --save m.pt
  tradeoff eval m.pt --data digits --eps 0.05 0.1
  tradeoff bench --list
"""


def _torch_hint() -> str:
    """How to install torch: in a clone (a pyproject.toml beside the package) the editable
    install of that folder, else the package from an index."""
    root = Path(__file__).resolve().parents[1]
    target = f"-e '{root}[torch]'" if (root / "pyproject.toml").is_file() else "'tradeoff[torch]'"
    return (
        f"this command needs PyTorch: pip install {target} (on a CPU-only machine pin "
        "the CPU build: pip install torch==2.13.0 " + target + ")"
    )


def _load_entry(spec: str):
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == "torch":
            raise SystemExit(_torch_hint()) from exc
        raise
    return getattr(module, func)


def _version() -> str:
    from tradeoff import __version__

    return __version__


def _select_groups(pattern: str):
    """The check groups ``--only PATTERN`` may match, decided without computing any check
    (case-insensitive): a group name, ``group.rest``, or a glob over group names; any
    other text may occur inside any id. ``ValueError`` when no group can match."""
    from tradeoff import verify

    groups = verify.discover_groups()
    names = ", ".join(g.prefix for g in groups)
    head = pattern.split(".", 1)[0].lower()
    if any(ch in head for ch in "*?["):
        chosen = [g for g in groups if fnmatch.fnmatchcase(g.prefix, head)]
    else:
        chosen = [g for g in groups if g.prefix == head] or groups  # else a substring
    if not chosen:
        raise ValueError(
            f"--only {pattern!r} matches no group of checks (groups: {names}); a pattern is "
            "a group, group.glob, a glob or a substring of an id"
        )
    return chosen


def _matches(check_id: str, pattern: str) -> bool:
    check_id, pattern = check_id.lower(), pattern.lower()
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(check_id, pattern)
    return pattern in check_id


@contextlib.contextmanager
def _log_width(columns: int = 200):
    """Piped output (a CI log, a file) is not wrapped at the 80 columns rich assumes
    without a terminal."""
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        yield
        return
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        os.environ.pop("COLUMNS", None)


def _ids_index_path() -> Path:
    """Where the check ids of this version of the sources are remembered: a file named
    by a SHA-256 of every source file of the package (ids are made by that code)."""
    import hashlib

    from tradeoff import _jit_cache

    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return _jit_cache.cache_root() / "verify" / f"ids-{h.hexdigest()[:16]}.json"


def _known_ids(prefixes: list[str]) -> list[str] | None:
    """The remembered ids of these groups, or ``None`` if one of them was never built
    with these sources."""
    import json

    try:
        index = json.loads(_ids_index_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or not all(isinstance(index.get(p), list) for p in prefixes):
        return None
    return [i for p in prefixes for i in index[p]]


def _remember_ids(checks) -> None:
    """Add the ids of the groups just built to the index (best effort: an unwritable
    cache only means that the next ``--only`` computes before it can refuse)."""
    import json

    path = _ids_index_path()
    groups: dict[str, list[str]] = {}
    for c in checks:
        groups.setdefault(c.id.split(".", 1)[0], []).append(c.id)
    try:
        index = json.loads(path.read_text()) if path.is_file() else {}
        index = {**(index if isinstance(index, dict) else {}), **groups}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


def _verify_only(pattern: str):
    """The checks matching ``pattern`` (case-insensitive), or ``None`` after one error
    line. A pattern that matches no group, or (once the groups' ids are known from an
    earlier run of these sources) no id, is refused before any check is computed; only
    the groups holding a match are built."""
    from tradeoff import verify

    try:
        groups = _select_groups(pattern)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    known = _known_ids([g.prefix for g in groups])
    if known is not None:
        hit = {i.split(".", 1)[0] for i in known if _matches(i, pattern)}
        if not hit:
            print(
                f"error: no check matches {pattern!r} (tradeoff verify prints every id)",
                file=sys.stderr,
            )
            return None
        groups = [g for g in groups if g.prefix in hit]
    built = verify.run_checks(None, groups=groups)
    _remember_ids(built.checks)
    kept = [c for c in built.checks if _matches(c.id, pattern)]
    return verify.VerifyReport(kept, built.seconds)


def _verify(args: argparse.Namespace) -> int:
    from tradeoff import verify

    if args.only:
        report = _verify_only(args.only)
        if report is None:
            return 2
    else:
        report = verify.run_checks()
        _remember_ids(report.checks)
    if not report.checks:
        what = f"matches {args.only!r}" if args.only else "is registered"
        print(f"no check {what}", file=sys.stderr)
        return 2
    with _log_width():
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
            "error: reproduce needs NAME(s) or 'all' (tradeoff reproduce --list shows the entries)",
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


def _groups_epilog() -> str:
    from tradeoff import verify

    return "groups: " + ", ".join(g.prefix for g in verify.discover_groups())


def _entries_epilog() -> str:
    from tradeoff import experiments as ex

    entries = ex.registry()
    width = max((len(n) for n in entries), default=0)
    lines = [f"  {name:<{width}}  {e.paper}, {e.item}" for name, e in entries.items()]
    return "entries:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradeoff",
        description="Exact theory and fast experiments for the robustness-accuracy trade-off\n"
        "in adversarial machine learning: check the papers' theorems, reproduce their\n"
        "tables and figures, train and evaluate networks under attack.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tradeoff {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "verify",
        help="check the papers' theorems exactly",
        epilog=_groups_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        metavar="PATTERN",
        help="keep check ids matching a group name, a glob (tsipras.thm2_*) or containing a "
        "substring; case-insensitive",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the checks as JSON")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="also write a Markdown table")
    p.add_argument("-v", "--verbose", action="store_true", help="wide table")
    p.set_defaults(func=_verify)

    p = sub.add_parser(
        "reproduce",
        help="reproduce a table or figure of the papers",
        epilog=_entries_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    sub.add_parser(
        "eval",
        help="clean and robust accuracy of a saved model (needs torch): tradeoff eval --help",
        add_help=False,
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
    if argv and argv[0] in TORCH_ENTRIES:
        return int(_load_entry(TORCH_ENTRIES[argv[0]])(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
