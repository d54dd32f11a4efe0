"""Batch verification of a model zoo: manifests, supervised parallel runs, a durable store, reports.

Quick start::

    relucert zoo check zoo.toml                       # validate, list the jobs
    relucert zoo run zoo.toml --workers 2             # results go to zoo.sqlite (or --db FILE)
    relucert zoo status zoo.sqlite --manifest zoo.toml
    relucert zoo report zoo.sqlite --out report/ --json results.json --csv results.csv

Manifest (TOML; relative paths are relative to the manifest's folder)::

    db = "results.sqlite"            # optional; default MANIFEST.sqlite, --db overrides

    [defaults]                       # any job field; a job's own fields win
    eps = 0.05
    timeout = 60                     # seconds: verify's time limit
    memory_limit = "4GiB"            # the worker's address-space limit during the job

    [[job]]                          # one pair
    name = "acas_1_1"
    f = "nets/ACASXU_run2a_1_1_batch_2000.nnet"
    g = "nets/ACASXU_run2a_1_1_batch_2000_16bit.nnet"
    box = "-0.3:0.68,-0.5:0.5,-0.5:0.5,0.45:0.5,-0.5:-0.45"    # or vnnlib = "prop_1.vnnlib",
                                                               # or box = {lo = [...], hi = [...]}
    [[job]]                          # a glob and a pairing rule: one job per match
    f = "nets/*.onnx"
    g = "{stem}-mirror{suffix}"      # also {name}, {dir}, {match} (what the first * matched)
    name = "mirror-{stem}"           # default "{stem}"
    missing = "skip"                 # a match without its partner: "error" (default) or "skip"
    spec = "top1"                    # eps (default) | top1 (margin) | decision (tau_f, tau_g, gamma)
    margin = 0.1

    [[job]]                          # one model plus a transform (g = transform(f))
    name = "deep"
    f = "nets/wide.onnx"
    transform = "fan-deep"           # a name in relucert.transforms
    transform_options = {}
    spec = "claim"                   # check the transform's own claim (the default when no eps etc.)

    [[instances]]                    # an instances.csv (this project's layout or VNN-COMP's)
    csv = "acas-neurodiff/instances.csv"
    search = ["acas-neurodiff/nnet", "acas-neurodiff/compressed_nnets"]
    target = "target"                # only the row's target_output (the reference reading) | "all"
    select = "acas-0.05-*"           # optional id patterns; limit = N for the first N
    # g = "{stem}_16bit{suffix}"     # VNN-COMP rows "model,vnnlib,timeout" need the partner rule

Other job fields: ``method`` (auto, bab, milp, smt, bounds), ``node_limit``, ``seed``,
``certificate`` (true: write a certificate through :mod:`relucert.certify`; the path or a
"not available" note is stored), ``fold_normalization`` (.nnet), ``drop_softmax`` (ONNX).
Every error names ``FILE:LINE``, the job and the field.

Verdicts stored: EQUIVALENT, NOT_EQUIVALENT (with the exact counterexample), UNKNOWN (verify
stopped at its time or node limit; the bracket is kept), TIMEOUT (the worker did not answer
within ``timeout`` plus the kill grace and was killed), ERROR (a crash, out of memory, or a bad
job; the reason says which).

Modules:

* :mod:`.manifest`: manifests and ``instances.csv`` files -> :class:`JobSpec` lists;
* :mod:`.runner`: :func:`run_zoo` prepares jobs, skips those already stored and runs the rest on
  supervised worker processes (:mod:`.pool`, :mod:`.worker`) or any ``concurrent.futures.Executor``
  (a Dask cluster: ``--engine dask --scheduler ADDRESS``);
* :mod:`.store`: the SQLite results database (WAL, one transaction per finished job);
* :mod:`.report`: Markdown / HTML reports with SVG plots, CSV and JSON exports;
* :mod:`.benchmark`: scaling and overhead figures (``python -m relucert.zoo.benchmark``).

Nothing here is imported by ``import relucert``.
"""

from __future__ import annotations

from .manifest import JobSpec, Manifest, load_manifest, read_instances_csv
from .runner import RunSummary, run_zoo
from .store import ResultStore, StoreError

__all__ = ["JobSpec", "Manifest", "load_manifest", "read_instances_csv", "run_zoo", "RunSummary",
           "ResultStore", "StoreError", "write_report"]


def write_report(db, out_dir, **options):
    """Write the Markdown / HTML report of the store ``db`` into ``out_dir`` (see :mod:`.report`)."""
    from .report import write_report as _w

    return _w(db, out_dir, **options)
