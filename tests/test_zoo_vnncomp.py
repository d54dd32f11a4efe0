"""Zoo runner on a VNN-COMP 2026-style benchmark folder: an ``instances.csv`` whose first column
names the networks (``f=a.onnx;g=b.onnx``) with VNN-LIB 2.0 queries; verdicts stored, re-runs
skip, a changed query or model runs again, bad rows and bad queries are reported."""

from __future__ import annotations

import json
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import relucert
from relucert import Box, EpsEquivalence, Network
from relucert.errors import ManifestError
from relucert.io.query_export import vnnlib2_text
from relucert.zoo import ResultStore, load_manifest, read_instances_csv, run_zoo

BOX = Box([-1.0, -1.0], [1.0, 1.0])


def _pair():
    f = Network.random([2, 8, 2], seed=4, name="f")
    last = f.layers[-1]
    # g = f + [0.25, 0] exactly: |f - g| is 0.25 on output 0 everywhere, 0 on output 1
    g = Network(list(f.layers[:-1]) + [(last.weight, last.bias + np.array([0.25, 0.0]))], name="g")
    return f, g


def _folder(d: Path) -> Path:
    """onnx/a.onnx, onnx/b.onnx, vnnlib/near.vnnlib (eps 0.5: unsat), vnnlib/far.vnnlib (eps 0.1:
    sat) and instances.csv in the 2026 layout."""
    f, g = _pair()
    (d / "onnx").mkdir()
    (d / "vnnlib").mkdir()
    relucert.save(f, d / "onnx" / "a.onnx")
    relucert.save(g, d / "onnx" / "b.onnx")
    (d / "vnnlib" / "near.vnnlib").write_text(vnnlib2_text(EpsEquivalence(0.5), BOX, n_outputs=2))
    (d / "vnnlib" / "far.vnnlib").write_text(vnnlib2_text(EpsEquivalence(0.1), BOX, n_outputs=2))
    (d / "instances.csv").write_text("f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/near.vnnlib,30\n"
                                     "f=onnx/a.onnx|g=onnx/b.onnx,vnnlib/far.vnnlib,30\n")
    return d / "instances.csv"


def _rows(db) -> dict:
    with ResultStore(db, create=False) as s:
        return {r["name"]: r for r in s.results()}


def test_a_benchmark_folder_runs_records_verdicts_and_skips_on_rerun(tmp_path):
    csv = _folder(tmp_path)
    m = load_manifest(csv)
    assert [j.kind for j in m.jobs] == ["query", "query"]
    names = [j.name for j in m.jobs]
    assert names == ["a+b+near", "a+b+far"]
    j = m.jobs[0]
    assert j.networks == [["f", str(tmp_path / "onnx" / "a.onnx")], ["g", str(tmp_path / "onnx" / "b.onnx")]]
    assert j.timeout == 30.0 and j.spec["kind"] == "query" and len(j.query_digest) == 64

    db = tmp_path / "results.sqlite"
    s = run_zoo(m, db, workers=2)            # real worker processes
    assert s.recorded == 2 and s.skipped == 0 and s.exit_code == 0
    assert s.counts["EQUIVALENT"] == 1 and s.counts["NOT_EQUIVALENT"] == 1
    rows = _rows(db)
    near, far = rows["a+b+near"], rows["a+b+far"]
    assert near["verdict"] == "EQUIVALENT" and near["stop_reason"] == "proved" and near["counterexample"] is None
    assert far["verdict"] == "NOT_EQUIVALENT" and far["stop_reason"] == "refuted"
    fa, ga = relucert.load(str(tmp_path / "onnx" / "a.onnx")), relucert.load(str(tmp_path / "onnx" / "b.onnx"))
    assert near["f_digest"] == far["f_digest"] == fa.digest and near["g_digest"] == ga.digest
    assert near["box"] == {"lo": [-1.0, -1.0], "hi": [1.0, 1.0]}
    assert near["spec"]["kind"] == "query" and near["spec"]["form"] == "eps"
    # the stored counterexample is exact: in the box, and |f0 - g0| ~ 0.25 > 0.1 on the loaded models
    ce = far["counterexample"]
    x = [Fraction(v) for v in ce["x"]]
    assert BOX.contains(x)
    d = [abs(a - b) for a, b in zip(fa.eval_exact(x), ga.eval_exact(x))]
    assert abs(d[0] - Fraction(1, 4)) < Fraction(1, 10**12) and d[0] > Fraction(0.1)   # 0.25 up to bias rounding
    assert [Fraction(v) for v in ce["f"]] == list(fa.eval_exact(x))
    assert [Fraction(v) for v in ce["g"]] == list(ga.eval_exact(x))
    assert [k for k, _ in ce["assignment"]][:2] == ["X[0]", "X[1]"]

    # a re-run skips both jobs
    s2 = run_zoo(load_manifest(csv), db, workers=1)
    assert s2.skipped == 2 and s2.recorded == 0 and s2.exit_code == 0

    # a changed query (eps 0.5 -> 0.2: now sat) runs again; the other one stays skipped
    (tmp_path / "vnnlib" / "near.vnnlib").write_text(vnnlib2_text(EpsEquivalence(0.2), BOX, n_outputs=2))
    s3 = run_zoo(load_manifest(csv), db, engine="inline")
    assert s3.recorded == 1 and s3.skipped == 1
    assert _rows(db)["a+b+near"]["verdict"] == "NOT_EQUIVALENT"

    # a changed model runs both again
    f, g = _pair()
    relucert.save(Network(list(g.layers[:-1]) + [(g.layers[-1].weight, g.layers[-1].bias + 1.0)]),
                  tmp_path / "onnx" / "b.onnx")
    s4 = run_zoo(load_manifest(csv), db, engine="inline")
    assert s4.recorded == 2 and s4.skipped == 0


def test_job_keys_hold_the_query_hash_the_models_and_their_names(tmp_path):
    from relucert.zoo.runner import prepare_job

    csv = _folder(tmp_path)
    a, b = (tmp_path / "onnx" / "a.onnx"), (tmp_path / "onnx" / "b.onnx")
    keys = {}
    for label, row in {"fg": f"f={a};g={b}", "gf": f"g={a};f={b}", "bare": f"{a};{b}"}.items():
        (tmp_path / "i.csv").write_text(f"{row},vnnlib/near.vnnlib\n")
        [job] = read_instances_csv(tmp_path / "i.csv")
        job.name = "same"
        p = prepare_job(job)
        assert p["f_digest"] and p["g_digest"] and p["query_digest"] == job.query_digest
        keys[label] = p["job_key"]
    assert len(set(keys.values())) == 3       # swapping the names or leaving them out is another question
    del csv


def test_instances_table_in_a_toml_manifest_and_its_options(tmp_path):
    _folder(tmp_path)
    (tmp_path / "zoo.toml").write_text(textwrap.dedent("""\
        [defaults]
        eps = 0.05            # a pair default: query rows take their spec from the query
        [[instances]]
        csv = "instances.csv"
        select = "*far"
        timeout = 12
        seed = 3
        """))
    m = load_manifest(tmp_path / "zoo.toml")
    assert [(j.name, j.kind, j.timeout, j.seed) for j in m.jobs] == [("a+b+far", "query", 12.0, 3)]
    s = run_zoo(m, tmp_path / "r.sqlite", engine="inline")
    assert s.counts["NOT_EQUIVALENT"] == 1
    (tmp_path / "bad.toml").write_text('[[instances]]\ncsv = "instances.csv"\nnode_limit = 5\n')
    with pytest.raises(ManifestError, match=r"instances.csv:1: .*node_limit does not apply to query jobs"):
        load_manifest(tmp_path / "bad.toml")


def test_bad_rows_name_the_line_and_column(tmp_path):
    _folder(tmp_path)
    p = tmp_path / "i.csv"
    p.write_text("f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/near.vnnlib\nf=onnx/a.onnx;g=onnx/missing.onnx,vnnlib/far.vnnlib\n")
    with pytest.raises(ManifestError, match=r"i.csv:2: .*column 1 \(networks\): model 'onnx/missing.onnx' not found"):
        read_instances_csv(p)
    p.write_text("f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/nope.vnnlib\n")
    with pytest.raises(ManifestError, match=r"i.csv:1: .*'vnnlib/nope.vnnlib' not found"):
        read_instances_csv(p)
    p.write_text("f=onnx/a.onnx;onnx/b.onnx,vnnlib/near.vnnlib\n")
    with pytest.raises(ManifestError, match=r"i.csv:1: column 1 \(networks\): name every network"):
        read_instances_csv(p)
    p.write_text("f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/near.vnnlib,soon\n")
    with pytest.raises(ManifestError, match=r"i.csv:1: .*column 3 \(timeout\) must be a number, got 'soon'"):
        read_instances_csv(p, csv_timeout_wins=True)
    # a classic 'model,vnnlib' row mixed in still needs the partner template
    p.write_text("f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/near.vnnlib\nonnx/a.onnx,vnnlib/far.vnnlib\n")
    with pytest.raises(ManifestError, match="needs g = 'TEMPLATE'"):
        read_instances_csv(p)
    # a header row and comments are skipped
    p.write_text("networks,query,timeout\n# a comment\nf=onnx/a.onnx;g=onnx/b.onnx,vnnlib/near.vnnlib,5\n")
    assert [j.timeout for j in read_instances_csv(p, csv_timeout_wins=True)] == [5.0]


def test_an_unsupported_query_is_an_error_job_and_the_rest_run(tmp_path):
    _folder(tmp_path)
    text = vnnlib2_text(EpsEquivalence(0.1), BOX, n_outputs=2)
    # 'not' is outside what relucert decides: the job's reason names the construct and the line
    bad = text.replace("(assert (or", "(assert (not (or", 1)
    assert bad != text
    (tmp_path / "vnnlib" / "bad.vnnlib").write_text(bad + ")\n")
    (tmp_path / "i.csv").write_text("f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/bad.vnnlib,20\n"
                                    "f=onnx/a.onnx;g=onnx/b.onnx,vnnlib/near.vnnlib,20\n")
    db = tmp_path / "r.sqlite"
    s = run_zoo(load_manifest(tmp_path / "i.csv"), db, engine="inline")
    assert s.recorded == 2 and s.counts["ERROR"] == 1 and s.counts["EQUIVALENT"] == 1
    row = _rows(db)["a+b+bad"]
    assert row["verdict"] == "ERROR" and "bad.vnnlib" in row["reason"] and "not" in row["reason"]
    # the errored job is skipped on a re-run unless errors are redone
    assert run_zoo(load_manifest(tmp_path / "i.csv"), db, engine="inline").skipped == 2
    assert run_zoo(load_manifest(tmp_path / "i.csv"), db, engine="inline", redo=("errors",)).recorded == 1
    json.dumps(row)  # the stored row is plain data


def test_a_query_changed_after_the_manifest_was_read_is_an_error(tmp_path):
    from relucert.zoo.worker import execute_job

    csv = _folder(tmp_path)
    job = load_manifest(csv).jobs[0]
    (tmp_path / "vnnlib" / "near.vnnlib").write_text(vnnlib2_text(EpsEquivalence(0.2), BOX, n_outputs=2))
    out = execute_job(job.to_dict(), limit_memory=False)
    assert out["verdict"] == "ERROR" and "the query file changed since the manifest was read" in out["reason"]


@pytest.mark.parametrize("status, form, verdict, stop", [
    ("timeout", "eps", "UNKNOWN", "time_limit"),
    ("unknown", "eps", "UNKNOWN", "unknown"),
    ("sat", "band", "UNKNOWN", "unsupported"),   # a witness of an inverted query proves nothing
])
def test_statuses_other_than_sat_and_unsat_are_unknown(tmp_path, monkeypatch, status, form, verdict, stop):
    import relucert.vnncomp.solve as S
    from relucert.zoo.worker import execute_job

    def fake(query, models, **kw):
        assert sorted(models) == ["f", "g"] and kw["time_limit"] == 30.0
        return S.QueryOutcome(status=status, reason="engine said so", form=form,
                              x=[Fraction(0), Fraction(0)] if status == "sat" else None,
                              assignment=[] if status == "sat" else None)

    monkeypatch.setattr(S, "solve_query", fake)
    job = load_manifest(_folder(tmp_path)).jobs[0]
    out = execute_job(job.to_dict(), limit_memory=False)
    assert (out["verdict"], out["stop_reason"], out["counterexample"]) == (verdict, stop, None)
    assert out["reason"] == "engine said so" and out["stats"]["query_status"] == status
    if form == "band":
        assert "looks inverted" in out["note"]


def test_gzipped_models_as_vnncomp_ships_them(tmp_path):
    import gzip

    _folder(tmp_path)
    for n in ("a", "b"):
        src = tmp_path / "onnx" / f"{n}.onnx"
        (tmp_path / "onnx" / f"{n}.onnx.gz").write_bytes(gzip.compress(src.read_bytes()))
    (tmp_path / "gz.csv").write_text("f=onnx/a.onnx.gz;g=onnx/b.onnx.gz,vnnlib/near.vnnlib,30\n")
    m = load_manifest(tmp_path / "gz.csv")
    assert [j.name for j in m.jobs] == ["a+b+near"]
    db = tmp_path / "r.sqlite"
    assert run_zoo(m, db, engine="inline").counts["EQUIVALENT"] == 1
    assert _rows(db)["a+b+near"]["f_digest"] == relucert.load(str(tmp_path / "onnx" / "a.onnx")).digest
    assert run_zoo(load_manifest(tmp_path / "gz.csv"), db, engine="inline").skipped == 1


def test_zoo_check_lists_query_jobs(tmp_path, capsys):
    from relucert.cli import main

    csv = _folder(tmp_path)
    assert main(["zoo", "check", str(csv)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(": query " in line and "f=" in line and "g=" in line for line in out)
