"""Zoo commands: ``relucert zoo run | check | status | report``.

``relucert zoo run MANIFEST --workers N [--db results.sqlite]`` runs every job not yet in the
store and exits 0 when every job has a recorded result (whatever the verdicts), 3 when some are
left undone (interrupted, ``--max-jobs``), 2 on a usage error (bad options or a bad manifest:
nothing was run) and 4 otherwise.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from . import EXIT_ERROR, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, UsageError

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="batch-verify a model zoo (manifest, parallel runs, results store, reports)",
                              description="Batch verification of many network pairs from a TOML manifest or an "
                                          "instances.csv, with a results database that survives interruptions.")
    sub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])

    r = sub.add_parser("run", help="run the jobs of a manifest that the store does not have yet",
                       description="Run every job of MANIFEST (.toml or instances.csv) not yet recorded in the "
                                   "results database, in separate worker processes, each job under its time and "
                                   "memory limit. Exit 0: every job has a recorded result; 3: some left undone; "
                                   "2: usage error; 4: other error.")
    r.add_argument("manifest", metavar="MANIFEST")
    r.add_argument("--db", metavar="FILE", help="results database (default: the manifest's db, else MANIFEST.sqlite)")
    r.add_argument("--workers", "-j", type=int, default=1, metavar="N", help="worker processes (default 1)")
    r.add_argument("--engine", choices=("local", "inline", "dask"), default="local",
                   help="local worker processes (default), inline (this process, no limits: debugging), "
                        "or a Dask cluster (needs --scheduler and the dask extra)")
    r.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (with --engine dask)")
    r.add_argument("--kill-grace", type=float, metavar="SECONDS",
                   help="seconds past a job's timeout before its worker is killed (default max(5, timeout/4))")
    r.add_argument("--redo", action="append", choices=("errors", "unknown", "all"), default=[],
                   help="also re-run stored results that are ERROR/TIMEOUT, UNKNOWN, or all (repeatable)")
    r.add_argument("--only", action="append", metavar="PATTERN", help="run only jobs whose name matches (repeatable)")
    r.add_argument("--max-jobs", type=int, metavar="N", help="run at most N jobs now (the rest stay undone)")
    r.add_argument("--certificate-dir", metavar="DIR",
                   help="folder for certificates of jobs with certificate = true (default: next to the database)")
    r.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="live bar on a terminal, one line per job otherwise (auto, default)")
    r.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="validate a manifest and list its jobs",
                       description="Read and check MANIFEST without running anything; errors name the line and field.")
    c.add_argument("manifest", metavar="MANIFEST")
    c.add_argument("--json", action="store_true", help="print the jobs as JSON")
    c.set_defaults(func=cmd_check)

    s = sub.add_parser("status", help="what a results database holds (and, with --manifest, what is undone)",
                       description="Counts by verdict, runs, and with --manifest the jobs not yet recorded. "
                                   "Exit 0 when nothing is undone, 3 otherwise.")
    s.add_argument("db", metavar="DB")
    s.add_argument("--manifest", metavar="MANIFEST", help="compare with this manifest's jobs")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_status)

    rep = sub.add_parser("report", help="write Markdown/HTML reports and CSV/JSON exports of a results database",
                         description="Write DIR/report.md and DIR/report.html (results table, verdict counts, "
                                     "cactus plot, a plot of f and g along a line through each counterexample), "
                                     "DIR/results.csv and DIR/results.json; --json/--csv write exports elsewhere.")
    rep.add_argument("db", metavar="DB")
    rep.add_argument("--out", metavar="DIR", help="report folder")
    rep.add_argument("--json", metavar="FILE", dest="json_file",
                     help='write [{"name", "verdict", "lower", "upper", "time_s"}, ...] to FILE')
    rep.add_argument("--csv", metavar="FILE", dest="csv_file", help="write the results table as CSV to FILE")
    rep.add_argument("--no-plots", action="store_true", help="write no plots (the counterexample plots load the models; plots need the extra relucert[plot])")
    rep.set_defaults(func=cmd_report)


def _load_manifest(path: str):
    from ..errors import ManifestError
    from ..zoo import load_manifest

    try:
        return load_manifest(path)
    except ManifestError as exc:
        raise UsageError(str(exc)) from None


class _Terminated(KeyboardInterrupt):
    pass


def cmd_run(args) -> int:
    from ..zoo.progress import Progress

    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.max_jobs is not None and args.max_jobs < 0:
        raise UsageError(f"--max-jobs must be >= 0, got {args.max_jobs}")
    if args.kill_grace is not None and not args.kill_grace >= 0:
        raise UsageError(f"--kill-grace must be >= 0, got {args.kill_grace}")
    if args.engine == "dask" and not args.scheduler:
        raise UsageError("--engine dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    if args.scheduler and args.engine != "dask":
        raise UsageError("--scheduler applies to --engine dask only")
    manifest = _load_manifest(args.manifest)
    db = args.db or manifest.db or str(Path(manifest.path).with_suffix(".sqlite"))
    cert_dir = args.certificate_dir or str(Path(db).resolve().parent / (Path(db).stem + "-certificates"))
    executor = client = None
    if args.engine == "dask":
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--engine dask needs the Dask extra: pip install 'dask[distributed]'") from None
        try:
            client = Client(args.scheduler, timeout=30)
        except Exception as exc:  # noqa: BLE001 - cannot reach the cluster: nothing ran
            print(f"relucert zoo run: error: cannot connect to the Dask scheduler {args.scheduler}: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        executor = client.get_executor(pure=False)
    tty = {"auto": None, "bar": True, "lines": False, "none": False}[args.progress]
    quiet = args.progress == "none"

    def make_progress(total: int, skipped: int):
        return Progress(total, skipped=skipped, stream=sys.stderr, tty=tty, quiet=quiet)

    def on_term(signum, frame):
        raise _Terminated()

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        summary = _run(args, manifest, db, make_progress, executor, cert_dir)
    except UsageError:
        raise
    except KeyboardInterrupt:  # before any job was dispatched (jobs interrupted later are in summary)
        print("relucert zoo run: interrupted before the jobs started; nothing recorded", file=sys.stderr)
        return EXIT_UNKNOWN
    except Exception as exc:  # noqa: BLE001 - exit 4 with one line, not a traceback
        from ..errors import RelucertError

        if isinstance(exc, (RelucertError, FileNotFoundError)):
            raise
        print(f"relucert zoo run: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        signal.signal(signal.SIGTERM, old)
        if client is not None:
            client.close()
    if args.json:
        print(json.dumps({"db": db, **summary.to_dict()}, indent=2))
    else:
        counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items() if v)
        msg = (f"{summary.recorded} recorded ({counts or 'none'}), {summary.skipped} already done, "
               f"{len(summary.undone)} undone; {summary.wall_s:.1f}s; results in {db}")
        print(("interrupted: " if summary.interrupted else "") + msg, file=sys.stderr)
    return EXIT_OK if summary.exit_code == 0 else EXIT_UNKNOWN


def _run(args, manifest, db, make_progress, executor, cert_dir):
    from ..zoo.runner import run_zoo

    return run_zoo(manifest, db, workers=args.workers, engine="local" if args.engine == "dask" else args.engine,
                   executor=executor, kill_grace=args.kill_grace, redo=tuple(args.redo),
                   progress=make_progress, certificate_dir=cert_dir, only=args.only, max_jobs=args.max_jobs,
                   engine_label=args.engine if args.engine == "dask" else None)


def cmd_check(args) -> int:
    manifest = _load_manifest(args.manifest)
    if args.json:
        print(json.dumps([j.to_dict() for j in manifest.jobs], indent=2))
        return EXIT_OK
    for j in manifest.jobs:
        if j.kind == "query":
            nets = "; ".join(f"{n}={Path(q).name}" if n else Path(q).name for n, q in j.networks)
            print(f"{j.name}: query {Path(j.query).name} on {nets}; timeout {j.timeout:g}s")
            continue
        other = j.g if j.kind == "pair" else f"transform {j.transform}"
        box = j.box_text or (f"vnnlib {j.vnnlib}" if j.vnnlib else "box table")
        spec = ", ".join(f"{k}={v}" for k, v in j.spec.items() if k != "kind" and v is not None)
        print(f"{j.name}: {Path(j.f).name} vs {Path(other).name if j.kind == 'pair' else other}; "
              f"{j.spec['kind']} ({spec}); {box}; timeout {j.timeout:g}s")
    print(f"{len(manifest.jobs)} job(s) in {args.manifest}: OK", file=sys.stderr)
    return EXIT_OK


def _read_store(db):
    """``(results, runs, done keys)`` of an existing store; a missing or foreign file is a usage error."""
    from ..zoo.store import ResultStore, StoreError

    try:
        store = ResultStore(db, create=False)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    with store:
        return store.results(), store.runs(), store.done_keys()


def cmd_status(args) -> int:
    from ..zoo.store import VERDICTS

    rows, runs, keys = _read_store(args.db)
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICTS}
    undone: list[str] = []
    if args.manifest:
        from ..zoo.runner import _ModelCache, _prepare_error, prepare_job

        manifest = _load_manifest(args.manifest)
        cache = _ModelCache()
        for job in manifest.jobs:
            try:
                key = prepare_job(job, cache)["job_key"]
            except Exception as exc:  # noqa: BLE001 - same key the runner would use
                key = _prepare_error(job, exc)[0]["job_key"]
            if key not in keys:
                undone.append(job.name)
    data = {"db": args.db, "results": len(rows), "counts": counts, "runs": runs, "undone": undone if args.manifest else None}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"{args.db}: {len(rows)} result(s): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for r in runs[-5:]:
            print(f"  run {r['run_id']}: {r['started']} .. {r['finished'] or '(no end recorded)'} {r['status']}, "
                  f"{r['recorded']} recorded, {r['skipped']} skipped, engine {r['engine']} x{r['workers']}")
        if args.manifest:
            print(f"{len(undone)} job(s) of {args.manifest} undone" + (": " + ", ".join(undone[:20]) if undone else ""))
    return EXIT_OK if not undone else EXIT_UNKNOWN


def cmd_report(args) -> int:
    from ..zoo.report import export_csv, export_json, write_report
    if not (args.out or args.json_file or args.csv_file):
        raise UsageError("give --out DIR, --json FILE or --csv FILE")
    rows, runs, _ = _read_store(args.db)
    if args.json_file:
        export_json(rows, args.json_file)
    if args.csv_file:
        export_csv(rows, args.csv_file)
    if args.out:
        paths = write_report(rows, args.out, runs=runs, plots=not args.no_plots, db=args.db)
        print(f"wrote {paths['html']} and {paths['md']} ({len(rows)} result(s))", file=sys.stderr)
        if not paths["plots"] and not args.no_plots:
            print(f"relucert zoo report: {paths['plot_note']}", file=sys.stderr)
    return EXIT_OK
