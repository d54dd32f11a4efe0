"""ACAS Xu pairs through the VNN-LIB 2.0 path, checked against the direct ``Box`` path.

For each instance of ``acas-neurodiff/instances.csv`` (f: an original ``.nnet``, g: its 16-bit
copy, both loaded as bare networks on normalized inputs; the box from ``box_lo_norm`` /
``box_hi_norm``) this runs

1. ``relucert.verify(f, g, box, EpsEquivalence(eps, outputs=[target]))`` (or every output), and
2. the same query written as VNN-LIB 2.0 with two ONNX files (:func:`export_query`), read back
   (:func:`read_query`), the ONNX files loaded, and decided by :func:`solve_query`,

and reports whether the verdicts agree (EQUIVALENT <-> unsat, NOT_EQUIVALENT <-> sat).

Run it as::

    python -m relucert.vnncomp.acas --select 'acas-0.05-0[45]*' --timeout 60 --out acas-vnnlib2.csv

(``--data`` defaults to ``../shared/data/acas-neurodiff`` next to the repository; ``--eps``
overrides the instances' eps; ``--refute`` sets eps to half the exact difference at the box
centre, so that both paths must find a counterexample; ``--reading all`` checks every output
instead of the target output).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["default_data", "acas_instances", "centre_gap", "compare_instance", "main"]


def default_data() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "acas-neurodiff"


def acas_instances(data=None, *, select: str = "*") -> list[dict]:
    """The rows of ``instances.csv`` whose id matches ``select`` (a glob)."""
    data = Path(data) if data is not None else default_data()
    with open(data / "instances.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if fnmatch.fnmatchcase(r["id"], select)]


def _load(data: Path, row: dict):
    from ..box import Box
    from ..io import load

    f = load(data / "nnet" / row["net"])
    g = load(data / "compressed_nnets" / row["net2"])
    box = Box([float(v) for v in row["box_lo_norm"].split(";")], [float(v) for v in row["box_hi_norm"].split(";")])
    return f, g, box


def centre_gap(row: dict, *, data=None, reading: str = "target") -> float:
    """``max_k |f_k - g_k|`` at the box centre (exact, rounded to float64), over the target output
    or every output."""
    from fractions import Fraction

    data = Path(data) if data is not None else default_data()
    f, g, box = _load(data, row)
    c = [Fraction(float(v)) for v in box.center]
    outs = [int(row["target_output"])] if reading == "target" else range(f.n_outputs)
    fy, gy = f.eval_exact(c), g.eval_exact(c)
    return float(max(abs(fy[k] - gy[k]) for k in outs))


def compare_instance(row: dict, *, data=None, eps: float | None = None, reading: str = "target",
                     timeout: float | None = 60.0, workdir=None) -> dict:
    """Both paths on one instance; returns the two verdicts, whether they agree, and the times."""
    from ..io import load
    from ..io.query_export import export_query
    from ..io.vnnlib2 import read_query
    from ..verify import EpsEquivalence, verify
    from .solve import solve_query

    data = Path(data) if data is not None else default_data()
    if reading not in ("target", "all"):
        raise ValueError(f"reading must be 'target' or 'all', got reading={reading!r}")
    f, g, box = _load(data, row)
    e = float(row["eps"]) if eps is None else float(eps)
    spec = EpsEquivalence(e, outputs=[int(row["target_output"])] if reading == "target" else None)
    t0 = time.perf_counter()
    res = verify(f, g, box, spec, time_limit=timeout)
    t_box = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        t0 = time.perf_counter()
        paths = export_query(f, g, box, spec, tmp, name="q")
        q = read_query(paths["vnnlib2"])
        models = {"f": load(paths["f_onnx"]), "g": load(paths["g_onnx"])}
        same_nets = models["f"].digest == f.digest and models["g"].digest == g.digest and q.box == box
        out = solve_query(q, models, time_limit=timeout)
        t_q = time.perf_counter() - t0
    box_verdict = str(res.verdict)
    q_verdict = out.verdict
    agree = box_verdict == q_verdict
    return {"id": row["id"], "eps": e, "reading": reading, "box_verdict": box_verdict, "query_status": out.status,
            "query_verdict": q_verdict, "agree": agree, "same_networks_and_box": same_nets,
            "box_s": round(t_box, 3), "query_s": round(t_q, 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m relucert.vnncomp.acas", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="the acas-neurodiff folder")
    ap.add_argument("--select", default="*", help="glob on instance ids (default: all 286)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N selected instances")
    ap.add_argument("--eps", type=float, default=None, help="override the instances' eps")
    ap.add_argument("--refute", action="store_true", help="eps = half the exact difference at the box centre")
    ap.add_argument("--reading", default="target", choices=("target", "all"))
    ap.add_argument("--timeout", type=float, default=60.0, help="time limit per path and instance (s)")
    ap.add_argument("--out", default=None, help="write the rows as CSV")
    args = ap.parse_args(argv)
    rows = acas_instances(args.data, select=args.select)[: args.limit]
    results = []
    for r in rows:
        eps = args.eps
        if args.refute:
            eps = centre_gap(r, data=args.data, reading=args.reading) / 2
        d = compare_instance(r, data=args.data, eps=eps, reading=args.reading, timeout=args.timeout)
        results.append(d)
        print(f"{d['id']}: box {d['box_verdict']} ({d['box_s']}s), vnnlib2 {d['query_status']} -> "
              f"{d['query_verdict']} ({d['query_s']}s){'' if d['agree'] else '  MISMATCH'}", flush=True)
    n_agree = sum(d["agree"] for d in results)
    print(f"{n_agree}/{len(results)} instances agree")
    if args.out:
        buf = io.StringIO()
        if results:
            w = csv.DictWriter(buf, fieldnames=list(results[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(results)
        Path(args.out).write_text(buf.getvalue(), encoding="utf-8")
    return 0 if n_agree == len(results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
