"""Certify ACAS Xu pairs (../shared/data/acas-neurodiff) and measure check time against prove time.

    python proofs/bench_acas.py [--time-limit S] [--out proofs/acas.json] [--keep DIR] ID ...
    python proofs/bench_acas.py --quick          # the acas suite's quick instances

For each instance (``instances.csv``: the network, its 16-bit copy, the normalised box, eps and
the target output, read as ``benchmarks/suites/real_networks.py`` reads them) this runs

* the verifier, ``relucert.verify(..., method="bab")`` (its verdict is what the checker must agree with),
* certified mode, ``relucert.certify.certify`` (prove time: the whole call, model loading included),
* the independent checker on the written certificate (check time: the whole
  ``check_certificate`` call, hashing and loading the two .nnet files included),

and writes one record per instance to ``--out``.  The certificates are written to a temporary
folder (or ``--keep DIR``) and point to the model files in the shared data folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("RELUCERT_ACAS_DATA", Path(__file__).resolve().parents[2] / "shared/data/acas-neurodiff"))
QUICK = ("acas-0.05-009", "acas-0.05-050", "acas-0.05-060", "acas-0.05-070", "acas-0.05-090", "acas-0.05-100",
         "acas-0.05-110")


def instances():
    with open(DATA / "instances.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def instance(r):
    """(f path, g path, lo, hi, eps, outputs) of one row of instances.csv."""
    lo = np.array([float(v) for v in r["box_lo_norm"].split(";")])
    hi = np.array([float(v) for v in r["box_hi_norm"].split(";")])
    return (DATA / "nnet" / r["net"], DATA / "compressed_nnets" / r["net2"], lo, hi, float(r["eps"]),
            [int(r["target_output"])])


def run_one(r, folder: Path, time_limit: float) -> dict:
    import relucert
    from relucert.certify import certify
    from relucert.check import check_certificate
    from relucert.io.nnet import load_nnet

    fp, gp, lo, hi, eps, outs = instance(r)
    box, spec = relucert.Box(lo, hi), relucert.EpsEquivalence(eps, outputs=outs)
    f, g = load_nnet(fp), load_nnet(gp)
    t, c = time.perf_counter(), time.process_time()
    v = relucert.verify(f, g, box, spec, method="bab", time_limit=time_limit)
    rec = {"name": r["id"], "eps": eps, "outputs": outs, "verifier": v.verdict.name,
           "verifier_s": round(time.perf_counter() - t, 3), "verifier_cpu_s": round(time.process_time() - c, 3),
           "verifier_nodes": int(v.stats.get("nodes", 0) or 0)}
    t, c = time.perf_counter(), time.process_time()
    res = certify(fp, gp, box, spec, time_limit=time_limit, fallback_verify=False)
    rec.update(certify=res.verdict.name, prove_s=round(time.perf_counter() - t, 3),
               prove_cpu_s=round(time.process_time() - c, 3), reason=res.reason)
    if res.certificate is not None:
        path = folder / f"{r['id']}.cert.json"
        rec["bytes"] = res.write(path)
        rec["leaves"] = res.stats.get("leaves", 0)
        rec["hinted_leaves"] = res.stats.get("hinted_leaves", 0)
        t, c = time.perf_counter(), time.process_time()
        rep = check_certificate(path)
        rec.update(check=rep.verdict, check_s=round(time.perf_counter() - t, 3),
                   check_cpu_s=round(time.process_time() - c, 3),
                   slack=float(rep.slack) if rep.slack is not None else None)
        rec["agrees"] = None if v.verdict.name == "UNKNOWN" else \
            {"VERIFIED": "EQUIVALENT", "REFUTED": "NOT_EQUIVALENT"}.get(rep.verdict) == v.verdict.name
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "acas.json"))
    ap.add_argument("--keep", default=None, help="folder for the certificates (default: a temporary one)")
    args = ap.parse_args(argv)
    rows = instances()
    ids = list(args.ids) + (list(QUICK) if args.quick else [])
    recs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for i in ids:
            rec = run_one(rows[i], folder, args.time_limit)
            print(json.dumps(rec), flush=True)
            recs.append(rec)
    old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else []
    keep = [o for o in old if o["name"] not in {r["name"] for r in recs}]
    Path(args.out).write_text(json.dumps(sorted(keep + recs, key=lambda r: r["name"]), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
