"""The papers' benchmark suites: registered, and their quick cases reach the expected verdicts."""

from __future__ import annotations

from benchmarks import runner


def test_papers_suites_are_registered():
    suites = runner.load_suites()
    for name in ("regression", "classification", "negative", "claims"):
        assert name in suites


def test_quick_claims_and_regression_cases_as_expected():
    runner.load_suites()
    lines = []
    out = runner.run(["claims", "regression"], quick=True, write=False, out=lines.append)
    assert out["cases"] >= 16 and out["unexpected"] == 0, lines
    assert any("10 cases" in str(l) or "cases," in str(l) for l in lines)
