"""The ACAS Xu pairs of ../shared/data/acas-neurodiff through the VNN-LIB 2.0 path give the same
verdicts as through a Box (a handful here; ``python -m relucert.vnncomp.acas`` runs any subset)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from relucert.vnncomp.acas import _load, acas_instances, compare_instance

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "acas-neurodiff"
ROWS = {r["id"]: r for r in acas_instances(DATA)}


@pytest.mark.parametrize("ident", ["acas-0.05-049", "acas-0.05-055", "acas-0.05-060"])
def test_proved_instances_are_unsat_through_vnnlib2(ident, tmp_path):
    d = compare_instance(ROWS[ident], data=DATA, timeout=60, workdir=tmp_path)
    assert d["same_networks_and_box"]
    assert d["box_verdict"] == "EQUIVALENT" and d["query_status"] == "unsat" and d["agree"]


@pytest.mark.parametrize("ident,reading", [("acas-0.05-050", "target"), ("acas-0.01-001", "all")])
def test_refuted_instances_are_sat_through_vnnlib2(ident, reading, tmp_path):
    # eps below the exact difference at the box centre: both paths must find a counterexample
    row = ROWS[ident]
    f, g, box = _load(DATA, row)
    c = [Fraction(float(v)) for v in box.center]
    outs = [int(row["target_output"])] if reading == "target" else range(5)
    gap = max(abs(a - b) for k, (a, b) in enumerate(zip(f.eval_exact(c), g.eval_exact(c))) if k in outs)
    assert gap > 0
    d = compare_instance(row, data=DATA, eps=float(gap) / 2, reading=reading, timeout=60, workdir=tmp_path)
    assert d["box_verdict"] == "NOT_EQUIVALENT" and d["query_status"] == "sat" and d["agree"]


def test_the_data_is_there():
    assert len(ROWS) == 286 and all(r["net2"].endswith("_16bit.nnet") for r in ROWS.values())
