"""Batch verification of a model zoo: manifests, supervised parallel runs, a durable store, reports.

* :mod:`.manifest`: TOML manifests (pairs, glob pairing rules, transforms, specs, boxes, limits)
  and ``instances.csv`` files; errors name ``FILE:LINE``, the job and the field.
* :mod:`.runner`: :func:`run_zoo` prepares jobs, skips those already stored and runs the rest on
  supervised worker processes (:mod:`.pool`), or on any ``concurrent.futures.Executor``.
* :mod:`.store`: the SQLite results database (WAL, one transaction per finished job).
* :mod:`.report`: Markdown / HTML reports with a cactus plot, CSV and JSON exports.

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
