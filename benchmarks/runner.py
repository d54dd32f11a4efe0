"""The benchmark runner: registered suites of cases, each with its expected verdict.

A *suite* is a function ``build(quick: bool, options: dict) -> list[Case]`` registered with
:func:`register_suite`; a *case* runs one verification and reports a verdict and figures.  The
runner runs the cases, prints one line each and ends with
``N cases, N as expected, M unexpected``; it writes ``benchmarks/results/<suite>[-quick].json``
(atomically) and regenerates ``benchmarks/RESULTS.md`` from every results file present, with
the machine, the versions, the command, every figure, and each suite's summary.

Adding a suite: put a module in ``benchmarks/suites/`` that calls :func:`register_suite` (it is
imported by :func:`load_suites`), or call :func:`register_suite` yourself before :func:`run`.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"

__all__ = ["Case", "Suite", "SUITES", "register_suite", "load_suites", "run", "write_results_md",
           "set_blas_threads", "machine_info"]


@dataclass
class Case:
    """One benchmark case.  ``run()`` returns a dict with at least ``verdict`` (a string such as
    ``"EQUIVALENT"``) and ``time_s``; any other figures (``lower``, ``upper``, ``nodes``,
    ``detail``) are recorded.  ``expected`` lists the verdicts that count as expected."""

    name: str
    expected: tuple
    run: Callable[[], dict]
    group: str = ""
    info: dict = field(default_factory=dict)


@dataclass
class Suite:
    name: str
    description: str
    build: Callable[[bool, dict], list]
    summarize: Callable[[list, dict], list] | None = None   # records, meta -> markdown lines
    headline: Callable[[list, dict], list] | None = None    # the same, short, for RESULTS.md's summary


SUITES: dict[str, Suite] = {}


def register_suite(name: str, description: str, *, summarize=None, headline=None):
    """Decorator registering ``build(quick, options) -> list[Case]`` as suite ``name``.
    ``summarize(records, data)`` gives the suite's section of RESULTS.md (default: a per-group
    table), ``headline(records, data)`` the lines it adds to the summary at the top (default:
    none beyond its row in the table of runs)."""

    def deco(build):
        SUITES[name] = Suite(name, description, build, summarize, headline)
        return build

    return deco


def load_suites() -> dict[str, Suite]:
    """Import every module of ``benchmarks/suites`` (each registers its suites)."""
    for path in sorted((HERE / "suites").glob("*.py")):
        if path.name.startswith("_"):
            continue
        importlib.import_module(f"benchmarks.suites.{path.stem}")
    return SUITES


# -- machine ---------------------------------------------------------------------------------------

def set_blas_threads(n: int) -> str:
    """Limit BLAS to ``n`` threads for the rest of the process, inside ``relucert.verify`` calls
    too (the bound engines do many small products, for which threads only add contention on a
    shared machine).  Returns what was done."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from relucert.verify import api

    api.BLAS_THREADS = int(n)
    threadpool_limits(limits=int(n), user_api="blas")
    libs = [f"{Path(i['filepath']).name} ({i.get('internal_api')}): {i['num_threads']} thread(s)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(libs) or "no BLAS library loaded"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict:
    import numpy as np
    import scipy

    import relucert

    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_avg_at_start": [round(v, 2) for v in load],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "relucert": getattr(relucert, "__version__", "unknown"),
        "git_commit": _git_commit(),
    }


# -- running ---------------------------------------------------------------------------------------

def _fmt(v, nd=4):
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return str(v)


def run(names: list[str] | None = None, *, quick: bool = False, options: dict | None = None,
        write: bool = True, results_dir: Path | None = None, results_md: Path | None = None,
        command: str = "", out=print, only: list | None = None) -> dict:
    """Run the named suites (all registered ones when ``names`` is empty) and return
    ``{"cases": N, "expected": N, "unexpected": M, "records": [...]}``."""
    options = dict(options or {})
    if not SUITES:
        load_suites()
    names = list(names) if names else list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise KeyError(f"unknown suite {unknown[0]!r}; known suites: {', '.join(sorted(SUITES))}")
    blas = set_blas_threads(int(options.get("blas_threads", 1)))
    meta = machine_info()
    meta["blas_threads"] = blas
    total = ok = 0
    all_records = []
    for name in names:
        suite = SUITES[name]
        t_build = time.perf_counter()
        cases = suite.build(quick, options)
        if only:
            cases = [c for c in cases if any(t in c.name for t in only)]
        build_s = time.perf_counter() - t_build
        out(f"== suite {name}{' (quick)' if quick else ''}: {len(cases)} cases ({suite.description}); "
            f"set-up {build_s:.2f} s")
        records = []
        t_suite = time.perf_counter()
        rdir = Path(results_dir or RESULTS_DIR)
        stem = f"{name}{'-quick' if quick else ''}{'-subset' if only else ''}"
        base = {"suite": name, "quick": quick, "subset": list(only or []), "description": suite.description,
                "command": command or f"relucert bench run --suite {name}{' --quick' if quick else ''}",
                "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "setup_s": build_s, "machine": meta, "options": _jsonable(options), "n_cases": len(cases)}

        def save(complete: bool):
            payload = dict(base, wall_s=time.perf_counter() - t_suite, complete=complete, records=records)
            rdir.mkdir(parents=True, exist_ok=True)
            _atomic_write(rdir / f"{stem}.json",
                          json.dumps(payload, indent=1, default=_json_default) + "\n")

        for case in cases:
            try:
                rec = dict(case.run())
            except Exception as exc:  # a crash is an unexpected outcome, not the end of the run
                rec = {"verdict": "ERROR", "time_s": float("nan"), "detail": f"{type(exc).__name__}: {exc}"}
            rec.update(name=case.name, group=case.group, expected=list(case.expected), **case.info)
            rec["as_expected"] = rec["verdict"] in case.expected
            records.append(rec)
            total += 1
            ok += rec["as_expected"]
            mark = "ok " if rec["as_expected"] else "UNEXPECTED"
            extra = "".join(f" {k}={_fmt(rec[k])}" for k in ("wall_s", "lower", "upper", "nodes") if k in rec)
            out(f"{mark} {case.name:<34} {rec['verdict']:<15} expected {'|'.join(case.expected):<15} "
                f"{rec['time_s']:8.3f} s{extra}" + (f"  ({rec['detail']})" if rec.get("detail") and
                                                   not rec["as_expected"] else ""))
            if write:
                save(False)         # partial results survive an interrupted run
        all_records.extend(records)
        if write:
            save(True)
    if write:
        write_results_md(results_dir=results_dir, results_md=results_md)
    out(f"{total} cases, {ok} as expected, {total - ok} unexpected")
    return {"cases": total, "expected": ok, "unexpected": total - ok, "records": all_records}


def _jsonable(d):
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None), list))}


def _json_default(o):
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def _atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- RESULTS.md ------------------------------------------------------------------------------------

def _median(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def default_summary(records: list, meta: dict) -> list:
    """Per group: cases, verdict counts, total and median time."""
    groups: dict = {}
    for r in records:
        groups.setdefault(r.get("group") or "-", []).append(r)
    lines = ["| group | cases | as expected | verdicts | total time (s) | median (s) | max (s) |",
             "|---|---|---|---|---|---|---|"]
    for gname, rs in groups.items():
        counts: dict = {}
        for r in rs:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        ts = [r["time_s"] for r in rs]
        lines.append(f"| {gname} | {len(rs)} | {sum(r['as_expected'] for r in rs)} | "
                     + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                     + f" | {sum(t for t in ts if t == t):.2f} | {_median(ts):.3f} | {max(ts):.2f} |")
    return lines


REPORT_COMMAND = "python -m benchmarks report"


def _run_label(data: dict, stem: str) -> str:
    sub = f" (subset: cases matching {', '.join(data['subset'])})" if data.get("subset") else ""
    return f"{data['suite']}{' (quick)' if data['quick'] else ''}{sub}"


def _anchor(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    keep = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return keep.replace(" ", "-")


def _summary_of_runs(runs) -> list:
    """One row per results file: what ran, its outcome and the command that regenerates it."""
    lines = ["| run | cases | as expected | verdicts | decided | total (s) | median (s) | run wall time | git | date | "
             "command that regenerates it |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p, data in runs:
        recs = data["records"]
        counts: dict = {}
        for r in recs:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        dec = sum(r["verdict"] in ("EQUIVALENT", "NOT_EQUIVALENT", "HOLDS", "FAILS") for r in recs)
        ts = [r["time_s"] for r in recs if isinstance(r.get("time_s"), (int, float))]
        clock = recs[0].get("clock") if recs and recs[0].get("clock") else data.get("options", {}).get("clock", "cpu")
        n_ok = sum(r["as_expected"] for r in recs)
        inc = "" if data.get("complete", True) else f" **of {data.get('n_cases', '?')} (incomplete)**"
        label = _run_label(data, p.stem)
        wall = data["wall_s"] + data.get("setup_s", 0.0)
        lines.append(
            f"| [{label}](#{_anchor(data['_heading'])}) (`results/{p.name}`) | {len(recs)}{inc} | "
            f"{n_ok if n_ok == len(recs) else f'**{n_ok}**'} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f" | {dec} | {sum(t for t in ts if t == t):.1f} ({clock}) | {_median(ts):.3g} | "
            f"{wall / 60:.1f} min | {data['machine'].get('git_commit', '?')} | {data['date_utc']} | "
            f"`{data['command']}` |")
    return lines


def write_results_md(*, results_dir: Path | None = None, results_md: Path | None = None) -> Path:
    """Regenerate RESULTS.md from every ``results/*.json`` (full runs first, then quick ones);
    ``python -m benchmarks report`` does only this, without running anything."""
    if not SUITES:
        load_suites()
    rdir = Path(results_dir or RESULTS_DIR)
    files = sorted(rdir.glob("*.json"), key=lambda p: (p.stem.endswith("-quick"), "-subset" in p.stem, p.stem))
    runs = []
    for p in files:
        data = json.loads(p.read_text())
        data["_heading"] = f"{_run_label(data, p.stem)}: {data['description']}"
        runs.append((p, data))
    head = Path(HERE / "RESULTS_HEAD.md")
    parts = [head.read_text().rstrip() + "\n\n" if head.exists() else "# Benchmark results\n\n"]
    parts.append("_Everything below the line is generated from `benchmarks/results/*.json` by `relucert bench run` "
                 f"(after every run) or by `{REPORT_COMMAND}` (renders only, runs nothing); do not edit by hand.  "
                 "Each figure's section names the command that regenerates it; run it from the repository root._\n\n"
                 "---\n\n")
    full = [(p, d) for p, d in runs if not d["quick"] and not d.get("subset")]
    parts.append("## Summary of the runs\n\n")
    parts.append("Full runs (one row per results file; total and median of the reported time of every case, on "
                 "the clock named; 'run wall time' is the whole run, set-up included):\n\n")
    parts.append("\n".join(_summary_of_runs(full)) + "\n\n")
    others = [(p, d) for p, d in runs if d["quick"] or d.get("subset")]
    if others:
        parts.append("<details><summary>quick and subset runs</summary>\n\n" + "\n".join(_summary_of_runs(others))
                     + "\n\n</details>\n\n")
    for p, data in full:
        suite = SUITES.get(data["suite"])
        if suite is not None and suite.headline is not None:
            parts.append(f"### {data['suite']}: {data['description']}\n\n(from `results/{p.name}`; command: "
                         f"`{data['command']}`, git {data['machine'].get('git_commit', '?')}, {data['date_utc']}"
                         + ("" if data.get("complete", True) else
                            f"; **incomplete: {len(data['records'])} of {data.get('n_cases', '?')} cases**")
                         + ")\n\n" + "\n".join(suite.headline(data["records"], data)) + "\n\n")
    parts.append("---\n\n")
    for p, data in runs:
        m = data["machine"]
        name = data["suite"]
        parts.append(f"## {data['_heading']}\n\n")
        parts.append(f"- command: `{data['command']}`" + (" (writes `results/<suite>-subset.json`; this file was "
                                                           f"renamed `{p.name}`)" if data.get("subset")
                                                           and p.stem != f"{name}-subset" else "") + "\n"
                     f"- date: {data['date_utc']}; wall time of the cases "
                     f"{data['wall_s']:.1f} s, set-up (loading, reference computations) {data['setup_s']:.1f} s\n"
                     f"- machine: {m['cpu']}, {m['cores']} cores (shared with other jobs; load average at start "
                     f"{m['load_avg_at_start']}), {m['platform']}\n"
                     f"- versions: Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, relucert "
                     f"{m['relucert']} (git {m['git_commit']}); BLAS threads: {m.get('blas_threads', '?')}\n")
        if data.get("options"):
            parts.append(f"- options: {json.dumps(data['options'])}\n")
        recs = data["records"]
        n_ok = sum(r["as_expected"] for r in recs)
        if not data.get("complete", True):
            parts.append(f"- **incomplete run: {len(recs)} of {data.get('n_cases', '?')} cases** (interrupted)\n")
        parts.append(f"\n**{len(recs)} cases, {n_ok} as expected, {len(recs) - n_ok} unexpected.**\n\n")
        suite = SUITES.get(name)
        summ = suite.summarize if suite is not None and suite.summarize is not None else default_summary
        parts.append("\n".join(summ(recs, data)) + "\n\n")
        cols = ["name", "group", "verdict", "expected", "time_s", "wall_s", "lower", "upper", "nodes"]
        parts.append("<details><summary>every case</summary>\n\n| " + " | ".join(cols) + " |\n|"
                     + "---|" * len(cols) + "\n")
        for r in recs:
            row = []
            for c in cols:
                v = r.get(c, "")
                row.append("\\|".join(v) if isinstance(v, list) else _fmt(v))
            parts.append("| " + " | ".join(row) + " |\n")
        parts.append("\n</details>\n\n")
    target = Path(results_md or RESULTS_MD)
    _atomic_write(target, "".join(parts))
    return target


def main(argv=None) -> int:
    """``python -m benchmarks run [--suite NAME] [--quick]`` (same options as ``relucert bench``);
    ``python -m benchmarks report [--results-dir DIR]`` regenerates RESULTS.md from the results
    files without running anything."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        import argparse

        ap = argparse.ArgumentParser(prog="python -m benchmarks report",
                                     description="Regenerate benchmarks/RESULTS.md from benchmarks/results/*.json "
                                                 "(runs nothing).")
        ap.add_argument("--results-dir", type=Path, default=None, help="default: benchmarks/results")
        ap.add_argument("--output", type=Path, default=None, help="default: benchmarks/RESULTS.md")
        a = ap.parse_args(argv[1:])
        print(write_results_md(results_dir=a.results_dir, results_md=a.output))
        return 0
    from relucert.cli.bench import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
