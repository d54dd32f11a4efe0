"""The zoo on a Dask cluster (optional extra ``dask[distributed]``): a local cluster on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relucert.cli import main
from relucert.zoo import ResultStore, run_zoo
from zoo_fixtures import write_manifest

distributed = pytest.importorskip("distributed", reason="optional extra dask[distributed] is not installed")


def _manifest(d: Path) -> Path:
    return write_manifest(d, """
        [[job]]
        name = "crash"
        f = "f.npz"
        g = "far.npz"
        fault = "crash"
        """)


@pytest.fixture
def cluster():
    c = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                 host="127.0.0.1", dashboard_address=None)
    try:
        yield c
    finally:
        c.close()


def test_dask_executor_and_cli_engine(tmp_path, cluster, monkeypatch, capsys):
    monkeypatch.setenv("RELUCERT_ZOO_TEST_FAULTS", "1")
    p = _manifest(tmp_path)
    db = tmp_path / "r.sqlite"
    with distributed.Client(cluster) as client:
        s = run_zoo(p, db, executor=client.get_executor(pure=False))
    assert s.exit_code == 0 and s.recorded == 3
    with ResultStore(db, create=False) as st:
        rows = {r["name"]: r for r in st.results()}
        assert st.runs()[-1]["engine"] == "executor"
    assert rows["eq"]["verdict"] == "EQUIVALENT" and rows["neq"]["verdict"] == "NOT_EQUIVALENT"
    assert rows["crash"]["verdict"] == "ERROR" and "SIGABRT" in rows["crash"]["reason"]
    # the same jobs through the command line; everything is already done
    db2 = tmp_path / "r2.sqlite"
    code = main(["zoo", "run", str(p), "--db", str(db2), "--engine", "dask", "--scheduler",
                 cluster.scheduler_address, "--json", "--progress", "none"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recorded"] == 3 and out["counts"]["ERROR"] == 1
    assert main(["zoo", "run", str(p), "--db", str(db2), "--engine", "dask", "--scheduler",
                 cluster.scheduler_address, "--json", "--progress", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 3
    with ResultStore(db2, create=False) as st:
        assert [r["engine"] for r in st.runs()] == ["dask", "dask"]
