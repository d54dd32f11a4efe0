"""Benchmark commands: ``relucert bench run [--suite NAME ...] [--quick]`` and ``relucert bench list``.

The suites live in the top-level ``benchmarks/`` folder of a source checkout (``benchmarks/runner.py``
and ``benchmarks/suites/``); ``--bench-dir`` points elsewhere.  Exit codes: 0 when every case
had its expected verdict, 1 when some did not, 2 usage error.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from . import EXIT_FALSE, EXIT_OK, UsageError

__all__ = ["register", "main"]


def _find_bench_dir(given: str | None) -> Path:
    if given:
        p = Path(given)
        if not (p / "runner.py").is_file():
            raise UsageError(f"--bench-dir {given}: no runner.py there")
        return p.resolve()
    for cand in (Path(__file__).resolve().parents[2] / "benchmarks", Path.cwd() / "benchmarks"):
        if (cand / "runner.py").is_file():
            return cand.resolve()
    raise UsageError("no benchmarks/ folder found (run from a relucert source checkout or pass --bench-dir)")


def _runner(bench_dir: Path):
    parent = str(bench_dir.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    if bench_dir.name != "benchmarks":
        raise UsageError(f"--bench-dir must be a folder named benchmarks, got {bench_dir}")
    runner = importlib.import_module("benchmarks.runner")
    runner.load_suites()
    return runner


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run the benchmark suites",
                              description="Run registered benchmark suites; every case has an expected verdict.")
    sub = p.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    r = sub.add_parser("run", help="run suites and write benchmarks/RESULTS.md",
                       description="Run the suites (all when no --suite) and write benchmarks/results/*.json "
                                   "and benchmarks/RESULTS.md. Ends with 'N cases, N as expected, M unexpected'.")
    r.add_argument("--suite", action="append", metavar="NAME", help="suite to run (repeatable; default: all)")
    r.add_argument("--quick", action="store_true", help="a small subset of every suite (minutes, not hours)")
    r.add_argument("--case", action="append", metavar="TEXT",
                   help="run only the cases whose name contains TEXT (repeatable); results go to "
                        "<suite>-subset.json, beside the full run's")
    r.add_argument("--time-limit", type=float, metavar="S", help="per-case time limit where a suite uses one "
                   "(ACAS: default 120 s)")
    r.add_argument("--blas-threads", type=int, default=1, metavar="N",
                   help="threads for numpy's BLAS (default 1: the bound engines do many small products)")
    r.add_argument("--clock", choices=("cpu", "wall"), default=None,
                   help="clock for time limits and reported times (default cpu: process time, since the "
                        "machine may be shared; wall times are recorded too; wall with --workers > 1)")
    r.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes sharing each ACAS Xu search (default 1; the CPU time recorded "
                        "includes the helpers')")
    r.add_argument("--no-write", action="store_true", help="print only; leave results files alone")
    r.add_argument("--bench-dir", metavar="DIR", help="the benchmarks/ folder (default: the checkout's)")
    r.set_defaults(func=cmd_run)
    ls = sub.add_parser("list", help="list the registered suites")
    ls.add_argument("--bench-dir", metavar="DIR")
    ls.set_defaults(func=cmd_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_list(args) -> int:
    runner = _runner(_find_bench_dir(args.bench_dir))
    for name, suite in runner.SUITES.items():
        print(f"{name:<16} {suite.description}")
    return EXIT_OK


def cmd_run(args) -> int:
    if args.time_limit is not None and not args.time_limit > 0:
        raise UsageError(f"--time-limit must be > 0 seconds, got {args.time_limit}")
    if args.blas_threads < 1:
        raise UsageError(f"--blas-threads must be >= 1, got {args.blas_threads}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.clock is None:
        args.clock = "wall" if args.workers > 1 else "cpu"
    if args.workers > 1 and args.clock == "cpu":
        raise UsageError("--workers > 1 needs --clock wall: process time counts the calling process only")
    runner = _runner(_find_bench_dir(args.bench_dir))
    names = args.suite or []
    bad = [n for n in names if n not in runner.SUITES]
    if bad:
        raise UsageError(f"unknown suite {bad[0]!r}; known: {', '.join(runner.SUITES)}")
    cmd = "relucert bench run" + "".join(f" --suite {n}" for n in names) + (" --quick" if args.quick else "") \
        + (f" --time-limit {args.time_limit:g}" if args.time_limit else "") \
        + (" --clock wall" if args.clock == "wall" else "") + (f" --workers {args.workers}" if args.workers > 1 else "") \
        + "".join(f" --case {c}" for c in (args.case or []))
    options = {"blas_threads": args.blas_threads, "clock": args.clock, "workers": args.workers}
    if args.time_limit:
        options["time_limit"] = args.time_limit
    res = runner.run(names, quick=args.quick, options=options, write=not args.no_write, command=cmd,
                     only=args.case,
                     out=lambda s: print(s, flush=True))
    return EXIT_OK if res["unexpected"] == 0 else EXIT_FALSE


def main(argv=None) -> int:
    """Entry point used by ``python -m benchmarks``: ``run ...`` or ``list``."""
    from . import main as cli_main

    return cli_main(["bench", *(argv if argv is not None else sys.argv[1:])])
