"""The benchmark suites: registered, and every quick case reaches its expected verdict (the CI form of
``relucert bench run --quick``; the ``compare`` suite's tools are tested in test_bench_compare.py and
the ``table`` suite in test_bench_table.py)."""

from __future__ import annotations

import pytest

from benchmarks import runner

QUICK_SUITES = ["regression", "classification", "negative", "claims", "scaling", "noisy", "mnist",
                "acas", "acas-0.01", "acas-all", "acas-all-0.01"]


def test_papers_suites_are_registered():
    suites = runner.load_suites()
    for name in QUICK_SUITES + ["compare"]:
        assert name in suites


@pytest.mark.slow
@pytest.mark.parametrize("suite", QUICK_SUITES)
def test_quick_cases_as_expected(suite):
    runner.load_suites()
    lines = []
    out = runner.run([suite], quick=True, write=False, out=lines.append)
    assert out["cases"] >= 2 and out["unexpected"] == 0, lines
    assert f"{out['cases']} cases, {out['cases']} as expected, 0 unexpected" in "\n".join(map(str, lines))


def test_full_suites_cover_3_to_6_dims_top1_and_the_known_bad_sups():
    runner.load_suites()
    names = [c.name for c in runner.SUITES["classification"].build(False, {})]
    assert {n.split()[1][0] for n in names if n.startswith("demorgan-") and "seed" in n} >= {"2", "3", "4", "5", "6"}
    assert sum(n.startswith("top1 ") for n in names) >= 15
    neg = [c.name for c in runner.SUITES["negative"].build(False, {})]
    assert any("fan-simplex-deep-sup" in n for n in neg) and any("vardi-approx-sup" in n for n in neg)
