"""The hostile-input corpus (tests/data/hostile): every file gets its clear error, in bounded time
and memory, and the corpus is reproducible from its generator.

All files are read in ONE child process with an address-space limit (RLIMIT_AS) and a CPU
limit, so a reader that allocates without bound or loops dies there (and the test fails) instead
of taking the test run down.  Each reading must also finish within PER_FILE_S seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "data" / "hostile"
MEMORY_LIMIT = 3 * 2**30     # address space of the child (numpy/onnx/BLAS reserve ~1 GiB virtual)
PER_FILE_S = 10.0

_spec = importlib.util.spec_from_file_location("hostile_corpus", CORPUS / "make_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

_CHILD = textwrap.dedent("""
    import json, os, resource, sys, time, traceback, warnings
    resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
    resource.setrlimit(resource.RLIMIT_CPU, (240, 240))
    warnings.simplefilter("ignore")
    os.environ.pop("RELUCERT_ZOO_TEST_FAULTS", None)
    import relucert.io, relucert.zoo, relucert.check
    readers = {{"model": relucert.io.load, "manifest": relucert.zoo.load_manifest,
               "certificate": relucert.check.check_certificate}}
    out = {{}}
    for name, reader in json.loads(sys.argv[1]):
        t0 = time.perf_counter()
        try:
            readers[reader](os.path.join({corpus!r}, name))
            rec = {{"error": None, "message": "", "mro": []}}
        except BaseException as exc:  # noqa: BLE001 - MemoryError, RecursionError: all recorded
            rec = {{"error": type(exc).__name__, "message": str(exc),
                   "mro": [c.__name__ for c in type(exc).__mro__],
                   "where": traceback.format_exc().splitlines()[-3:]}}
        rec["seconds"] = time.perf_counter() - t0
        rec["pickle_ran"] = os.path.exists("HOSTILE_PICKLE_RAN")
        out[name] = rec
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("hostile")
    jobs = [(name, reader) for name, (reader, _, _) in corpus.CASES.items()]
    code = _CHILD.format(mem=MEMORY_LIMIT, corpus=str(CORPUS))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)], cwd=cwd, capture_output=True,
                          text=True, timeout=400, env={k: v for k, v in os.environ.items()
                                                       if k != "RELUCERT_ZOO_TEST_FAULTS"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_corpus_is_reproducible_and_small():
    """The committed files are exactly what the generator writes, and the corpus stays small."""
    files = corpus.build()
    differ = [n for n, d in files.items() if (CORPUS / n).read_bytes() != d]
    assert not differ, f"run python {CORPUS / 'make_corpus.py'}: {differ}"
    assert sum(len(d) for d in files.values()) < 1_000_000


#: files whose reader belongs to another engineer and still fails (see the report of issue 9)
def _params():
    return sorted(corpus.CASES)


@pytest.mark.parametrize("name", list(_params()))
def test_hostile_file_gets_its_error(outcomes, name):
    _, want, pattern = corpus.CASES[name]
    got = outcomes[name]
    assert got["seconds"] < PER_FILE_S, f"{name} took {got['seconds']:.1f} s"
    assert not got["pickle_ran"], f"{name}: a pickle was executed"
    if want is None:
        assert got["error"] is None, f"{name} should load: {got}"
        return
    assert got["error"] == want, f"{name}: expected {want}, got {got}"
    assert "RelucertError" in got["mro"], got
    msg = got["message"]
    assert "\n" not in msg and len(msg) < 1000, msg
    assert re.search(pattern, msg), f"{name}: {msg!r} does not match {pattern!r}"
    # every message names the file it is about (certificates name the field instead)
    if corpus.CASES[name][0] != "certificate" or "JSON" in msg:
        assert Path(name).name in msg, msg


def test_pickle_canary_really_runs_when_unpickled(tmp_path, monkeypatch):
    """The pickled corpus file is a live canary: unpickling it (what read_npz must never do)
    creates the marker, so the assertion above can fail."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    with np.load(CORPUS / "npz" / "pickled_object.npz", allow_pickle=True) as z:
        z["W0"]
    assert (tmp_path / "HOSTILE_PICKLE_RAN").exists()
