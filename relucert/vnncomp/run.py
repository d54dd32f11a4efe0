"""The run-instance entry point and a whole-benchmark runner."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path

from ..errors import RelucertError, SpecError
from ..io._common import atomic_write
from .instances import read_instances
from .result import write_result

__all__ = ["bind_models", "run_instance", "run_benchmark"]


def bind_models(query, networks) -> dict:
    """Load the models of ``networks`` (``[(name or None, path)]``) for ``query``'s declared
    names: named items bind by name, bare paths bind the declared networks in order."""
    named = [n for n, _ in networks if n is not None]
    if named and len(named) != len(networks):
        raise SpecError("name every network (NAME=PATH) or none of them")
    decl = query.names
    if not named:
        if len(networks) > len(decl):
            raise SpecError(f"{len(networks)} networks given but the query declares {len(decl)} "
                            f"({', '.join(decl)})")
        required = [d.name for d in query.networks if d.equiv is None or d.equiv[0] != "equal-to"]
        if len(networks) < len(required):
            raise SpecError(f"{len(networks)} network(s) given but the query needs {len(required)} "
                            f"({', '.join(required)})")
        names = decl if len(networks) == len(decl) else required
        networks = list(zip(names, (p for _, p in networks)))
    cache = {}
    models = {}
    for name, p in networks:
        key = str(p)
        if key not in cache:
            cache[key] = _load_model(p)
        models[name] = cache[key]
    return models


def _load_model(path):
    """``relucert.load``, and ``NAME.onnx.gz`` (as VNN-COMP ships models) decompressed first."""
    import gzip
    import os
    import tempfile

    from ..io import load
    from ..io._common import read_bytes

    p = os.fspath(path)
    if not p.endswith(".gz"):
        return load(p)
    try:
        data = gzip.decompress(read_bytes(p))
    except (OSError, EOFError) as exc:
        raise SpecError(f"{p}: not a readable gzip file ({exc})") from None
    with tempfile.TemporaryDirectory() as tmp:
        inner = os.path.join(tmp, os.path.basename(p)[:-3])
        with open(inner, "wb") as fh:
            fh.write(data)
        net = load(inner)
    return net.with_name(os.path.basename(p)[:-3].rsplit(".", 1)[0])


def run_instance(networks, query_path, result_path, *, timeout: float | None = None, method: str = "auto",
                 solver: str = "highs", seed: int = 0, json_path=None, log=None):
    """Decide one instance and write its result file (always: ``error`` when reading the query or a
    model fails).  Returns the :class:`~relucert.vnncomp.solve.QueryOutcome` (or ``None`` on an
    error; the message goes to ``log``)."""
    from ..io.vnnlib2 import read_query
    from .solve import solve_query

    log = sys.stderr if log is None else log
    t0 = time.perf_counter()
    try:
        query = read_query(query_path)
        models = bind_models(query, networks)
        for w in query.warnings:
            print(f"warning: {w}", file=log)
        out = solve_query(query, models, time_limit=timeout, method=method, solver=solver, seed=seed)
    except (RelucertError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=log)
        write_result(result_path, "error")
        return None
    except Exception as exc:  # noqa: BLE001 - a result file is written whatever went wrong
        print(f"error: internal error {type(exc).__name__}: {exc}", file=log)
        write_result(result_path, "error")
        return None
    for w in out.warnings[len(query.warnings):]:
        print(f"warning: {w}", file=log)
    write_result(result_path, out.status, out.assignment)
    if json_path is not None:
        data = out.to_dict()
        data.update({"query": str(query_path), "networks": [[n, str(p)] for n, p in networks],
                     "wall_s": round(time.perf_counter() - t0, 6)})
        with atomic_write(json_path) as fh:
            fh.write((json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return out


def run_benchmark(instances_csv, out_dir, *, timeout: float | None = None, method: str = "auto",
                  solver: str = "highs", limit: int | None = None, log=None) -> list[dict]:
    """Run every instance of ``instances_csv``; write ``out_dir/<n>_<id>.result`` per instance
    and ``out_dir/results.csv`` (``line,id,status,time_s``).  ``timeout`` overrides the CSV's."""
    log = sys.stderr if log is None else log
    insts = read_instances(instances_csv)
    if limit is not None:
        insts = insts[:limit]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, inst in enumerate(insts):
        t = timeout if timeout is not None else inst.timeout
        res_path = out_dir / f"{k:04d}_{inst.ident}.result"
        t0 = time.perf_counter()
        out = run_instance(inst.networks, inst.query, res_path, timeout=t, method=method, solver=solver, log=log)
        dt = time.perf_counter() - t0
        status = "error" if out is None else out.status
        rows.append({"line": inst.line, "id": inst.ident, "status": status, "time_s": round(dt, 4),
                     "result": str(res_path)})
        print(f"{inst.ident}: {status} ({dt:.2f}s)", file=log)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["line", "id", "status", "time_s"])
    for r in rows:
        w.writerow([r["line"], r["id"], r["status"], r["time_s"]])
    with atomic_write(out_dir / "results.csv") as fh:
        fh.write(buf.getvalue().encode("utf-8"))
    return rows
