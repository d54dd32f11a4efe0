"""The zoo results store: durable per-job transactions, kill -9 of the runner, the ACAS manifest."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import relucert
from relucert import Network
from relucert.zoo import ResultStore, StoreError, load_manifest

ROOT = Path(__file__).resolve().parents[1]
ACAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "acas-neurodiff"


def _acas_manifest(d: Path, *, select: str, timeout: float, limit: int | None = None) -> Path:
    if not (ACAS / "instances.csv").is_file():
        pytest.fail(f"the shared ACAS data is missing at {ACAS}")
    p = d / "acas.toml"
    p.write_text(textwrap.dedent(f"""
        [defaults]
        timeout = {timeout}
        memory_limit = "3GiB"
        [[instances]]
        csv = "{ACAS / 'instances.csv'}"
        search = ["{ACAS / 'nnet'}", "{ACAS / 'compressed_nnets'}"]
        select = "{select}"
        """) + (f"limit = {limit}\n" if limit else ""))
    return p


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(manifest: Path, db: Path, workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "relucert", "zoo", "run", str(manifest), "--db", str(db),
                             "--workers", str(workers), "--progress", "lines"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))


def _kill_after(proc: subprocess.Popen, n_lines: int, limit_s: float = 60.0) -> tuple[list[str], list[int]]:
    """Read progress lines until ``n_lines`` results were reported, then SIGKILL the runner.
    Returns the job names it reported as recorded, and its worker pids at the time."""
    names: list[str] = []
    t0 = time.monotonic()
    while len(names) < n_lines and time.monotonic() - t0 < limit_s:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("["):
            names.append(line.split()[1])
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return names, workers


def _snapshot(db: Path) -> dict:
    with ResultStore(db, create=False) as s:
        assert s.integrity_ok()
        return {r["name"]: (r["job_key"], r["verdict"], r["finished_at"], r["run_id"], r["upper"])
                for r in s.results(latest_per_name=False)}


def test_kill_9_of_the_runner_loses_no_result_and_rerun_finishes_acas(tmp_path):
    """The ACAS manifest (a slice of instances.csv), the runner killed twice with SIGKILL mid-run:
    every result it had reported is in the store, the store is intact, workers exit, and re-runs
    finish the rest without repeating a job."""
    manifest = _acas_manifest(tmp_path, select="acas-0.05-*", timeout=0.1, limit=8)
    n = len(load_manifest(manifest).jobs)
    assert n == 8
    db = tmp_path / "acas.sqlite"
    seen: dict = {}
    for kill_at in (2, 3):
        proc = _start(manifest, db)
        reported, workers = _kill_after(proc, kill_at)
        assert len(reported) == kill_at
        snap = _snapshot(db)
        assert set(reported) <= set(snap)                 # reported => committed
        for name, row in seen.items():                    # nothing earlier lost or redone
            assert snap[name] == row
        assert not (set(reported) & set(seen))            # done jobs were skipped, not repeated
        seen = snap
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "workers outlived the killed runner"
    assert 5 <= len(seen) < n
    proc = _start(manifest, db)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    final = _snapshot(db)
    assert len(final) == n                                # one row per job: no duplicates
    for name, row in seen.items():
        assert final[name] == row
    assert f"{len(seen)} job(s) already done in the store, skipped" in err
    with ResultStore(db, create=False) as s:
        rows = s.results()
        runs = s.runs()
    assert {r["verdict"] for r in rows} <= {"EQUIVALENT", "NOT_EQUIVALENT", "UNKNOWN"}
    assert all(r["f_digest"] and r["g_digest"] and r["spec"]["outputs"] in ([0], [1], [3], [4]) for r in rows)
    assert [r["status"] for r in runs] == ["running", "running", "finished"]  # killed runs never closed


def test_sigterm_marks_the_run_interrupted_and_exits_3(tmp_path):
    manifest = _acas_manifest(tmp_path, select="acas-0.01-*", timeout=0.2, limit=6)
    db = tmp_path / "acas.sqlite"
    proc = _start(manifest, db, workers=1)
    names = []
    while len(names) < 1:
        line = proc.stderr.readline()
        assert line, "runner ended early"
        if line.startswith("["):
            names.append(line.split()[1])
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "interrupted" in err
    with ResultStore(db, create=False) as s:
        assert s.runs()[-1]["status"] == "interrupted"
        stored = {r["name"] for r in s.results()}
    # the job reported done before the signal is stored; the interrupted run left the rest undone
    assert names[0] in stored and len(stored) < 6
    assert not any(_alive(w) for w in workers)


@pytest.mark.slow
def test_full_acas_set_runs_as_one_manifest(tmp_path):
    """All 286 ACAS instances in one manifest, with a 0.05 s limit each (answers are UNKNOWN or
    better; this checks the plumbing on the real set, not the verifier's strength)."""
    manifest = _acas_manifest(tmp_path, select="acas-*", timeout=0.05)
    db = tmp_path / "acas.sqlite"
    proc = _start(manifest, db)
    reported, _ = _kill_after(proc, 100, limit_s=300.0)   # a loaded machine may need minutes
    assert len(reported) == 100
    proc = _start(manifest, db)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    final = _snapshot(db)
    assert len(final) == 286
    with ResultStore(db, create=False) as s:
        assert sum(r["recorded"] for r in s.runs()) == 286  # no job ran twice


def test_store_refuses_foreign_files(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database")
    with pytest.raises(StoreError, match="not an SQLite database"):
        ResultStore(bad)
    assert bad.read_text() == "not a database"
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a relucert zoo store"):
        ResultStore(other)
    with pytest.raises(StoreError, match="no such results database"):
        ResultStore(tmp_path / "missing.sqlite", create=False)
    with ResultStore(tmp_path / "new.sqlite") as s:
        assert s.wal and s.integrity_ok() and s.results() == []


@pytest.mark.slow
def test_kill_9_at_random_moments_never_corrupts_the_store(tmp_path):
    """Many quick jobs (a commit every few milliseconds), the runner SIGKILLed at random moments
    (during start-up, dispatch or a commit): the store stays intact, reported results are kept,
    and a final run completes every job exactly once."""
    import random

    f = Network.random([3, 8, 2], seed=1)
    relucert.save(f, tmp_path / "f.npz")
    relucert.save(Network.from_weights([w * 1.5 for w in f.weights], f.biases), tmp_path / "g.npz")
    n = 120
    jobs = "".join(f'[[job]]\nname = "j{i:02d}"\nf = "f.npz"\ng = "g.npz"\neps = {0.005 * (i + 1)}\n'
                   for i in range(n))
    manifest = tmp_path / "zoo.toml"
    manifest.write_text('[defaults]\nbox = "-1:1"\ntimeout = 10\n' + jobs)
    db = tmp_path / "zoo.sqlite"
    rng = random.Random(7)
    kept: dict = {}
    midrun = 0                                     # kills that left the run unfinished
    for _ in range(12):
        if len(kept) >= n - 5 or midrun >= 4:
            break
        proc = _start(manifest, db)
        first = ""
        while not first.startswith("["):           # wait for the first result of this run
            first = proc.stderr.readline()
            assert first, "the runner ended before reporting a result"
        time.sleep(rng.uniform(0.0, 0.05))         # then kill it at a random moment
        finished_first = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
        reported = [ln.split()[1] for ln in (first + err).splitlines() if ln.startswith("[")]
        snap = _snapshot(db)                       # integrity_check passes
        assert set(reported) <= set(snap)
        for name, row in kept.items():
            assert snap[name] == row
        kept = snap
        midrun += not finished_first and len(snap) < n
    assert midrun >= 2, f"only {midrun} kills landed mid-run"
    proc = _start(manifest, db)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    final = _snapshot(db)
    assert len(final) == n and all(final[k] == v for k, v in kept.items())
    with ResultStore(db, create=False) as s:
        assert sum(r["recorded"] for r in s.runs()) == n   # no job recorded twice
        assert {r["verdict"] for r in s.results()} <= {"EQUIVALENT", "NOT_EQUIVALENT"}


def test_a_second_runner_on_the_same_store_is_refused(tmp_path):
    from relucert.zoo.runner import _RunLock

    db = tmp_path / "zoo.sqlite"
    with _RunLock(db):
        with pytest.raises(StoreError, match=rf"another zoo run \(pid {os.getpid()}\) is using this results database"):
            with _RunLock(db):
                pass
    with _RunLock(db):  # released on exit
        pass
