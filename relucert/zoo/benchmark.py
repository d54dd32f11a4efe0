"""Scaling and overhead of the zoo runner: ``python -m relucert.zoo.benchmark``.

Runs the same jobs three ways and reports wall times:

* ``loop``: one fresh process that loads each pair and calls :func:`relucert.verify` in a plain
  loop (one BLAS thread, as the workers have): the cost of the jobs themselves;
* ``zoo x1``: :func:`run_zoo` with one worker (store, supervision, process start included);
* ``zoo x2``: the same with two workers.

Figures: ``overhead = zoo_x1 / loop - 1`` (target < 5%) and ``speedup ratio = zoo_x2 / zoo_x1``
(target <= 0.6 on 2 cores).  Jobs are ACAS Xu pairs from ``instances.csv`` with a *node limit*
instead of a time limit, so every run does the same work (a time limit would make the jobs end
on the clock and the ratio meaningless).  The machine's load average is recorded: on a shared
machine the ratio says more about the neighbours than about the runner.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run_benchmark", "main"]

_LOOP = r"""
import json, sys, time
payloads = json.load(open(sys.argv[1]))
import relucert
from relucert.zoo.worker import execute_job
t0 = time.perf_counter()
for p in payloads:
    r = execute_job(p, limit_memory=False)
    assert r["verdict"] != "ERROR", r["reason"]
print(json.dumps({"loop_s": time.perf_counter() - t0}))
"""


def _default_acas() -> Path:
    here = Path(__file__).resolve()
    for base in (here.parents[3] / "shared", here.parents[2] / "shared", Path("/work/shared")):
        p = base / "data" / "acas-neurodiff"
        if (p / "instances.csv").is_file():
            return p
    raise SystemExit("cannot find acas-neurodiff/instances.csv; pass --acas DIR")


def run_benchmark(*, acas: Path | None = None, jobs: int = 16, node_limit: int = 40, repeat: int = 1) -> dict:
    from .manifest import read_instances_csv
    from .pool import worker_env
    from .runner import _ModelCache, prepare_job, run_zoo
    from .manifest import Manifest

    acas = acas or _default_acas()
    specs = read_instances_csv(acas / "instances.csv", search=[acas / "nnet", acas / "compressed_nnets"],
                               select="acas-0.05-*", limit=jobs, options={"timeout": 600, "node_limit": node_limit})
    cache = _ModelCache()
    payloads = [prepare_job(j, cache) for j in specs]
    out: dict = {"jobs": len(payloads), "node_limit": node_limit, "cpus": os.cpu_count(),
                 "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="relucert-zoo-bench-") as tmp:
        pfile = Path(tmp) / "payloads.json"
        pfile.write_text(json.dumps(payloads))
        figures: dict[str, list[float]] = {"loop_s": [], "zoo_x1_s": [], "zoo_x2_s": []}
        for r in range(repeat):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", _LOOP, str(pfile)], env=worker_env(), capture_output=True,
                                 text=True, check=True)
            figures["loop_s"].append(time.perf_counter() - t0)
            out["loop_inner_s"] = json.loads(res.stdout)["loop_s"]
            for w in (1, 2):
                db = Path(tmp) / f"r{r}-{w}.sqlite"
                t0 = time.perf_counter()
                s = run_zoo(Manifest(path=str(pfile), jobs=specs), db, workers=w)
                figures[f"zoo_x{w}_s"].append(time.perf_counter() - t0)
                assert s.recorded == len(specs) and s.counts["ERROR"] == 0, s.to_dict()
                out[f"verdicts_x{w}"] = {k: v for k, v in s.counts.items() if v}
    best = {k: min(v) for k, v in figures.items()}
    out.update({k: round(v, 3) for k, v in best.items()})
    out["overhead_x1_vs_loop"] = round(best["zoo_x1_s"] / best["loop_s"] - 1, 4)
    out["ratio_x2_vs_x1"] = round(best["zoo_x2_s"] / best["zoo_x1_s"], 4)
    out["load_avg_after"] = os.getloadavg()
    out["all_runs"] = {k: [round(x, 3) for x in v] for k, v in figures.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m relucert.zoo.benchmark", description=__doc__.split("\n\n")[0])
    ap.add_argument("--acas", type=Path, help="the acas-neurodiff folder (default: shared/data/acas-neurodiff)")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--node-limit", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=1, help="repeat and keep the best time of each")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    a = ap.parse_args(argv)
    res = run_benchmark(acas=a.acas, jobs=a.jobs, node_limit=a.node_limit, repeat=a.repeat)
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
