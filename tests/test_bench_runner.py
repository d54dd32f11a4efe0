"""The benchmark runner: registered suites, expected verdicts, the final count line, results files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import runner  # noqa: E402


@pytest.fixture
def tiny_suite():
    import relucert
    from relucert.box import Box
    from relucert.network import Network

    f = Network.from_weights([np.array([[1.0, -1.0]]), np.array([[2.0]])], [np.zeros(1), np.zeros(1)])
    g = Network.from_weights([np.array([[1.0, -1.0]]), np.array([[2.0]])], [np.zeros(1), np.array([0.5])])
    box = Box(-np.ones(2), np.ones(2))

    def case(eps):
        def run():
            res = relucert.verify(f, g, box, relucert.EpsEquivalence(eps))
            return {"verdict": res.verdict.name, "time_s": 0.001, "lower": res.lower, "upper": res.upper}
        return run

    def build(quick, options):
        cases = [runner.Case("shift-0.6", ("EQUIVALENT",), case(0.6), group="shift"),
                 runner.Case("shift-0.4", ("NOT_EQUIVALENT",), case(0.4), group="shift")]
        if not quick:
            # a deliberately wrong expectation and a crashing case: both must count as unexpected
            cases.append(runner.Case("shift-0.4-wrong", ("EQUIVALENT",), case(0.4), group="shift"))
            cases.append(runner.Case("crash", ("EQUIVALENT",), lambda: 1 / 0, group="other"))
        return cases

    runner.load_suites()
    saved = dict(runner.SUITES)
    runner.register_suite("tiny", "two shifted copies of a 2-1-1 net")(build)
    yield "tiny"
    runner.SUITES.clear()
    runner.SUITES.update(saved)


def test_quick_run_counts_and_writes_results(tiny_suite, tmp_path):
    lines = []
    res = runner.run([tiny_suite], quick=True, results_dir=tmp_path, results_md=tmp_path / "RESULTS.md",
                     out=lines.append)
    assert (res["cases"], res["expected"], res["unexpected"]) == (2, 2, 0)
    assert lines[-1] == "2 cases, 2 as expected, 0 unexpected"
    data = json.loads((tmp_path / "tiny-quick.json").read_text())
    assert [r["verdict"] for r in data["records"]] == ["EQUIVALENT", "NOT_EQUIVALENT"]
    assert data["machine"]["cores"] and data["command"].endswith("--suite tiny --quick")
    md = (tmp_path / "RESULTS.md").read_text()
    assert "## tiny (quick)" in md and "2 cases, 2 as expected, 0 unexpected" in md
    assert "| shift | 2 | 2 |" in md


def test_mismatch_and_crash_are_unexpected(tiny_suite, tmp_path):
    lines = []
    res = runner.run([tiny_suite], quick=False, write=False, out=lines.append)
    assert lines[-1] == "4 cases, 2 as expected, 2 unexpected"
    bad = [r for r in res["records"] if not r["as_expected"]]
    assert {r["name"] for r in bad} == {"shift-0.4-wrong", "crash"}
    assert [r["verdict"] for r in bad if r["name"] == "crash"] == ["ERROR"]
    assert not list(tmp_path.iterdir())        # write=False touches nothing


def test_unknown_suite_is_a_clear_error(tiny_suite):
    with pytest.raises(KeyError, match="unknown suite 'nope'"):
        runner.run(["nope"], write=False, out=lambda s: None)


def test_registered_suites_include_the_real_network_ones():
    suites = runner.load_suites()
    assert {"acas", "acas-0.01", "acas-all", "acas-all-0.01", "noisy", "mnist"} <= set(suites)


def test_cli_list_and_usage_errors(capsys):
    from relucert.cli import main

    assert main(["bench", "list"]) == 0
    assert "acas" in capsys.readouterr().out
    assert main(["bench", "run", "--suite", "nope", "--no-write"]) == 2
    assert main(["bench", "run", "--time-limit", "-1", "--no-write"]) == 2
    capsys.readouterr()
    assert main(["bench", "run", "--workers", "0", "--no-write"]) == 2
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err
    assert main(["bench", "run", "--workers", "2", "--clock", "cpu", "--no-write"]) == 2
    assert "--workers > 1 needs --clock wall" in capsys.readouterr().err


def test_cli_runs_the_noisy_suite(capsys):
    from relucert.cli import main

    assert main(["bench", "run", "--suite", "noisy", "--no-write"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "2 cases, 2 as expected, 0 unexpected"


def test_case_filter_runs_a_subset_into_its_own_file(tiny_suite, tmp_path):
    lines = []
    res = runner.run([tiny_suite], quick=False, only=["wrong"], results_dir=tmp_path,
                     results_md=tmp_path / "RESULTS.md", out=lines.append)
    assert res["cases"] == 1 and lines[-1] == "1 cases, 0 as expected, 1 unexpected"
    assert (tmp_path / "tiny-subset.json").exists() and not (tmp_path / "tiny.json").exists()
    assert "subset: cases matching wrong" in (tmp_path / "RESULTS.md").read_text()


def test_report_renders_every_results_file_without_running_anything(tiny_suite, tmp_path):
    runner.run([tiny_suite], quick=True, results_dir=tmp_path, results_md=tmp_path / "first.md", out=lambda s: None)
    # from now on the suite cannot run: the report must not try
    runner.SUITES["tiny"].build = lambda quick, options: 1 / 0
    runner.SUITES["tiny"].headline = lambda recs, data: [f"HEADLINE {len(recs)} records"]
    # a second results file, a full run by hand, with one unexpected case
    data = json.loads((tmp_path / "tiny-quick.json").read_text())
    data.update(quick=False, command="relucert bench run --suite tiny")
    data["records"][0]["as_expected"] = False
    (tmp_path / "tiny.json").write_text(json.dumps(data))
    out = tmp_path / "R.md"
    assert runner.main(["report", "--results-dir", str(tmp_path), "--output", str(out)]) == 0
    md = out.read_text()
    assert "## Summary of the runs" in md and "python -m benchmarks report" in md
    summary = md[md.index("## Summary of the runs"):md.index("\n## tiny: ")]
    # the full run's row: 2 cases, 1 as expected (bold), its command; its headline follows
    assert "(`results/tiny.json`) | 2 | **1** |" in summary and "`relucert bench run --suite tiny` |" in summary
    assert "HEADLINE 2 records" in summary
    # the quick run is listed apart, in its own table, and both get their full sections
    assert "quick and subset runs" in summary and "(`results/tiny-quick.json`) | 2 | 2 |" in summary
    assert "## tiny (quick): " in md and "2 cases, 1 as expected, 1 unexpected" in md
